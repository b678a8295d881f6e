import socket


def bind():
    sock = socket.socket()
    sock.bind(("0.0.0.0", 8080))  # expect: AUD102  miss: AUD103
    return sock


def is_local(host):
    return host == "localhost"
