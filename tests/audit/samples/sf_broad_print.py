def ping(host):
    try:
        host.ping()
    except Exception:
        print("ping failed")
        return False
    return True
