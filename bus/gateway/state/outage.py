"""What an outage of the shared state (Redis) looks like to the gateway.

The Redis implementations of the seams let these errors through (a command
that cannot reach Redis fails within REDIS_TIMEOUT_SECS); the pipeline turns
them into an answer its client can retry, without importing a client library.
"""

from __future__ import annotations

from redis.exceptions import RedisError

# ConnectionError and TimeoutError of redis-py are RedisErrors: every command
# that cannot reach Redis, or waits for it past its timeout, raises one.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (RedisError,)
