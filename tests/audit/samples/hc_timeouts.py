import asyncio
import time

import requests


def get(url):
    return requests.get(url, timeout=30)  # expect: AUD104


async def call(coro):
    return await asyncio.wait_for(coro, 30)  # expect: AUD104


def backoff():
    time.sleep(5)  # expect: AUD104


async def pause():
    await asyncio.sleep(0.5)
