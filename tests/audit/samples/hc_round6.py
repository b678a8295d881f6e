import socket
import sys
import time

MDNS_GROUP = "224.0.0.251"


def join_mdns(sock):
    sock.connect(("224.0.0.251", 5300))


def send_to_collector(sock):
    sock.connect(("239.1.2.3", 5300))  # expect: AUD102


def parse_port(text):
    parts = text.split(":", 1)
    if len(parts) == 2:
        port = int(parts[1])
    else:
        port = 6667
    return parts[0], port


def fixed_port():
    port = 6667  # expect: AUD103
    return port


def listen_with_retries(subscribe):
    retry_sleep = 1
    while True:
        try:
            return subscribe()
        except OSError as exc:
            print(f"cannot subscribe: {exc}", file=sys.stderr)
            time.sleep(retry_sleep)
            retry_sleep *= 2
            if retry_sleep > 60:
                retry_sleep = 60  # expect: AUD104


def count_attempts(subscribe):
    attempts = 0
    while attempts < 3:
        attempts += 1
        if attempts > 2:
            attempts = 2
    return socket.gethostname(), subscribe


async def consume(channel):
    await channel.set_qos(prefetch_count=1)  # expect: AUD104
    await channel.set_qos(prefetch_count=settings_prefetch())


def settings_prefetch():
    return int(socket.gethostname() == "") + 1


def broker_connection(connect):
    # A stock account is not a secret; the address is still fixed in code.
    return connect("amqp://guest:guest@localhost:5672//")  # expect: AUD102


class Manager:
    def __init__(self, url="amqp://guest:guest@localhost:5672//"):
        self.url = url
