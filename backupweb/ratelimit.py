"""A per-key rate limit shared by every web process: a counter per time window in Redis.

It is a brake (connection tests must not become a port scanner), not a lock: when Redis cannot be
reached, the request is allowed.
"""

from __future__ import annotations

import time

import redis

from backupweb.redis import get_redis


def allow(key: str, limit: int, seconds: int = 60) -> bool:
    """Count one more use of `key` in the current window; False past `limit` uses."""
    name = f"ratelimit:{key}:{int(time.time() // seconds)}"
    try:
        client = get_redis()
        count = client.incr(name)
        if count == 1:
            client.expire(name, seconds)
    except redis.RedisError:
        return True
    return count <= limit
