def pick(settings, ports):
    port = settings.PORT
    first = ports[0]
    count = len(ports) + 1
    return port, first, count
