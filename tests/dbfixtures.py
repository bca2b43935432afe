"""Database fixtures: a real Postgres database per run (Alembic), rolled back per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("ZEROGRAD_TEST_PG_ADMIN_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
WEBHOOK_SECRET = "test-webhook-secret"


def alembic_config(url: str) -> Config:
    """An Alembic config for the repo's migrations aimed at `url`."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["configure_logger"] = False
    return cfg


def alembic_run(url: str, cmd: str, rev: str) -> None:
    """`alembic -x url=<url> <cmd> <rev>` in-process."""
    cfg = alembic_config(url)

    class _Opts:
        x = [f"url={url}"]

    cfg.cmd_opts = _Opts()  # type: ignore[assignment]
    getattr(command, cmd)(cfg, rev)


def _admin_engine() -> Engine:
    try:
        eng = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
        return eng
    except Exception as e:  # noqa: BLE001 - any failure means "no Postgres here"
        msg = f"PostgreSQL not reachable at {ADMIN_URL}: {e.__class__.__name__}: {e}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@contextmanager
def fresh_database(prefix: str, migrate: bool = True) -> Iterator[str]:
    """A new `<prefix>_<random>` Postgres database (at Alembic head if migrate); dropped after."""
    admin = _admin_engine()
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            alembic_run(url, "upgrade", "head")
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh `zg_test_<random>` database at Alembic head; dropped after the run."""
    with fresh_database("zg_test") as url:
        yield url


@pytest.fixture(scope="session")
def db_engine(pg_url: str) -> Iterator[Engine]:
    """The engine for the test database."""
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session inside one outer transaction that is rolled back after the test."""
    conn = db_engine.connect()
    outer = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint",
                      expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def settings(pg_url: str, tmp_path: Path) -> Settings:
    """Settings for tests: the test database, a known webhook secret, small limits."""
    return Settings(
        database_url=pg_url,
        redis_url=None,
        data_dir=Path(os.environ.get("ZEROGRAD_DATA_DIR", ROOT.parent / "shared" / "data")),
        webhook_secret=WEBHOOK_SECRET,
        secret_key="test-secret-key",
        max_upload_bytes=256 * 1024,
        fork_max_bytes=2 * 1024 * 1024,
        fork_timeout_s=20,
        allowed_git_hosts=[],
        embedded_workers=0,
    )


@pytest.fixture
def client(settings: Settings, db_session: Session) -> Iterator:
    """A TestClient whose requests share `db_session`.

    Requests commit (= release a savepoint) or roll back like get_session does, so commit rows
    made before a request that is expected to fail; the outer transaction is still rolled back.
    """
    from fastapi.testclient import TestClient

    from app.db import get_session
    from app.main import create_app

    app = create_app(settings)

    def _session() -> Iterator[Session]:
        try:
            yield db_session
            db_session.commit()
        except BaseException:
            db_session.rollback()
            raise

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as c:
        yield c
