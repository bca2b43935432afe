"""A worker whose sandbox fails its self-test takes no job, says so in its log and on the
dashboard; the explicitly configured development fallback is flagged as unsafe."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.orm import Session

import app.queue
from app import health
from app.config import Settings
from grader import selftest
from tests.app.staff import login
from workers import celery_app
from workers import health as worker_health


def failing(*_: object) -> selftest.SelfTest:
    return selftest.SelfTest(failures=["a job ran as host root"])


@pytest.fixture(autouse=True)
def fresh_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "_local", {})


def test_celery_worker_exits_before_taking_jobs(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(selftest, "run", failing)
    monkeypatch.setattr(celery_app, "get_settings", lambda: Settings(redis_url=None))

    class Sender:
        hostname = "cpu@box"

    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit):
        celery_app._sandbox_gate(sender=Sender())
    assert "REFUSES TO TAKE JOBS" in caplog.text and "host root" in caplog.text
    (flag,) = health.read(Settings(redis_url=None))
    assert flag.worker == "cpu@box" and not flag.ok and flag.failures == ["a job ran as host root"]


def test_flags_are_shared_through_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6379/15")
    monkeypatch.setattr(selftest, "run", failing)
    assert not worker_health.gate(settings, worker="gpu@elsewhere")
    monkeypatch.setattr(health, "_local", {})  # another process: only Redis knows
    assert [f.worker for f in health.read(settings) if not f.ok] == ["gpu@elsewhere"]
    health._redis(settings).delete(health.KEY_PREFIX + "gpu@elsewhere")


def test_embedded_pool_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selftest, "run", failing)
    app.queue.start_embedded_workers(Settings(redis_url=None, embedded_workers=1))
    try:
        assert app.queue._embedded is None
        assert not app.queue._embedded_submit("s1")  # the submission stays queued
    finally:
        app.queue.stop_embedded_workers()


def test_dashboard_shows_the_alarm(client, db_session: Session,  # type: ignore[no-untyped-def]
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selftest, "run", failing)
    worker_health.gate(Settings(redis_url=None), worker="cpu@box")
    login(client, db_session)
    page = client.get("/dashboard/queue").text
    assert 'id="sandbox-alarm"' in page and "REFUSING JOBS" in page and "host root" in page
    assert 'id="sandbox-alarm"' in client.get("/dashboard").text


def test_fallback_is_flagged_unsafe() -> None:
    assert worker_health.gate(Settings(redis_url=None, sandbox_backend="fallback"), "dev")
    (flag,) = health.read(Settings(redis_url=None))
    assert flag.unsafe and "UNSAFE" in flag.summary
