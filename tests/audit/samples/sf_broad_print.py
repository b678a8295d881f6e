def ping(host):
    try:
        host.ping()
    except Exception:  # expect: AUD003
        print("ping failed")
        return False
    return True
