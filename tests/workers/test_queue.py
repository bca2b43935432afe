"""Enqueue after commit, dispatch by task name, the Celery configuration, the sweeper."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update

from app import queue
from app.config import Settings
from app.db import session_factory, session_scope
from app.models import Submission, utcnow
from tests.factories import make_submission
from tests.workers.conftest import add_submission
from workers import celery_app, sweeper

pytestmark = pytest.mark.integration


def test_job_is_sent_only_after_commit(wsettings: Settings, sent: list) -> None:
    with session_factory(wsettings)() as s:
        sid = make_submission(s, week=3).id
        queue.enqueue_grading(s, sid, 3, wsettings)
        s.flush()
        assert sent == []  # not before the row is committed
        s.commit()
        assert sent == [(sid, 3)]
        other = make_submission(s)
        queue.enqueue_grading(s, other.id, 1, wsettings)
        s.rollback()  # rolled back: never sent
        s.commit()
    assert sent == [(sid, 3)]


def test_savepoint_rollback_keeps_outer_jobs(wsettings: Settings, sent: list) -> None:
    with session_factory(wsettings)() as s:
        sid = make_submission(s).id
        queue.enqueue_grading(s, sid, 1, wsettings)
        nested = s.begin_nested()
        nested.rollback()
        s.commit()
    assert [x[0] for x in sent] == [sid]


@pytest.mark.parametrize("week,q", [(1, "cpu"), (4, "cpu"), (5, "gpu"), (6, "gpu")])
def test_dispatch_sends_by_name_to_the_weeks_queue(redis_url: str, wsettings: Settings,
                                                   week: int, q: str) -> None:
    s = wsettings.model_copy(update={"redis_url": redis_url})
    assert queue.dispatch(s, "sub123", week)
    r = redis.Redis.from_url(redis_url)
    assert r.llen(q) == 1 and r.llen({"cpu": "gpu", "gpu": "cpu"}[q]) == 0
    msg = json.loads(r.lpop(q))  # type: ignore[arg-type]
    assert msg["headers"]["task"] == "workers.tasks.grade_submission"
    assert msg["headers"]["argsrepr"] == "['sub123']"


def test_dispatch_with_redis_down_does_not_raise(wsettings: Settings) -> None:
    s = wsettings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    assert queue.dispatch(s, "x", 1) is False  # the row stays queued; the sweeper resends


def test_celery_configuration() -> None:
    conf = celery_app.app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.task_ignore_result
    assert not conf.result_backend
    vis = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < vis
    assert {q.name for q in conf.task_queues} == {"cpu", "gpu"}
    assert "sweep-stuck" in conf.beat_schedule
    import workers
    import workers.tasks as tasks

    assert workers.app is celery_app.app  # `celery -A workers` finds it
    assert tasks.grade_submission.name == queue.GRADE_TASK
    assert tasks.sweep_stuck.name == queue.SWEEP_TASK


def test_bad_limits_are_refused(wsettings: Settings) -> None:
    with pytest.raises(ValueError):
        celery_app.make_celery(wsettings.model_copy(update={"broker_visibility_timeout_s": 25}))
    with pytest.raises(ValueError):
        celery_app.make_celery(wsettings.model_copy(update={"stuck_after_s": 10}))


def age(settings: Settings, sid: str, **cols: object) -> None:
    with session_scope(settings) as s:
        s.execute(update(Submission).where(Submission.id == sid).values(**cols))


def test_sweeper_resends_stuck_rows_once_and_fails_exhausted(wsettings: Settings,
                                                             sent: list) -> None:
    old = utcnow() - timedelta(seconds=wsettings.stuck_after_s + 10)
    fresh = add_submission(wsettings)
    stuck_q = add_submission(wsettings, week=2)
    age(wsettings, stuck_q, received_at=old)
    stuck_r = add_submission(wsettings, status="running", attempts=1, started_at=old)
    dead = add_submission(wsettings, status="running", attempts=wsettings.max_attempts,
                          started_at=old)
    done = add_submission(wsettings, status="graded")
    age(wsettings, done, received_at=old)
    assert sweeper.sweep(wsettings) == {"requeued": 2, "failed": 1}
    assert sorted(sent) == sorted([(stuck_q, 2), (stuck_r, 1)])
    with session_scope(wsettings) as s:
        d = s.get(Submission, dead)
        assert d is not None and d.status == "failed" and "autograder failed" in (d.error or "")
    sent.clear()
    assert sweeper.sweep(wsettings) == {"requeued": 0, "failed": 0}  # not again right away
    assert sweeper.sweep(wsettings, everything=True)["requeued"] == 3  # startup: all open rows
    assert fresh in [x[0] for x in sent]
