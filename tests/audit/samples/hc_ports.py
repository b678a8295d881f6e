import socket


def serve(app):
    app.run(port=5000)  # expect: AUD103


def listen():
    sock = socket.socket()
    metrics_port = 9100  # expect: AUD103
    sock.bind(("", metrics_port))
    return sock
