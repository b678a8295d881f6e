def fetch(cache, key):
    try:
        return cache[key]
    except BaseException:  # expect: AUD002
        return None


def fetch_bare_return(cache, key):
    try:
        cache.pop(key)
    except Exception as exc:  # expect: AUD002
        return
