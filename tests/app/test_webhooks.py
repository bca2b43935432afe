"""GitHub webhooks: signatures, ping, push → submissions, deduplication."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Submission, WebhookDelivery
from tests.dbfixtures import WEBHOOK_SECRET

SHA = "0123456789abcdef0123456789abcdef01234567"


def push(after: str = SHA, paths: tuple[str, ...] = ("week1.ipynb",), **kw: Any) -> dict:
    """A minimal push payload."""
    return {"ref": "refs/heads/main", "after": after, "deleted": False,
            "repository": {"html_url": "https://github.com/ada/zero-to-hero",
                           "owner": {"login": "ada"}},
            "sender": {"login": "ada"},
            "commits": [{"id": after, "added": list(paths), "modified": [], "removed": []}],
            **kw}


def post(client: TestClient, payload: Any, event: str = "push", delivery: str = "d-1",
         secret: str = WEBHOOK_SECRET, signature: str | None = None):
    body = json.dumps(payload).encode()
    sig = signature or "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig,
        "Content-Type": "application/json"})


def _subs(session: Session) -> list[Submission]:
    return list(session.scalars(select(Submission).order_by(Submission.week)))


def test_bad_signatures_401(client: TestClient, db_session: Session, sent: list) -> None:
    assert post(client, push(), secret="wrong").status_code == 401
    assert post(client, push(), signature="sha1=abc").status_code == 401
    r = client.post("/webhooks/github", content=b"{}", headers={"X-GitHub-Event": "push"})
    assert r.status_code == 401 and "X-Hub-Signature-256" in r.json()["detail"]
    # signature over different bytes than were sent
    body = json.dumps(push()).encode()
    sig = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body + b" ", hashlib.sha256).hexdigest()
    r = client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "x", "X-Hub-Signature-256": sig})
    assert r.status_code == 401
    assert _subs(db_session) == [] and sent == []


def test_ping_200(client: TestClient) -> None:
    r = post(client, {"zen": "Keep it logically awesome."}, event="ping")
    assert r.status_code == 200 and r.json()["outcome"] == "pong"


def test_push_creates_one_submission_per_week(
        client: TestClient, db_session: Session, sent: list) -> None:
    # issue 11: any folder counts (notes/week3.ipynb is week 3); other names do not
    payload = push(paths=("week1.ipynb", "weeks/week2.ipynb", "README.md", "notes/week3.ipynb",
                          "notes/lecture4.ipynb", ".ipynb_checkpoints/week5.ipynb"))
    r = post(client, payload)
    assert r.status_code == 202, r.text
    subs = _subs(db_session)
    assert [(s.week, s.source, s.commit_sha) for s in subs] == [(1, "webhook", SHA),
                                                               (2, "webhook", SHA),
                                                               (3, "webhook", SHA)]
    assert subs[0].repo_url == "https://github.com/ada/zero-to-hero"
    assert subs[0].student.github_login == "ada"
    assert sorted(r.json()["submissions"]) == sorted(s.id for s in subs)
    assert sorted(sent) == sorted((s.id, s.week) for s in subs)


def test_same_delivery_five_times_one_submission(
        client: TestClient, db_session: Session, sent: list) -> None:
    codes = [post(client, push(), delivery="same").status_code for _ in range(5)]
    assert codes == [202] * 5
    assert len(_subs(db_session)) == 1 and len(sent) == 1
    assert db_session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_redelivery_with_new_id_dedupes_by_commit(
        client: TestClient, db_session: Session, sent: list) -> None:
    for i in range(3):
        assert post(client, push(), delivery=f"new-{i}").status_code == 202
    assert len(_subs(db_session)) == 1 and len(sent) == 1
    assert post(client, push(after="f" * 40), delivery="other-sha").status_code == 202
    assert len(_subs(db_session)) == 2


def test_ignored_pushes(client: TestClient, db_session: Session, sent: list) -> None:
    outcomes = [
        post(client, push(paths=("README.md",)), delivery="a").json()["outcome"],
        post(client, push(after="0" * 40, deleted=True), delivery="b").json()["outcome"],
        post(client, push(ref="refs/tags/v1"), delivery="c").json()["outcome"],
        post(client, push(repository={"html_url": "https://evil.example/a/b",
                                      "owner": {"login": "x"}}), delivery="d").json()["outcome"],
        post(client, {"action": "opened"}, event="issues", delivery="e").json()["outcome"],
    ]
    assert [o.split(":")[0] for o in outcomes] == ["ignored"] * 4 + ["ignored event 'issues'"]
    assert _subs(db_session) == [] and sent == []
    row = db_session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "a"))
    assert row is not None and row.outcome == "ignored: no week notebook changed"


def test_bad_payload_400(client: TestClient) -> None:
    body = b"payload=%7B%7D"
    sig = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "z", "X-Hub-Signature-256": sig})
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]


def test_no_secret_configured_401(settings, db_session: Session) -> None:
    from app.db import get_session
    from app.main import create_app

    app = create_app(settings.model_copy(update={"webhook_secret": ""}))
    app.dependency_overrides[get_session] = lambda: db_session
    c = TestClient(app)
    r = c.post("/webhooks/github", content=b"{}", headers={"X-GitHub-Event": "ping"})
    assert r.status_code == 401 and "no course webhook secret" in r.json()["detail"]
    # an empty course secret never verifies anything, not even an HMAC keyed with ""
    r = post(c, push(), secret="")
    assert r.status_code == 401
