"""Commit statuses against a fake GitHub API on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.config import Settings
from app.models import Submission
from grader.report import GradeReport
from workers import github_status


@pytest.fixture
def fake_github() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback server recording POSTs; answers 201."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "auth": self.headers["Authorization"],
                         "body": json.loads(body)})
            self.send_response(201 if "/broken/" not in self.path else 500)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    srv.shutdown()
    srv.server_close()


def sub(**kw: Any) -> Submission:
    kw.setdefault("id", "abc")
    kw.setdefault("week", 1)
    kw.setdefault("source", "webhook")
    kw.setdefault("repo_url", "https://github.com/alice/zero-to-hero")
    kw.setdefault("commit_sha", "c" * 40)
    return Submission(**kw)


REPORT = GradeReport(week=1, title="t", status="graded", score=87.0, max_score=100.0)


def test_posts_score_to_statuses_api(fake_github: tuple[str, list]) -> None:
    url, seen = fake_github
    s = Settings(github_token="tok", github_api_url=url, base_url="https://zg.example")
    assert github_status.post_for(sub(), REPORT, s)
    assert seen == [{"path": f"/repos/alice/zero-to-hero/statuses/{'c' * 40}",
                     "auth": "Bearer tok",
                     "body": {"state": "success", "description": "zerograd: 87/100",
                              "target_url": "https://zg.example/submissions/abc",
                              "context": "zerograd/week1"}}]


def test_student_error_and_grader_error_states() -> None:
    crash = GradeReport(week=2, title="", status="student_error", score=10, max_score=100)
    ours = GradeReport(week=2, title="", status="grader_error", score=0, max_score=100)
    assert github_status.status_payload(crash, "u", 2)["state"] == "failure"
    assert github_status.status_payload(ours, "u", 2)["state"] == "error"


def test_nothing_posted_without_token_for_uploads_or_on_errors(
        fake_github: tuple[str, list]) -> None:
    url, seen = fake_github
    with_token = Settings(github_token="tok", github_api_url=url)
    assert not github_status.post_for(sub(), REPORT, Settings(github_api_url=url))
    assert not github_status.post_for(sub(source="upload"), REPORT, with_token)
    assert not github_status.post_for(sub(commit_sha="main"), REPORT, with_token)
    assert len(seen) == 0
    # a failing API is logged, never raised
    assert not github_status.post_for(sub(repo_url="https://github.com/broken/x"), REPORT,
                                      with_token)
    down = Settings(github_token="tok", github_api_url="http://127.0.0.1:1")
    assert not github_status.post_for(sub(), REPORT, down)


def test_owner_repo() -> None:
    assert github_status.owner_repo("https://github.com/a-b/c.d.git") == ("a-b", "c.d")
    assert github_status.owner_repo("https://github.com/a") is None
