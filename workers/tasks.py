"""Celery tasks: thin wrappers that take ids and call the task bodies."""

from __future__ import annotations

from app.config import get_settings
from app.queue import GRADE_TASK, SWEEP_TASK
from workers.celery_app import app
from workers.grading import run_grading, transient_errors
from workers.sweeper import sweep

__all__ = ["grade_submission", "run_grading", "sweep", "sweep_stuck"]


@app.task(name=GRADE_TASK, autoretry_for=transient_errors(), retry_backoff=2,
          retry_backoff_max=300, retry_jitter=True, max_retries=8, acks_late=True)
def grade_submission(submission_id: str) -> str:
    """Grade one submission by id (idempotent: a redelivery never writes a second result)."""
    return run_grading(submission_id, get_settings())


@app.task(name=SWEEP_TASK, acks_late=False)
def sweep_stuck() -> dict[str, int]:
    """Re-enqueue submissions stuck in queued/running; fail those out of attempts."""
    return sweep(get_settings())
