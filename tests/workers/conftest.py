"""Worker fixtures: a database of their own with COMMITTED rows (task bodies use their own
sessions, and worker processes need to see the data), Redis db 7, sample submissions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import text

from app import queue
from app.config import Settings
from app.db import session_scope
from tests.dbfixtures import fresh_database
from tests.factories import make_submission
from workers import sweeper

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "service"
REDIS_URL = os.environ.get("ZEROGRAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
TABLES = "check_result, benchmark, submission, student, webhook_delivery, instructor"


def week1(name: str = "week1_ok.py") -> bytes:
    """A sample week-1 submission from tests/fixtures/service."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def worker_db_url() -> Iterator[str]:
    """A fresh `zg_test_w_<random>` database at Alembic head, dropped after the run."""
    with fresh_database("zg_test_w") as url:
        yield url


@pytest.fixture
def wsettings(worker_db_url: str, data_dir: Path) -> Iterator[Settings]:
    """Settings on the worker database (no Redis: embedded dispatch, no pool running)."""
    s = Settings(database_url=worker_db_url, redis_url=None, data_dir=data_dir,
                 embedded_workers=0, stuck_after_s=60, max_attempts=3, sweep_interval_s=1,
                 task_soft_time_limit_s=20, task_time_limit_s=30,
                 broker_visibility_timeout_s=90)
    yield s
    with session_scope(s) as session:
        session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


def add_submission(settings: Settings, **kw: Any) -> str:
    """Commit a submission row (factory defaults: a week-1 upload) and return its id."""
    kw.setdefault("notebook", week1())
    with session_scope(settings) as s:
        return make_submission(s, **kw).id


@pytest.fixture
def redis_url() -> str:
    """Redis db 7, flushed (fails in CI when Redis is down)."""
    try:
        r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        r.flushdb()
    except redis.RedisError as e:
        msg = f"Redis not reachable at {REDIS_URL}: {e}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return REDIS_URL


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Jobs dispatched after commit or by the sweeper (recorded instead of sent)."""
    out: list[tuple[str, int]] = []

    def record(settings: Settings, sid: str, week: int) -> bool:
        out.append((sid, week))
        return True

    monkeypatch.setattr(queue, "dispatch", record)
    monkeypatch.setattr(sweeper, "dispatch", record)
    return out
