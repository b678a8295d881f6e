from concurrent.futures import ThreadPoolExecutor


def pool(session, fetch):
    executor = ThreadPoolExecutor(max_workers=8)  # expect: AUD104
    session.mount(max_retries=3)  # expect: AUD104
    return executor, fetch(batch_size=500, read_timeout=2.5)  # expect: AUD104, AUD104
