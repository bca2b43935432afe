"""The web process's sender child: jobs reach the broker; a dead, stuck or closing child loses
none, and a committer never waits on it."""

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
    s._drop()


def wait_for(r: redis.Redis, key: str, n: int, timeout: float = 20.0) -> list[dict]:
    """The first n Celery messages on queue `key` (fails when fewer arrive in time)."""
    deadline = time.monotonic() + timeout
    while r.llen(key) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.llen(key) == n, f"{r.llen(key)} of {n} jobs on {key!r}"
    return [json.loads(m) for m in r.lrange(key, 0, -1)]


def test_jobs_reach_the_weeks_queue_by_task_name(sender: Sender, redis_url: str) -> None:
    assert sender.put([("sub-a", 1), ("sub-b", 5), ("sub-c", 4)]) == []
    r = redis.Redis.from_url(redis_url)
    cpu, gpu = wait_for(r, "cpu", 2), wait_for(r, "gpu", 1)
    assert {m["headers"]["task"] for m in cpu + gpu} == {queue.GRADE_TASK}
    assert sorted(m["headers"]["argsrepr"] for m in cpu) == ["['sub-a']", "['sub-c']"]
    assert gpu[0]["headers"]["argsrepr"] == "['sub-b']"
    assert sender.proc is not None and redis_url not in " ".join(map(str, sender.proc.args))


def test_a_killed_child_is_started_again(sender: Sender, redis_url: str) -> None:
    assert sender.put([("first", 1)]) == []
    r = redis.Redis.from_url(redis_url)
    wait_for(r, "cpu", 1)
    assert sender.proc is not None
    first = sender.proc.pid
    os.kill(first, signal.SIGKILL)
    sender.proc.wait()
    assert sender.put([("second", 2)]) == []  # a new child (the dead one was reaped)
    assert sender.proc is not None and sender.proc.pid != first
    assert sorted(m["headers"]["argsrepr"] for m in wait_for(r, "cpu", 2)) == [
        "['first']", "['second']"]


def test_a_stuck_child_returns_what_it_cannot_take(sender: Sender, redis_url: str) -> None:
    assert sender.put([("warm", 1)]) == []
    r = redis.Redis.from_url(redis_url)
    wait_for(r, "cpu", 1)
    assert sender.proc is not None
    os.kill(sender.proc.pid, signal.SIGSTOP)  # reads nothing: the pipe fills up
    t = time.monotonic()
    jobs = [(f"s{i:030d}", 1) for i in range(4000)]  # 140 KB > a pipe's 64 KiB
    left = sender.put(jobs)
    assert time.monotonic() - t < 5  # never waits on the child
    assert 0 < len(left) < len(jobs) and left == jobs[len(jobs) - len(left):]
    os.kill(sender.proc.pid, signal.SIGCONT)  # what it took, it publishes: no job in between
    taken = wait_for(r, "cpu", 1 + len(jobs) - len(left))
    assert len({m["headers"]["argsrepr"] for m in taken}) == len(taken)


def test_malformed_lines_are_skipped(sender: Sender, redis_url: str) -> None:
    assert sender.put([("not one id", 1), ("good", 1)]) == []
    got = wait_for(redis.Redis.from_url(redis_url), "cpu", 1)
    assert got[0]["headers"]["argsrepr"] == "['good']"


def test_close_publishes_what_the_pipe_holds(sender: Sender, redis_url: str) -> None:
    assert sender.put([("early", 1)]) == []
    assert sender.proc is not None
    proc = sender.proc
    assert sender.put([(f"late{i}", 1) for i in range(200)]) == []
    sender.close()  # the web process shutting down
    assert proc.returncode == 0 and sender.proc is None
    assert redis.Redis.from_url(redis_url).llen("cpu") == 201  # nothing left to the sweeper


def test_committed_jobs_the_child_cannot_take_are_sent_without_waiting(
        wsettings: Settings, redis_url: str, sent: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sender, "put", lambda self, jobs: jobs)  # the child takes nothing
    s = wsettings.model_copy(update={"redis_url": redis_url})
    with session_factory(s)() as session:
        queue.send_in_background(session)
        sid = make_submission(session).id
        queue.enqueue_grading(session, sid, 1, s)
        session.commit()
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sent == [(sid, 1)]  # by a short-lived thread: nothing waits on the sweeper
