MAX_RETRIES = 5
HEALTH_URL = "http://127.0.0.1:8000/health/"
CACHE_PATH = "/var/cache/agent"
