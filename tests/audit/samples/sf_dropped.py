import asyncio


class Hub:
    def __init__(self):
        self.tasks = set()

    async def start(self, worker):
        asyncio.create_task(worker())  # expect: AUD008
        task = asyncio.create_task(worker())
        self.tasks.add(task)

    async def stop(self, tasks):
        await asyncio.gather(*tasks, return_exceptions=True)  # expect: AUD011
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [r for r in results if isinstance(r, Exception)]

    def _safe_send(self, client, frame):
        try:
            client.send(frame)
        except ConnectionError:
            return False
        return True

    def deliver(self, client, frame):
        self._safe_send(client, frame)  # expect: AUD009
        if not self._safe_send(client, frame):
            self.tasks.clear()


class Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True  # expect: AUD010


class Files:
    def _delete(self, name, os):
        try:
            os.remove(name)
        except FileNotFoundError:
            return False
        return True

    def cull(self, names, os):
        for name in names:
            self._delete(name, os)


async def drain(tasks, asyncio):
    results = await asyncio.gather(*tasks, return_exceptions=True)  # expect: AUD011
    asyncio.ensure_future(tasks[0])  # expect: AUD008
    return len(tasks)


class AsyncQuiet:
    async def __aexit__(self, *exc):
        return True  # expect: AUD010
