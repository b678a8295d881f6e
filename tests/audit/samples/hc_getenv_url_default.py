import os

redis_url = os.environ.get(  # expect: AUD101
    "REDIS_URL", "redis://localhost:6379/0"
)
