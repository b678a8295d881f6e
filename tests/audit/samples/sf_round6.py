import threading


class DisconnectedError(Exception):
    pass


class SendError(Exception):
    pass


class Client:
    def __init__(self, transport):
        self.transport = transport
        self.connected = True
        self.connected_event = threading.Event()

    def emit(self, event):
        while True:
            self.connected_event.wait()
            if not self.connected:
                raise DisconnectedError()
            try:
                return self.transport.emit(event)
            except SendError:
                pass


class Retrier:
    def __init__(self, transport):
        self.transport = transport
        self.connected_event = threading.Event()

    def emit(self, event):
        while True:
            self.connected_event.wait()
            try:
                return self.transport.emit(event)
            # expect-next: AUD007
            except SendError:
                pass
