"""GitHub webhooks: HMAC-checked, deduplicated, answered 202 without cloning anything.

A push maps its changed paths to weeks by grader/discover.py's rule; only when the payload's
commit list is truncated does it make one GitHub API call (the commit's tree). The blocking
work of a delivery runs in one worker thread; its jobs go to the sender child once committed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from app import queue
from app.config import Settings
from app.routes.deps import SessionDep, SettingsDep
from app.schemas import WebhookOut
from app.services import github, pushes
from app.services.forks import repo_owner

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
HEADERS = {"X-GitHub-Event": "push, ping, …", "X-GitHub-Delivery": "the delivery's GUID",
           "X-Hub-Signature-256": "sha256=HMAC-SHA256(secret, raw body)"}
# read from request.headers (documented here): Header() parameters cost a validation each
_OPENAPI = {"parameters": [{"name": k, "in": "header", "required": False,
                            "description": v, "schema": {"type": "string"}}
                           for k, v in HEADERS.items()]}


def _refuse_over_quota(settings: Settings, res: pushes.PushResult) -> None:
    """Post a failure status on the commit for each week over the daily limit."""
    owner, name = repo_owner(res.repo_url)
    for week in res.over_quota:
        github.post_status(settings, owner, name, res.sha, "failure",
                           f"zerograd: daily limit reached for week {week}; not graded",
                           f"{settings.public_url}/me", f"zerograd/week{week}")


@router.post("/github", response_model=WebhookOut, status_code=202, openapi_extra=_OPENAPI,
             responses={200: {"description": "ping"}, 401: {"description": "bad signature"}})
async def github_webhook(request: Request, session: SessionDep,
                         settings: SettingsDep) -> JSONResponse:
    """`ping` → 200; `push` → one queued submission per changed week notebook.

    Signed with the course secret (GitHub App / organisation webhook) or with the repository
    owner's own fork secret; anything else is 401.
    """
    h = request.headers
    delivery = pushes.Delivery(h.get("x-github-event", ""), h.get("x-github-delivery", ""),
                               h.get("x-hub-signature-256"), h.get("content-type", ""),
                               await request.body())
    # the rows are committed before the response; a job that is never sent (a crash) is
    # re-sent by the sweeper, so a slow broker never delays GitHub's acknowledgement
    queue.send_in_background(session)
    # blocking DB work off the event loop: a lock wait must not stall other requests
    res = await run_in_threadpool(pushes.receive, session, settings, delivery)
    refuse = BackgroundTask(_refuse_over_quota, settings, res) if res.over_quota else None
    return JSONResponse(WebhookOut(outcome=res.outcome, submissions=res.created).model_dump(),
                        status_code=200 if delivery.event == "ping" else 202, background=refuse)
