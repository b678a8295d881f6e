def dev_server(run):
    run(host="localhost", port=8000)  # expect: AUD102, AUD103


def websocket_url(path):
    return f"ws://127.0.0.1:8765/{path}"  # expect: AUD102
