"""GitHub webhooks: HMAC-checked, deduplicated, answered 202 without fetching anything."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from app import queue
from app.errors import AppError
from app.routes.deps import SessionDep, SettingsDep
from app.schemas import WebhookOut
from app.services import submissions as svc

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 == 'sha256=' + HMAC-SHA256(secret, raw body), in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def parse_payload(body: bytes, content_type: str) -> object:
    """The delivery's JSON: the raw body (application/json), or the `payload` field of GitHub's
    default application/x-www-form-urlencoded deliveries (the HMAC covers the raw body)."""
    text: str | None
    try:
        text = body.decode("utf-8")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(text, max_num_fields=10).get("payload")
            text = fields[0] if fields else None
        if text is None:
            raise ValueError("no payload field")
        return json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise AppError("the push payload is not JSON (content type application/json, or "
                       "application/x-www-form-urlencoded with a payload field)", 400) from None


@router.post("/github", response_model=WebhookOut, status_code=202,
             responses={200: {"description": "ping"}, 401: {"description": "bad signature"}})
async def github_webhook(
    request: Request, session: SessionDep, settings: SettingsDep,
    x_github_event: Annotated[str, Header()] = "",
    x_github_delivery: Annotated[str, Header()] = "",
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """`ping` → 200; `push` → one queued submission per changed week notebook."""
    if not settings.webhook_secret:
        raise AppError("webhooks are not configured on this server", 503)
    body = await request.body()
    if not verify_signature(settings.webhook_secret, body, x_hub_signature_256):
        raise AppError("invalid or missing X-Hub-Signature-256", 401)
    if x_github_event == "ping":
        return JSONResponse(WebhookOut(outcome="pong").model_dump(), status_code=200)
    if not x_github_delivery:
        raise AppError("missing X-GitHub-Delivery", 400)
    if x_github_event != "push":
        await run_in_threadpool(svc.record_delivery, session, x_github_delivery,
                                x_github_event or "unknown")
        return JSONResponse(WebhookOut(outcome=f"ignored event {x_github_event!r}").model_dump(),
                            status_code=202)
    payload = parse_payload(body, request.headers.get("content-type", ""))
    if not isinstance(payload, dict):
        raise AppError("the push payload is not a JSON object", 400)
    # jobs are sent after the response (the rows are committed before it; a job that is never
    # sent is re-sent by the sweeper), so a slow broker never delays GitHub's acknowledgement
    jobs = queue.defer_dispatch(session)
    # blocking DB work off the event loop: a lock wait must not stall other requests
    outcome, subs = await run_in_threadpool(svc.handle_push, session, settings,
                                            x_github_delivery, payload)
    return JSONResponse(WebhookOut(outcome=outcome, submissions=[s.id for s in subs]).model_dump(),
                        status_code=202, background=BackgroundTask(queue.dispatch_all, jobs))
