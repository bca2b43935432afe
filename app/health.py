"""Health the dashboard shows: start-up problems (course data, policy file) and each worker's
sandbox self-test.

Start-up problems are logged loudly (WARNING). Self-test flags are stored in Redis (one key per
worker, with a TTL) when REDIS_URL is set, so every web process sees every worker; in this
process's memory for the embedded pool.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.config import Settings
from grader.data import DATASETS

log = logging.getLogger("zerograd.health")


def missing_data(data_dir: Path) -> list[str]:
    """Course data files absent from data_dir (or of the wrong size)."""
    out = []
    for ds in DATASETS:
        p = Path(data_dir) / ds.name
        if not p.is_file() or p.stat().st_size != ds.size:
            out.append(ds.name)
    return out


def problems(settings: Settings) -> list[str]:
    """Human-readable configuration problems (empty when all is well)."""
    out = []
    gone = missing_data(settings.data_dir)
    if gone:
        out.append(f"course data missing in {settings.data_dir} ({', '.join(gone)}): weeks 2-6 "
                   "cannot be graded; run `zerograd data fetch` (compose: the data-fetch "
                   "service) or set ZEROGRAD_DATA_DIR")
    if not Path(settings.course_config).is_file():
        out.append(f"course policy {settings.course_config} not found: no deadlines, late "
                   "penalties or quotas apply; set ZEROGRAD_COURSE_CONFIG")
    return out


def check_at_startup(settings: Settings) -> list[str]:
    """Log each problem loudly (WARNING) and return them for the dashboard's health flag."""
    found = problems(settings)
    for p in found:
        log.warning("zerograd: %s", p)
    return found

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
