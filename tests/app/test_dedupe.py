"""Webhook deduplication under real concurrency (Postgres, committed) and on SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import make_engine
from app.models import Student, Submission, WebhookDelivery
from app.services import pushes
from app.services import submissions as svc
from tests.app.test_webhooks import push
from tests.dbfixtures import alembic_run


def test_concurrent_same_delivery_one_submission(db_engine: Engine, settings: Settings,
                                                 sent: list) -> None:
    payload = push(after="c" * 40)
    payload["repository"]["html_url"] = "https://github.com/racer/race"
    payload["repository"]["owner"]["login"] = "racer"
    barrier, errors = threading.Barrier(5), []

    def deliver(delivery: str) -> None:
        try:
            with Session(db_engine) as s:
                barrier.wait()
                pushes.handle_push(s, settings, delivery, payload, pushes.Trust("course"))
                s.commit()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    try:
        for deliveries in (["same"] * 5, [f"d{i}" for i in range(5)]):
            threads = [threading.Thread(target=deliver, args=(d,)) for d in deliveries]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert errors == []
        with Session(db_engine) as s:
            n = s.scalar(select(func.count()).select_from(Submission)
                         .where(Submission.repo_url == "https://github.com/racer/race"))
        assert n == 1 and len(sent) == 1
    finally:
        with Session(db_engine) as s, s.begin():
            s.execute(delete(WebhookDelivery).where(
                WebhookDelivery.delivery_id.in_(["same", *[f"d{i}" for i in range(5)]])))
            s.execute(delete(Student).where(Student.github_login == "racer"))


def test_sqlite_insert_ignore_and_push(tmp_path: Path, sent: list) -> None:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    alembic_run(url, "upgrade", "head")
    eng = make_engine(url)
    settings = Settings(database_url=url)
    try:
        with Session(eng) as s:
            assert svc.record_delivery(s, "x", "ping") is True
            assert svc.record_delivery(s, "x", "ping") is False
            for delivery in ("a", "a", "b"):
                pushes.handle_push(s, settings, delivery, push(paths=("week1.py", "week2.ipynb")),
                                   pushes.Trust("course"))
            s.commit()
            assert s.scalar(select(func.count()).select_from(Submission)) == 2
        assert len(sent) == 2
    finally:
        eng.dispose()
