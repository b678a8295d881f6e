def decode(blob):
    try:
        return blob.decode()
    except (ValueError, Exception):  # expect: AUD002
        pass
