import socket


async def request(client, subject, payload):
    sub = await client.subscribe(client.new_inbox(), max_msgs=1)
    # One reply ends a request: a limit of one is its meaning, not a setting.
    await sub.unsubscribe(limit=1)
    await sub.unsubscribe(limit=100)  # expect: AUD104
    return await client.publish(subject, payload)


def source_address(af, source_ip, source_port):
    bind_ip = source_ip
    if source_port and not source_ip:
        # A port was asked for with no address: the loopback of the family.
        bind_ip = "::1" if af == socket.AF_INET6 else "127.0.0.1"
    if source_port and source_ip:
        bind_ip = "127.0.0.1"  # expect: AUD102
    return bind_ip, source_port


class Request:
    def __init__(self, family, address):
        if family in (socket.AF_INET, socket.AF_INET6) and address is not None:
            self.remote_ip = address[0]
        else:
            # A Unix socket's peer has no address.
            self.remote_ip = "0.0.0.0"
