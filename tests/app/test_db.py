"""Migrations on Postgres and SQLite; constraints; the rolled-back session fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import make_engine
from app.models import Base, Student, Submission
from tests.dbfixtures import alembic_run, fresh_database
from tests.factories import make_check_result, make_student, make_submission

TABLES = {"student", "submission", "check_result", "benchmark", "webhook_delivery", "instructor",
          "roster_entry", "web_session", "api_token"}


def _tables(url: str) -> set[str]:
    eng = make_engine(url)
    try:
        return set(inspect(eng).get_table_names()) - {"alembic_version"}
    finally:
        eng.dispose()


def assert_up_down_up(url: str) -> None:
    """Every migration applies, reverts to nothing, and applies again."""
    alembic_run(url, "upgrade", "head")
    assert _tables(url) == TABLES
    alembic_run(url, "downgrade", "base")
    assert _tables(url) == set()
    alembic_run(url, "upgrade", "head")
    assert _tables(url) == TABLES


def test_migrations_up_down_sqlite(tmp_path: Path) -> None:
    assert_up_down_up(f"sqlite:///{tmp_path / 'sub' / 'm.sqlite3'}")


def test_migrations_up_down_postgres() -> None:
    with fresh_database("zg_mig", migrate=False) as url:
        assert_up_down_up(url)


def test_models_match_migrations(db_session: Session) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    diff = compare_metadata(MigrationContext.configure(db_session.connection()), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_submission_ids_unguessable(db_session: Session) -> None:
    a, b = make_submission(db_session), make_submission(db_session)
    assert a.id != b.id and len(a.id) >= 20


def test_unique_constraints(db_session: Session) -> None:
    make_student(db_session, github_login="dup")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        make_student(db_session, github_login="dup")
    sub = make_submission(db_session, source="webhook", dedupe_key="k#1")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        make_submission(db_session, source="webhook", dedupe_key="k#1")
    make_check_result(db_session, submission=sub, name="c")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        make_check_result(db_session, submission=sub, name="c")
    # NULL dedupe keys never collide
    make_submission(db_session), make_submission(db_session)


def test_rollback_isolation_part1(db_session: Session) -> None:
    make_student(db_session, github_login="isolation-check")
    db_session.commit()  # releases the savepoint only
    assert db_session.scalar(select(Student).where(Student.github_login == "isolation-check"))


def test_rollback_isolation_part2(db_session: Session) -> None:
    q = select(Student).where(Student.github_login == "isolation-check")
    assert db_session.scalar(q) is None
    assert db_session.scalar(select(Submission).limit(1)) is None
