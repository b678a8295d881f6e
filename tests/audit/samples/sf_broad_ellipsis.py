def reload(handle):
    try:
        handle.reload()
    except Exception:  # expect: AUD002
        ...
