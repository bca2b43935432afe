"""The Celery app: Redis broker, no result backend, late acks, queues cpu and gpu, beat sweeper."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init
from kombu import Queue

from app.config import Settings, get_settings
from app.queue import GRADE_TASK, SWEEP_TASK


def check_limits(s: Settings) -> None:
    """soft limit < hard limit < visibility timeout, and hard limit < stuck deadline."""
    if not (s.task_soft_time_limit_s < s.task_time_limit_s < s.broker_visibility_timeout_s):
        raise ValueError("need task_soft_time_limit_s < task_time_limit_s "
                         "< broker_visibility_timeout_s")
    if s.task_time_limit_s >= s.stuck_after_s:
        raise ValueError("need task_time_limit_s < stuck_after_s")


def make_celery(settings: Settings) -> Celery:
    """A configured Celery app for these settings."""
    check_limits(settings)
    celery = Celery("zerograd", broker=settings.redis_url or "memory://",
                    include=["workers.tasks"])
    celery.conf.update(
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit_s,
        task_time_limit=settings.task_time_limit_s,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        task_queues=(Queue("cpu"), Queue("gpu")),
        task_default_queue="cpu",
        task_routes={SWEEP_TASK: {"queue": "cpu"}, GRADE_TASK: {"queue": "cpu"}},
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule={"sweep-stuck": {"task": SWEEP_TASK, "schedule": settings.sweep_interval_s,
                                       "options": {"queue": "cpu",
                                                   "expires": settings.sweep_interval_s}}},
    )
    return celery


app = make_celery(get_settings())


@worker_init.connect
def _sandbox_gate(sender: object = None, **_: object) -> None:
    """A worker whose sandbox fails its self-test exits before it takes a job (the broker
    keeps the jobs for a healthy one); the dashboard shows its flag."""
    from workers.health import gate

    if not gate(get_settings(), worker=getattr(sender, "hostname", None)):
        raise SystemExit(78)  # EX_CONFIG: not Exception, so Celery's signal dispatch re-raises
