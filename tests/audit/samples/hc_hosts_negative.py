"""Docs live at https://docs.example.org/guide, see there."""

import logging

logger = logging.getLogger(__name__)
NAMESPACE = "http://www.w3.org/2000/svg"
VERSION = "1.2.3"


def describe(url):
    logger.info("fetching %s from https://status page", url)
    return f"{url}/health"


def error():
    raise ValueError("see https://docs.python.org/3/ for details")


def templates(host, port, path):
    plain = "http://%s:%s" % (host, port)
    secure = "https://{}/{}".format(host, path)
    return plain, secure
