import os
import select


def temp_prefix():
    return os.getenv("TMP", "/tmp") + "/report-"


def syslog_address(addr):
    if ":" in addr:
        host, _, port = addr.partition(":")
        port = int(port)
    else:
        host = addr
        port = 514
    return host, port


def statsd_port():
    port = 9125  # expect: AUD103
    return port


def find_moduli(filename=None):
    candidates = ["/etc/ssh/moduli", "/usr/local/etc/moduli"]
    if filename is not None:
        candidates.insert(0, filename)
    return [path for path in candidates if os.path.exists(path)]


def spool_dir():
    return "/var/spool/reports"  # expect: AUD106


def read_banner(stream, first_timeout):
    lines = []
    for index in range(20):
        if index == 0:
            timeout = first_timeout
        else:
            timeout = 2  # expect: AUD104
        lines.append(stream.readline(timeout))
    return lines


def drain(stream, poller):
    timeout = 1
    chunk_size = 4096
    while True:
        if not poller.poll(timeout):
            return
        stream.read(chunk_size)


def close_later(transport, timeout=None):
    if timeout is None:
        timeout = 10
    transport.close(timeout)


def parse_timeout(value):
    try:
        timeout = int(value)
    except ValueError:
        timeout = 300
    return timeout
