"""A signed push webhook for a fork on a loopback git server ends graded by a real worker."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from app.config import Settings
from tests.app.gitserver import GitServer, make_repo
from tests.workers.e2e import Worker, api, check_counts, statuses, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "e2e-webhook-secret"
NOTEBOOK = Path(__file__).resolve().parents[1] / "fixtures" / "week1" / "week1.ipynb"


def push_body(repo_url: str, sha: str) -> bytes:
    """A GitHub push payload changing weeks/week1.ipynb at `sha`."""
    return json.dumps({
        "ref": "refs/heads/main", "after": sha,
        "repository": {"html_url": repo_url, "clone_url": repo_url,
                       "full_name": "carol/zero-to-hero", "owner": {"login": "carol"}},
        "sender": {"login": "carol"},
        "commits": [{"added": ["weeks/week1.ipynb"], "modified": [], "removed": []}],
    }).encode()


def signed(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig, "Content-Type": "application/json"}


def test_push_to_loopback_fork_is_graded_once(wsettings: Settings, redis_url: str,
                                              tmp_path: Path) -> None:
    root = tmp_path / "repos"
    sha = make_repo(root, "carol/fork", {"weeks/week1.ipynb": NOTEBOOK.read_bytes(),
                                   "README.md": b"my fork\n"})
    with GitServer(root) as srv:
        settings = wsettings.model_copy(update={
            "redis_url": redis_url, "webhook_secret": SECRET, "allowed_git_hosts": [srv.hostport],
            "stuck_after_s": 30, "sweep_interval_s": 2, "task_soft_time_limit_s": 20,
            "task_time_limit_s": 25, "broker_visibility_timeout_s": 28})
        body = push_body(srv.url("carol/fork"), sha)  # the owner is the repo URL's
        w = Worker(settings, tmp_path / "worker.log", beat=False)
        try:
            with api(settings) as client:
                bad = client.post("/webhooks/github", content=body,
                                  headers=signed(body, "d-0", secret="wrong"))
                assert bad.status_code == 401
                ids = set()
                for _ in range(5):  # GitHub redelivers: one submission
                    r = client.post("/webhooks/github", content=body, headers=signed(body, "d-1"))
                    assert r.status_code == 202, r.text
                    ids.update(r.json()["submissions"])
                (sid,) = ids
                wait_for(lambda: statuses(settings, [sid])[sid][0] in ("graded", "failed"), 90,
                         "graded")
                detail = client.get(f"/api/submissions/{sid}").json()
        finally:
            w.stop()
    assert detail["status"] == "graded", (detail, w.output()[-3000:])
    assert detail["commit_sha"] == sha and detail["score"] == detail["max_score"] == 100
    assert statuses(settings, [sid])[sid] == ("graded", 1)
    assert check_counts(settings, [sid])[sid] > 0
