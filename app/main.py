"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from app import queue
from app.config import Settings, get_settings
from app.errors import install_error_handlers
from app.health import check_at_startup

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413) before they are parsed or spooled."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _too_large(send, self.limit)
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return msg

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    body = f'{{"detail": "request body too large (limit {limit // 1024} KiB)"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """While serving, the start-up heap (modules, routes, models) is out of the collector's
    full passes, which otherwise stall every request in flight for 70-150 ms in a burst; at
    shutdown, jobs handed to the sender child are published before the process ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        await run_in_threadpool(queue.close_senders)  # the sender child drains its pipe


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for these settings (routes, error handler, body limit)."""
    from app.routes import admin, api, dashboard, students, web, webhooks
    from app.services.auth import check_secret_key

    settings = settings or get_settings()
    check_secret_key(settings)  # several processes or a public host need one shared key
    app = FastAPI(title="zerograd", version="0.1.0", lifespan=_lifespan,
                  description="Autograder for *Neural Networks: Zero to Hero*. Submit a fork URL "
                              "or a notebook; results appear at /submissions/{id}.")
    app.state.settings = settings
    app.state.health = check_at_startup(settings)  # logged loudly; flagged on the dashboard
    install_error_handlers(app)
    app.include_router(web.router)
    app.include_router(webhooks.router)
    app.include_router(api.router)
    app.include_router(students.router)  # /auth/github/*, /me
    dashboard.install(app)  # /login, /logout, /dashboard/*, /static
    app.include_router(admin.router)  # /dashboard/roster, /dashboard/tokens

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, object]:
        return {"status": "ok", **({"warnings": app.state.health} if app.state.health else {})}

    # multipart overhead on top of the largest accepted upload; GitHub payloads ≤ 25 MB
    app.add_middleware(BodyLimit, limit=max(settings.max_upload_bytes + 1024 * 1024,
                                            26 * 1024 * 1024))
    return app
