import httpx


def client():
    return httpx.Client(base_url="https://api.openai.com/v1")  # expect: AUD102


BIND = "0.0.0.0"  # expect: AUD102
UPSTREAM = "10.0.3.17:8080"  # expect: AUD102


def redis():
    return "redis://cache.internal:6379/1"  # expect: AUD102
