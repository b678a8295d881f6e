import os
import socket
import struct
from typing import Literal

# The defaults of the endpoint options, declared once.
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_HOST = "localhost"
BROKER_ENDPOINT = "tcp://10.0.0.5:5555"  # expect: AUD102


def connect(endpoint=None):
    return endpoint or DEFAULT_ENDPOINT


def get_localhost() -> Literal["::1", "127.0.0.1"]:
    if not socket_has_ipv6():
        return "127.0.0.1"
    return "::1"


def metrics_host() -> str:
    return "127.0.0.1"  # expect: AUD102


def socket_has_ipv6() -> bool:
    return False


class Controller:
    def __init__(self, ready_timeout: float = 5.0):
        self.ready_timeout = float(os.getenv("APP_READY_TIMEOUT", ready_timeout))
        self.retries = int(os.getenv("APP_RETRIES", str(3 * 2)))  # expect: AUD107


def multicast_receiver(group, port):
    any_addr = "0.0.0.0"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.bind((any_addr, port))
    membership = struct.pack("4sl", socket.inet_aton(group), socket.INADDR_ANY)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    return sock


def unicast_receiver(port):
    any_addr = "0.0.0.0"  # expect: AUD102
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((any_addr, port))
    return sock
