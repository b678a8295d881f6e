MDNS_PORT = 5353  # expect: AUD103


def listen(sock):
    sock.bind(("", MDNS_PORT))
