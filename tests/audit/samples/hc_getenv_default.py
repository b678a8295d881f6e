import os
from os import getenv


def connect():
    host = os.getenv("DB_HOST", "db")  # expect: AUD101
    level = os.environ.get("LOG_LEVEL", "INFO")  # expect: AUD101
    retries = getenv("RETRIES", 3)  # expect: AUD101
    return host, level, retries
