"""Rate limits shared across web processes (the `limits` library: Redis when configured)."""

from __future__ import annotations

import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import Settings

LOGIN_FAILURES = parse("5 per 15 minutes")  # per login+IP: staff password guesses
LOGIN_IP_FAILURES = parse("30 per 15 minutes")  # per IP, whatever the login (argon2 is costly)
TOKEN_FAILURES = parse("20 per 1 minute")  # per IP: bad API tokens


@lru_cache(maxsize=8)
def _limiter(redis_url: str | None) -> MovingWindowRateLimiter:
    storage = (storage_from_string(redis_url, key_prefix="zerograd-limits")
               if redis_url else MemoryStorage())
    assert isinstance(storage, Storage)  # a sync storage (not limits.aio)
    return MovingWindowRateLimiter(storage)


def limiter(settings: Settings) -> MovingWindowRateLimiter:
    """The process-wide limiter for these settings (in memory without REDIS_URL)."""
    return _limiter(settings.redis_url)


def wait_s(settings: Settings, item: RateLimitItem, scope: str, key: str) -> float:
    """Seconds until `key` may try again (0: it may now)."""
    lim = limiter(settings)
    if lim.test(item, scope, key):
        return 0.0
    return max(1.0, lim.get_window_stats(item, scope, key).reset_time - time.time())


def record(settings: Settings, item: RateLimitItem, scope: str, key: str) -> None:
    """Count one event (a failure) against `key`."""
    limiter(settings).hit(item, scope, key)


def reset(settings: Settings, item: RateLimitItem, scope: str, key: str) -> None:
    """Forget `key`'s events (after a success)."""
    limiter(settings).clear(item, scope, key)
