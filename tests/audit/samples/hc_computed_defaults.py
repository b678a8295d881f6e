import asyncio
import os

LIMIT = int(os.getenv("SOME_LIMIT", "10"))


def limits():
    return os.getenv("SOME_LIMIT", str(LIMIT * 2))  # expect: AUD107


def path_entries():
    return os.environ.get("PATH", "").split(os.pathsep)


def _fetch(client, timeout=30):  # expect: AUD108
    return client.get("/x", timeout=timeout)


def fetch(client, timeout=30):
    return _fetch(client, timeout)


def fetch_quickly(client):
    return _fetch(client)


async def try_acquire(semaphore):
    await asyncio.wait_for(semaphore.acquire(), timeout=0.001)


class Server:
    host = "localhost"
    port = 8080
    api_key = "sk-your_key_here"


def auth_enabled():
    return os.getenv("AUTH_ENABLED", "false")  # expect: AUD101
