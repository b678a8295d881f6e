import socket


def self_pipe():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    host, port = listener.getsockname()
    near = socket.socket()
    near.connect(("127.0.0.1", port))
    return near, listener.accept()[0]


def reach_broker(port):
    sock = socket.socket()
    sock.connect(("127.0.0.1", port))  # expect: AUD102
    return sock


class Client:
    def __init__(self):
        self._host = ""
        self._port = 1883
        self._admin_port = 8081  # expect: AUD103

    def connect(self, host, port):
        self._host = host
        self._port = port

    def loop_forever(self, timeout):
        while True:
            self._loop(timeout)

    def loop(self, timeout):
        return self._loop(timeout=timeout)

    def _loop(self, timeout=1.0):
        return self._select(timeout)

    def drain(self):
        return self._wait()

    def _wait(self, timeout=5.0):  # expect: AUD108
        return self._select(timeout)
