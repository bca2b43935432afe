"""The request session dependency: commit, rollback, and no deadlock behind waiting requests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import get_session, session_factory
from app.errors import AppError, install_error_handlers

Db = Annotated[Session, Depends(get_session, scope="function")]


def _app(tmp_path: Path) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.settings = Settings(database_url=f"sqlite:///{tmp_path}/s.sqlite3")

    # response_model=None: FastAPI validates a sync route's return value in a pool thread, a
    # second wait for a token that this test does not measure
    @app.post("/write", response_model=None)
    def write(s: Db, fail: bool = False) -> dict[str, bool]:
        s.execute(text("CREATE TABLE IF NOT EXISTS t (k INTEGER)"))
        s.execute(text("INSERT INTO t VALUES (1)"))
        if fail:
            raise AppError("refused", 409)
        return {"ok": True}

    @app.get("/count")
    def count(s: Db) -> dict[str, int]:
        return {"n": int(s.scalar(text("SELECT count(*) FROM t")) or 0)}

    return app


def _run(app: FastAPI, calls: int, fail: bool = False) -> list[int]:
    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     timeout=120) as c:
            await c.post("/write")
            rs = await asyncio.gather(*(c.post("/write", params={"fail": fail})
                                        for _ in range(calls)))
            return [r.status_code for r in rs]
    return asyncio.run(go())


def test_many_writers_at_once_all_commit(tmp_path: Path) -> None:
    """60 requests hold the thread pool waiting for the writer's lock; its commit must not wait
    for a pool token behind them (it did: 30 s, then 'database is locked' for half)."""
    app = _app(tmp_path)
    try:
        assert _run(app, 60) == [200] * 60
        assert _run_count(app) == 61
    finally:
        session_factory(app.state.settings).kw["bind"].dispose()


def test_a_refused_request_rolls_back(tmp_path: Path) -> None:
    app = _app(tmp_path)
    try:
        assert _run(app, 3, fail=True) == [409] * 3
        assert _run_count(app) == 1  # only the first, successful write
    finally:
        session_factory(app.state.settings).kw["bind"].dispose()


def _run_count(app: FastAPI) -> int:
    async def go() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return int((await c.get("/count")).json()["n"])
    return asyncio.run(go())
