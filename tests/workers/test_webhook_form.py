"""GitHub's default webhook content type (application/x-www-form-urlencoded, payload=…) is
accepted; the HMAC is checked on the raw form body, so a tampered payload is still refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.models import Submission
from tests.workers.e2e import api

pytestmark = pytest.mark.integration
SECRET = "form-secret"
SHA = "89abcdef0123456789abcdef0123456789abcdef"


def form_delivery(payload: dict, delivery: str, secret: str = SECRET) -> tuple[bytes, dict]:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                  "X-Hub-Signature-256": sig,
                  "Content-Type": "application/x-www-form-urlencoded"}


PUSH = {"ref": "refs/heads/main", "after": SHA,
        "repository": {"html_url": "https://github.com/dora/zero-to-hero",
                       "owner": {"login": "dora"}},
        "sender": {"login": "dora"},
        "commits": [{"added": ["weeks/week1.ipynb"], "modified": [], "removed": []}]}


def test_form_encoded_push_is_accepted_and_tampering_refused(wsettings: Settings) -> None:
    s = wsettings.model_copy(update={"webhook_secret": SECRET})
    with api(s) as client:
        body, headers = form_delivery(PUSH, "form-1")
        r = client.post("/webhooks/github", content=body, headers=headers)
        assert r.status_code == 202, r.text
        assert len(r.json()["submissions"]) == 1
        forged = body.replace(b"dora", b"eve0")  # same signature, different owner
        r = client.post("/webhooks/github", content=forged,
                        headers={**headers, "X-GitHub-Delivery": "form-2"})
        assert r.status_code == 401
        _, headers = form_delivery({}, "form-3")
        r = client.post("/webhooks/github", content=b"nopayload=1", headers={
            **headers, "X-Hub-Signature-256": "sha256=" + hmac.new(
                SECRET.encode(), b"nopayload=1", hashlib.sha256).hexdigest()})
        assert r.status_code == 400 and "payload field" in r.json()["detail"]
    with session_scope(s) as session:
        rows = session.scalars(select(Submission)).all()
        assert [(x.source, x.commit_sha, x.student.github_login) for x in rows] == [
            ("webhook", SHA, "dora")]
