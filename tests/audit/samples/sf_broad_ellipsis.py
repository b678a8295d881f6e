def close(handle):
    try:
        handle.close()
    except Exception:  # expect: AUD002
        ...
