import os

DEFAULT_TIMEOUT = float(os.getenv("TIMEOUT", "30"))
UPSTREAM = "https://api.example.com"


def load(client):
    return client.get("https://api.example.com/config", timeout=10)  # expect: AUD102, AUD104


class Defaults:
    HOSTS = ("127.0.0.1", "localhost")
    HEALTH_PORT = 8081
    base = "https://status.acme.io"
