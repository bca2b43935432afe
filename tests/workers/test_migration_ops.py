"""Migration 0004_ops on a database that already holds the same login in two letter cases:
their submissions move to the oldest student, the duplicate goes, the unique index holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.db import make_engine
from tests.dbfixtures import alembic_run, fresh_database

pytestmark = pytest.mark.integration
NOW = "CURRENT_TIMESTAMP"
ROWS = [
    f"INSERT INTO student (id, github_login, created_at) VALUES (1, 'Octo', {NOW}), "
    f"(2, 'octo', {NOW}), (3, 'OCTO', {NOW}), (4, 'other', {NOW})",
    "INSERT INTO submission (id, student_id, week, source, status, received_at, attempts) "
    f"VALUES ('a', 1, 1, 'upload', 'graded', {NOW}, 1), ('b', 2, 1, 'upload', 'graded', {NOW}, 1),"
    f" ('c', 3, 2, 'upload', 'queued', {NOW}, 0), ('d', 4, 1, 'upload', 'graded', {NOW}, 1)",
]


def run_upgrade(url: str) -> None:
    alembic_run(url, "downgrade", "0003")
    eng = make_engine(url)
    with eng.begin() as c:
        for stmt in ROWS:
            c.execute(text(stmt))
    eng.dispose()
    alembic_run(url, "upgrade", "head")


def test_upgrade_merges_case_duplicates_postgres() -> None:
    with fresh_database("zg_test_mig") as url:
        run_upgrade(url)
        check(url)


def test_upgrade_merges_case_duplicates_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mig.sqlite3'}"
    alembic_run(url, "upgrade", "head")
    run_upgrade(url)
    check(url)


def check(url: str) -> None:
    eng = make_engine(url)
    with eng.connect() as c:
        students = c.execute(text("SELECT id, github_login FROM student ORDER BY id")).all()
        owners = dict(c.execute(text("SELECT id, student_id FROM submission")).all())
    assert [tuple(r) for r in students] == [(1, "Octo"), (4, "other")]
    assert owners == {"a": 1, "b": 1, "c": 1, "d": 4}  # nothing lost
    with pytest.raises(IntegrityError), eng.begin() as c:
        c.execute(text("INSERT INTO student (github_login, created_at) "
                       "VALUES ('oCtO', CURRENT_TIMESTAMP)"))
    eng.dispose()
