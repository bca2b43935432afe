"""End to end with a real Celery worker process, Redis db 7 and the test Postgres database."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.models import Submission
from tests.workers.conftest import week1
from tests.workers.e2e import Worker, api, check_counts, statuses, upload, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NCHECKS = 16  # week 1's checks: one row each per graded submission


@pytest.fixture
def csettings(wsettings: Settings, redis_url: str) -> Settings:
    """Celery mode with short deadlines (soft < hard < visibility; hard < stuck)."""
    return wsettings.model_copy(update={
        "redis_url": redis_url, "stuck_after_s": 30, "sweep_interval_s": 2,
        "task_soft_time_limit_s": 20, "task_time_limit_s": 25,
        "broker_visibility_timeout_s": 28})


def assert_graded_once(settings: Settings, ids: list[str], attempts: set[int]) -> None:
    st = statuses(settings, ids)
    assert {s for s, _ in st.values()} == {"graded"}, st
    assert {a for _, a in st.values()} <= attempts, st
    counts = check_counts(settings, ids)
    assert counts == {i: NCHECKS for i in ids}, counts


def test_upload_via_api_is_graded_by_a_worker(csettings: Settings, tmp_path: Path) -> None:
    w = Worker(csettings, tmp_path / "worker.log", beat=False)
    try:
        with api(csettings) as client:
            sid = upload(client, week1())
            wait_for(lambda: statuses(csettings, [sid])[sid][0] == "graded", 90, "graded")
            body = client.get(f"/api/submissions/{sid}/results").json()
        assert body["status"] == "graded" and len(body["checks"]) == NCHECKS
        assert_graded_once(csettings, [sid], {1})
    finally:
        w.stop()


def test_worker_killed_mid_grade_is_graded_exactly_once(csettings: Settings,
                                                         tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    w = Worker(csettings, log)
    try:
        with api(csettings) as client:
            sid = upload(client, week1("week1_sleep.py"))  # sleeps 3 s in its first cell
        wait_for(lambda: statuses(csettings, [sid])[sid][0] == "running", 60, "running")
        time.sleep(1.0)
        w.kill()
        killed_at = time.monotonic()
        assert statuses(csettings, [sid])[sid] == ("running", 1)
        time.sleep(2)
        assert statuses(csettings, [sid])[sid] == ("running", 1)  # nobody finished it
        w = Worker(csettings, log)  # restart: redelivery / sweeper takes it over
        wait_for(lambda: statuses(csettings, [sid])[sid][0] == "graded", 150, "regraded")
        print(f"recovered {time.monotonic() - killed_at:.1f}s after SIGKILL")
        assert_graded_once(csettings, [sid], {2})
    finally:
        w.stop()


def restart_redis() -> None:
    """Shutdown without saving (queued messages are lost) and start Redis again."""
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
                   capture_output=True, timeout=30)
    r = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    wait_for(lambda: _down(r), 30, "redis down")
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
                    "--port", "6379", "--save", "", "--appendonly", "no",
                    "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"],
                   check=True, timeout=30)
    wait_for(lambda: not _down(r), 30, "redis up")


def _down(r: redis.Redis) -> bool:
    try:
        r.ping()
        return False
    except redis.RedisError:
        return True


def test_redis_restart_loses_queue_and_sweeper_recovers_all(wsettings: Settings,
                                                            redis_url: str,
                                                            tmp_path: Path) -> None:
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs redis-server and redis-cli")
    s = wsettings.model_copy(update={
        "redis_url": redis_url, "stuck_after_s": 12, "sweep_interval_s": 1,
        "task_soft_time_limit_s": 8, "task_time_limit_s": 10, "broker_visibility_timeout_s": 11})
    r = redis.Redis.from_url(redis_url)
    with api(s) as client:
        ids = [upload(client, b"x = 1\n", login=f"student{i}") for i in range(50)]
    assert r.llen("cpu") == 50  # all sent after commit, no worker yet
    restart_redis()
    assert r.llen("cpu") == 0  # the messages are gone; only the rows remain
    assert {st for st, _ in statuses(s, ids).values()} == {"queued"}
    w = Worker(s, tmp_path / "worker.log", concurrency=2)
    try:
        t0 = time.monotonic()
        wait_for(lambda: all(st == "graded" for st, _ in statuses(s, ids).values()), 400,
                 "all 50 graded")
        print(f"50 recovered and graded in {time.monotonic() - t0:.1f}s")
        assert "re-enqueued" in w.output()
        assert_graded_once(s, ids, {1})
    finally:
        w.stop()


def test_sigkill_mid_grade_is_resent_and_graded_within_90s_with_defaults(
        wsettings: Settings, redis_url: str, tmp_path: Path) -> None:
    """Two workers and a beat, heartbeat/sweeper/stuck/time-limit settings at their defaults:
    the worker grading a job is SIGKILLed; the other one grades it within 90 s."""
    defaults = {k: Settings.model_fields[k].default for k in (
        "heartbeat_interval_s", "heartbeat_timeout_s", "sweep_interval_s", "stuck_after_s",
        "task_soft_time_limit_s", "task_time_limit_s", "broker_visibility_timeout_s")}
    s = wsettings.model_copy(update={"redis_url": redis_url, **defaults})
    log = tmp_path / "worker.log"
    workers = [Worker(s, log, beat=False), Worker(s, tmp_path / "worker2.log", beat=False)]
    beat = Worker(s, tmp_path / "beat.log", only_beat=True)
    try:
        with api(s) as client:
            sid = upload(client, week1("week1_sleep.py"))  # sleeps 3 s in its first cell
        wait_for(lambda: statuses(s, [sid])[sid][0] == "running", 60, "running")
        time.sleep(1.0)
        pid = int((row_worker(s, sid) or "x:0").split(":")[1])
        victim = next(w for w in workers if w.owns(pid))
        victim.kill()
        killed_at = time.monotonic()
        survivor = next(w for w in workers if w is not victim)
        wait_for(lambda: statuses(s, [sid])[sid][0] == "graded", 90, "graded after SIGKILL")
        took = time.monotonic() - killed_at
        print(f"re-sent and graded {took:.1f}s after SIGKILL")
        assert_graded_once(s, [sid], {2})
        assert survivor.owns(int((row_worker(s, sid) or "x:0").split(":")[1]))
        assert "re-enqueued 1" in survivor.output()  # the sweeper, not a broker redelivery
    finally:
        for w in (*workers, beat):
            w.stop()


def row_worker(settings: Settings, sid: str) -> str | None:
    """The `worker` column (host:pid:thread of the claiming process)."""
    with session_scope(settings) as sess:
        return sess.scalar(select(Submission.worker).where(Submission.id == sid))
