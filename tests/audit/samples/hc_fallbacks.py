import os


class Options:
    def __init__(self, bind=None):
        self.bind = bind


def bind_address(args):
    return args.bind or "localhost"


def server_name(environ):
    return environ.get("SERVER_NAME", "127.0.0.1")


def parse_bind(netloc, default_port):
    if netloc == "":
        return "0.0.0.0", default_port
    host, port = netloc, default_port
    if not host:
        host = "0.0.0.0"
    return host, port


def unix_uri(uri=None, ssl=None):
    if uri is None:
        if ssl is None:
            uri = "ws://localhost/"
        else:
            uri = "wss://localhost/"
    return uri


def upstream(args):
    return args.upstream or "api.example-corp.com"  # expect: AUD102


def cache_host():
    return os.environ.get("CACHE_HOST", "localhost")  # expect: AUD101


def tune(config, measured):
    if measured > 100:
        config["threads"]["upload"] = 8  # expect: AUD104
    config["threads"]["label"] = "upload"
    config.verbose = 2


class Collector:
    def __init__(self, cache_timeout=60, retry_delay=5):  # expect: AUD108
        self.cache_timeout = cache_timeout
        self.retry_delay = retry_delay


def connect(host, timeout=10):
    return host, timeout


collector = Collector(retry_delay=2)  # expect: AUD104
connection = connect("db", 3)


def client_label(channel):
    if channel.addr:
        host = channel.addr[0]
    else:
        host = "localhost"
    return host
