import asyncio


async def tick(config, coro):
    await asyncio.sleep(0)
    await asyncio.wait_for(coro, config.call_timeout)
    return await asyncio.wait_for(coro, timeout=None)


def fields(models):
    return models.CharField(max_length=200)
