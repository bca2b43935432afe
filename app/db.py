"""Engine, sessions: the request dependency and the worker scope own commit/rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for Postgres or SQLite (creates the SQLite file's directory)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        kw.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 10)
    return create_engine(url, **kw)


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=make_engine(url), expire_on_commit=False)


def session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    """The process-wide sessionmaker for these settings' database."""
    return _factory((settings or get_settings()).database_url)


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A unit of work for workers and scripts: commit on success, roll back on error."""
    session = session_factory(settings)()
    try:
        yield session
    except BaseException:
        _end(session, commit=False)
        raise
    _end(session, commit=True)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, committed when the handler succeeds.

    The session is made on the event loop (no I/O yet); commit or rollback, then close, run
    in one worker thread, shielded so that a client who hangs up cannot leak the connection,
    and outside the shared thread limit: a session holding locks is never stuck behind
    requests waiting for them (FastAPI's own exit path does the same)."""
    session = session_factory(getattr(request.app.state, "settings", None))()
    ok = False
    try:
        yield session
        ok = True
    finally:
        with anyio.CancelScope(shield=True):  # own limiter: never waits for a pool token
            await anyio.to_thread.run_sync(_end, session, ok, limiter=anyio.CapacityLimiter(1))


def _end(session: Session, commit: bool) -> None:
    """Commit (or roll back), then close: a failed commit still returns the connection."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
