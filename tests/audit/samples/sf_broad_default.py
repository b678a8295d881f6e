def price(item):
    try:
        value = item.compute_price()
    except Exception:  # expect: AUD003
        value = 0
    return value


def names(rows):
    try:
        return [row.name for row in rows]
    except Exception:  # expect: AUD003
        return []
