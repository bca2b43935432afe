"""Find submissions stuck in queued/running (lost messages, dead workers) and send them again."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from functools import lru_cache

import redis
from sqlalchemy import select, update

from app.config import Settings
from app.db import session_scope
from app.models import Submission, utcnow
from app.queue import dispatch
from workers.grading import AUTOGRADER_FAILED, OPEN, alive, aware
from workers.tempdirs import sweep_temp

log = logging.getLogger(__name__)
BATCH = 1000
_recent: dict[str, float] = {}
_recent_lock = threading.Lock()


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _first_requeue(settings: Settings, submission_id: str, attempts: int) -> bool:
    """True once per stuck_after_s per submission and attempt (a backlog is not flooded)."""
    key = f"zerograd:requeued:{submission_id}:{attempts}"
    if settings.redis_url:
        return bool(_redis(settings.redis_url).set(key, b"1", nx=True,
                                                   ex=max(1, settings.stuck_after_s)))
    now = time.monotonic()
    with _recent_lock:
        if now - _recent.get(key, -1e18) < settings.stuck_after_s:
            return False
        _recent[key] = now
        return True


def sweep(settings: Settings, everything: bool = False) -> dict[str, int]:
    """Re-enqueue stuck rows; fail those out of attempts. everything=True: all queued rows."""
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stuck_after_s)
    resend: list[tuple[str, int, int]] = []
    failed = 0
    with session_scope(settings) as s:
        rows = s.execute(
            select(Submission.id, Submission.week, Submission.status, Submission.attempts,
                   Submission.received_at, Submission.started_at, Submission.heartbeat_at)
            .where(Submission.status.in_(OPEN)).order_by(Submission.received_at).limit(BATCH)
        ).all()
        for r in rows:
            if r.status == "queued":
                since = aware(r.received_at)
                stuck = everything or (since is not None and since < cutoff)
            else:  # a dead worker stops its heartbeat: re-sent within heartbeat_timeout_s
                stuck = not alive(settings, r.started_at, r.heartbeat_at, now)
            if not stuck:
                continue
            if r.status == "running" and r.attempts >= settings.max_attempts:
                res = s.execute(update(Submission).where(
                    Submission.id == r.id, Submission.status == "running",
                    Submission.attempts == r.attempts,
                ).values(status="failed", error=AUTOGRADER_FAILED, finished_at=utcnow(),
                         infra_fault=True))
                failed += int(getattr(res, "rowcount", 0))
                log.error("submission %s failed after %d attempts", r.id, r.attempts)
            else:
                resend.append((r.id, r.week, r.attempts))
    sent = 0
    for sid, week, attempts in resend:
        try:
            if ((everything or _first_requeue(settings, sid, attempts))
                    and dispatch(settings, sid, week)):
                sent += 1
        except Exception:
            log.exception("sweeper could not re-enqueue %s", sid)
    sweep_temp(settings)  # this host's leftovers of killed gradings (logged when any)
    if sent or failed:
        log.warning("sweeper: re-enqueued %d, failed %d", sent, failed)
    return {"requeued": sent, "failed": failed}
