def parse(text):
    try:
        return int(text)
    except Exception:  # expect: AUD002
        pass
    return 0
