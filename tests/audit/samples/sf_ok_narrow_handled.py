def lookup(mapping, key, default):
    try:
        return mapping[key]
    except KeyError:
        return default


def to_int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
