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


class AddressError(ValueError):
    pass


def parse_address(text, v4, v6):
    try:
        return v4(text)
    except AddressError:
        pass

    try:
        return v6(text)
    except AddressError:
        return None


def parse_first_address(text, v4):
    try:
        return v4(text)
    # expect-next: AUD007
    except AddressError:
        pass
    return text.strip()


def send_until_closed(stream, data, closed):
    while True:
        if closed.is_set():
            raise DisconnectedError()
        try:
            return stream.send(data)
        # expect-next: AUD002
        except Exception:
            pass
