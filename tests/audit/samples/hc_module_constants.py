SERVICE_URL = "https://billing.acme.io/api"  # expect: AUD102
REDIS_PORT = 6379  # expect: AUD103
