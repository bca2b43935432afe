"""GitHub webhooks: HMAC-checked, deduplicated, answered 202 without cloning anything.

A push maps its changed paths to weeks by grader/discover.py's rule; only when the payload's
commit list is truncated does it make one GitHub API call (the commit's tree).
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app import queue
from app.config import Settings
from app.errors import AppError
from app.routes.deps import SessionDep, SettingsDep
from app.schemas import WebhookOut
from app.services import github, pushes
from app.services import submissions as svc
from app.services.forks import repo_owner

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _refuse_over_quota(settings: Settings, res: pushes.PushResult) -> None:
    """Post a failure status on the commit for each week over the daily limit."""
    owner, name = repo_owner(res.repo_url)
    for week in res.over_quota:
        github.post_status(settings, owner, name, res.sha, "failure",
                           f"zerograd: daily limit reached for week {week}; not graded",
                           f"{settings.public_url}/me", f"zerograd/week{week}")


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
    request: Request, session: SessionDep, settings: SettingsDep, background: BackgroundTasks,
    x_github_event: Annotated[str, Header()] = "",
    x_github_delivery: Annotated[str, Header()] = "",
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """`ping` → 200; `push` → one queued submission per changed week notebook.

    Signed with the course secret (GitHub App / organisation webhook) or with the repository
    owner's own fork secret; anything else is 401.
    """
    body = await request.body()
    trust = await run_in_threadpool(pushes.verify, session, settings, body, x_hub_signature_256)
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
    res = await run_in_threadpool(pushes.handle_push, session, settings, x_github_delivery,
                                  payload, trust)
    background.add_task(queue.dispatch_all, jobs)
    if res.over_quota:
        background.add_task(_refuse_over_quota, settings, res)
    return JSONResponse(WebhookOut(outcome=res.outcome,
                                   submissions=[s.id for s in res.created]).model_dump(),
                        status_code=202)
