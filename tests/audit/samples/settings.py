import os

DEBUG = os.environ.get("DEBUG", "0") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
REDIS_URL = "redis://localhost:6379/0"
CALL_TIMEOUT = 30
DB_PORT = 5432
LOG_DIR = "/var/log/controlplane"
SECRET_KEY = "django-insecure-9f8a7s6d5f4g3h2j1k0l"  # expect: AUD105 masked: djan… (36 chars)
