"""Send grading jobs by task name, only after the submission row is committed."""

from __future__ import annotations

import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.config import Settings, get_settings
from app.sender import Sender

log = logging.getLogger(__name__)

GRADE_TASK = "workers.tasks.grade_submission"
SWEEP_TASK = "workers.tasks.sweep_stuck"
TASKS_MODULE = "workers.tasks"  # imported by name in embedded mode; app never imports workers
HEALTH_MODULE = "workers.health"  # the sandbox self-test gate, by name likewise
GPU_WEEKS = frozenset({5, 6})
_PENDING = "zerograd_pending_jobs"
_HANDOVER = "zerograd_send_in_background"
Job = tuple[str, int, "Settings | None"]


def queue_for_week(week: int) -> str:
    """Weeks 1–4 run on CPU workers, 5–6 on GPU workers."""
    return "gpu" if week in GPU_WEEKS else "cpu"


def enqueue_grading(session: Session, submission_id: str, week: int,
                    settings: Settings | None = None) -> None:
    """Send the grading job when this session's transaction commits (dropped on rollback)."""
    session.info.setdefault(_PENDING, []).append((submission_id, week, settings))


def send_in_background(session: Session) -> None:
    """Jobs this session commits go to the sender child (app/sender.py) instead of being
    published by the committing thread: a request neither waits on the broker nor spends its
    process's CPU on it."""
    session.info[_HANDOVER] = True


def dispatch_all(jobs: list[Job]) -> None:
    """Send committed jobs (a failure leaves the row queued for the sweeper)."""
    for submission_id, week, settings in jobs:
        dispatch(settings or get_settings(), submission_id, week)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    jobs = session.info.pop(_PENDING, None)
    if not jobs:
        return
    if session.info.get(_HANDOVER):
        _hand_over(jobs)
    else:
        dispatch_all(jobs)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:
        session.info.pop(_PENDING, None)


def _hand_over(jobs: list[Job]) -> None:
    """Committed jobs to this process's sender child; embedded jobs go to the pool, and what
    the child cannot take is sent by a short-lived thread (the committer never waits)."""
    by_url: dict[str | None, list[Job]] = {}
    for job in jobs:
        by_url.setdefault((job[2] or get_settings()).redis_url or None, []).append(job)
    dispatch_all(by_url.pop(None, []))  # embedded: a pool submit, no I/O
    for url, batch in by_url.items():
        assert url is not None
        left = _sender(url).put([(sid, week) for sid, week, _ in batch])
        if left:
            late = batch[len(batch) - len(left):]
            threading.Thread(target=dispatch_all, args=(late,), name="zg-send",
                             daemon=True).start()


_senders: dict[str, Sender] = {}
_senders_lock = threading.Lock()


def _sender(redis_url: str) -> Sender:
    with _senders_lock:
        return _senders.setdefault(redis_url, Sender(redis_url))


def close_senders() -> None:
    """Let this process's sender children publish what they hold, then end them."""
    with _senders_lock:
        senders = list(_senders.values())
    for sender in senders:
        sender.close()


def dispatch(settings: Settings, submission_id: str, week: int) -> bool:
    """Send one job now: to Celery when REDIS_URL is set, else to the in-process pool."""
    if settings.redis_url:
        return send_one(settings.redis_url, submission_id, week)
    return _embedded_submit(submission_id)


def send_grading(app: Celery, submission_id: str, week: int, **options: Any) -> None:
    """Publish the grading task for a submission to its week's queue (Celery options given)."""
    app.send_task(GRADE_TASK, args=[submission_id], queue=queue_for_week(week), **options)


def send_one(redis_url: str, submission_id: str, week: int) -> bool:
    """Publish one grading job to Celery, retrying briefly; False (logged) when it failed."""
    try:
        send_grading(client(redis_url), submission_id, week, retry=True, retry_policy={
            "max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1})
        return True
    except Exception:  # the row stays queued; the sweeper sends it again
        log.exception("could not enqueue submission %s; the sweeper will retry", submission_id)
        return False


@lru_cache(maxsize=4)
def client(redis_url: str) -> Celery:
    """A light Celery app that only sends tasks by name (no worker code imported)."""
    c = Celery("zerograd-client", broker=redis_url, set_as_current=False)
    c.conf.update(task_serializer="json", broker_connection_timeout=3,
                  broker_connection_retry_on_startup=True, task_ignore_result=True)
    return c


class _Embedded:
    """Threads that grade in this process, plus a periodic sweeper."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.embedded_workers,
                                       thread_name_prefix="zg-grader")
        self.stop = threading.Event()
        self.sweeper = threading.Thread(target=self._sweep_loop, name="zg-sweeper", daemon=True)

    def tasks(self) -> Any:
        return importlib.import_module(TASKS_MODULE)

    def run(self, submission_id: str) -> None:
        try:
            self.tasks().run_grading(submission_id, self.settings)
        except Exception:  # transient: the row stays queued/running; the sweeper retries
            log.exception("embedded grading of %s failed", submission_id)

    def _sweep_loop(self) -> None:
        while not self.stop.wait(self.settings.sweep_interval_s):
            try:
                self.tasks().sweep(self.settings)
            except Exception:
                log.exception("embedded sweep failed")


_embedded: _Embedded | None = None
_lock = threading.Lock()


def start_embedded_workers(settings: Settings) -> None:
    """Start the in-process grading pool and sweeper (mode without REDIS_URL)."""
    global _embedded
    if settings.embedded_workers <= 0:
        return
    with _lock:
        if _embedded is None:
            if not importlib.import_module(HEALTH_MODULE).gate(settings, worker="embedded"):
                return  # logged and flagged on the dashboard; submissions stay queued
            _embedded = _Embedded(settings)
            _embedded.sweeper.start()
            _embedded.pool.submit(_embedded.tasks().sweep, settings, True)  # leftovers of a restart


def stop_embedded_workers(wait: bool = True) -> None:
    """Stop the pool (waits for running gradings when wait=True)."""
    global _embedded
    with _lock:
        emb, _embedded = _embedded, None
    if emb is not None:
        emb.stop.set()
        emb.pool.shutdown(wait=wait, cancel_futures=not wait)


def _embedded_submit(submission_id: str) -> bool:
    emb = _embedded
    if emb is None:
        log.warning("no workers running: submission %s stays queued", submission_id)
        return False
    emb.pool.submit(emb.run, submission_id)
    return True
