"""Worker health flags the dashboard shows: each worker's sandbox self-test, newest first.

Stored in Redis (one key per worker, with a TTL) when REDIS_URL is set, so every web process
sees every worker; in this process's memory for the embedded pool.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field

from app.config import Settings

KEY_PREFIX = "zerograd:health:sandbox:"
TTL_S = 7 * 24 * 3600


@dataclass
class Flag:
    """One worker's last self-test."""

    worker: str
    ok: bool
    summary: str
    failures: list[str] = field(default_factory=list)
    unsafe: bool = False  # the explicitly configured development fallback is in use
    at: float = field(default_factory=time.time)


_local: dict[str, Flag] = {}
_lock = threading.Lock()


def record(settings: Settings, flag: Flag) -> None:
    """Publish a worker's flag (never raises: a missing Redis must not hide the log line)."""
    with _lock:
        _local[flag.worker] = flag
    if settings.redis_url:
        try:
            _redis(settings).set(KEY_PREFIX + flag.worker, json.dumps(asdict(flag)), ex=TTL_S)
        except Exception:  # noqa: BLE001 - the log line is the flag of last resort
            pass


def read(settings: Settings) -> list[Flag]:
    """Every known worker's flag, unhealthy first."""
    flags = dict(_local)
    if settings.redis_url:
        try:
            r = _redis(settings)
            for key in r.scan_iter(KEY_PREFIX + "*", count=100):
                raw = r.get(key)
                if raw:
                    f = Flag(**json.loads(raw))
                    flags[f.worker] = f
        except Exception:  # noqa: BLE001 - show what this process knows
            pass
    return sorted(flags.values(), key=lambda f: (f.ok and not f.unsafe, -f.at))


def _redis(settings: Settings):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(settings.redis_url or "", socket_timeout=2)
