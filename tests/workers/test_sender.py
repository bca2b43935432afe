"""The web process's sender child: jobs reach the broker, a dead or stuck child loses none."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from app import queue
from app.config import Settings
from app.db import session_factory
from app.sender import Sender
from tests.factories import make_submission

pytestmark = pytest.mark.integration


@pytest.fixture
def sender(redis_url: str) -> Iterator[Sender]:
    """A sender on the test broker, its child stopped after the test."""
    s = Sender(redis_url)
    yield s
    s._stop()


def wait_for(r: redis.Redis, key: str, n: int, timeout: float = 20.0) -> list[dict]:
    """The first n Celery messages on queue `key` (fails when fewer arrive in time)."""
    deadline = time.monotonic() + timeout
    while r.llen(key) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.llen(key) == n, f"{r.llen(key)} of {n} jobs on {key!r}"
    return [json.loads(m) for m in r.lrange(key, 0, -1)]


def test_jobs_reach_the_weeks_queue_by_task_name(sender: Sender, redis_url: str) -> None:
    assert sender.put([("sub-a", 1), ("sub-b", 5), ("sub-c", 4)])
    r = redis.Redis.from_url(redis_url)
    cpu, gpu = wait_for(r, "cpu", 2), wait_for(r, "gpu", 1)
    assert {m["headers"]["task"] for m in cpu + gpu} == {queue.GRADE_TASK}
    assert sorted(m["headers"]["argsrepr"] for m in cpu) == ["['sub-a']", "['sub-c']"]
    assert gpu[0]["headers"]["argsrepr"] == "['sub-b']"


def test_a_killed_child_is_started_again(sender: Sender, redis_url: str) -> None:
    assert sender.put([("first", 1)])
    r = redis.Redis.from_url(redis_url)
    wait_for(r, "cpu", 1)
    assert sender.proc is not None
    first = sender.proc.pid
    os.kill(first, signal.SIGKILL)
    sender.proc.wait()
    assert sender.put([("second", 2)])
    assert sender.proc is not None and sender.proc.pid != first
    assert sorted(m["headers"]["argsrepr"] for m in wait_for(r, "cpu", 2)) == [
        "['first']", "['second']"]


def test_a_stuck_child_refuses_instead_of_blocking(sender: Sender) -> None:
    assert sender.put([("warm", 1)])
    assert sender.proc is not None
    os.kill(sender.proc.pid, signal.SIGSTOP)  # reads nothing: the pipe fills up
    t = time.monotonic()
    jobs = [(f"s{i:040d}", 1) for i in range(4000)]  # 180 KB > a pipe's 64 KiB
    assert not sender.put(jobs)
    assert time.monotonic() - t < 5  # never waits on the child
    assert sender.proc is None  # dropped (it may hold half a line); the next put starts one


def test_committed_webhook_jobs_fall_back_to_this_thread(
        wsettings: Settings, redis_url: str, sent: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sender, "put", lambda self, jobs: False)  # the child is unavailable
    s = wsettings.model_copy(update={"redis_url": redis_url})
    with session_factory(s)() as session:
        queue.send_in_background(session)
        sid = make_submission(session).id
        queue.enqueue_grading(session, sid, 1, s)
        session.commit()
    assert sent == [(sid, 1)]  # sent by the committing thread instead: nothing waits on the sweeper


def test_child_exits_when_the_web_process_goes(sender: Sender) -> None:
    assert sender.put([("x", 1)])
    assert sender.proc is not None and sender.proc.stdin is not None
    sender.proc.stdin.close()  # what the parent's death does to the pipe
    assert sender.proc.wait(timeout=20) == 0
