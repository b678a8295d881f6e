def url(scheme, host, port):
    return f"{scheme}://{host}:{port}/"


def ws(host):
    return f"ws://{host}/ws/"
