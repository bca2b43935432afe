"""Dashboard: every staff route protected, gradebook, exports, regrade, policies, XSS."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Submission
from tests.app.conftest import sign_in
from tests.app.staff import login
from tests.factories import (
    make_benchmark,
    make_check_result,
    make_student,
    make_submission,
)

PUBLIC = {"/", "/submissions", "/submissions/upload", "/submissions/{submission_id}",
          "/webhooks/github", "/login", "/static", "/docs", "/docs/oauth2-redirect", "/redoc",
          "/openapi.json", "/healthz", "/api/submissions", "/api/submissions/upload",
          "/api/submissions/{submission_id}", "/api/submissions/{submission_id}/results",
          # student sign-in and the student's page (tests/app/test_identity.py)
          "/auth/github/login", "/auth/github/callback", "/auth/logout", "/me",
          "/me/webhook-secret",
          # the student leaderboard and pseudonym (tests/app/test_capstone_views.py)
          "/leaderboard", "/me/pseudonym"}
PUBLIC_METHODS = {("/api/submissions", "GET")}  # the listing is staff-only
DEADLINE = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
POLICY = """
[late]
penalty_per_day = 0.1
max_penalty = 0.3
[quota]
max_per_day = 2
[roster]
open_enrolment = true
[weeks.1]
deadline = "2026-01-10T12:00:00Z"
hidden_checks = ["secret_check"]
"""


def walk(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers and mounts."""
    out: list[tuple[str, set[str]]] = []
    for r in routes:
        if hasattr(r, "original_router"):
            out += walk(r.original_router.routes, prefix + r.include_context.prefix)
        elif hasattr(r, "methods") and r.methods:
            out.append((prefix + r.path, set(r.methods) - {"HEAD"}))
        else:
            out.append((prefix + r.path, {"GET"}))
    return out


@pytest.fixture
def policy(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "course.toml"
    path.write_text(POLICY)
    settings.course_config = path
    return settings


def test_every_staff_route_requires_login(client) -> None:  # type: ignore[no-untyped-def]
    routes = walk(client.app.routes)
    paths = {p for p, _ in routes}
    assert {"/dashboard", "/dashboard/queue", "/dashboard/export/grades.csv"} <= paths
    checked = 0
    for path, methods in routes:
        for method in methods:
            if (path in PUBLIC or path.startswith("/static")) and (path, method) \
                    not in PUBLIC_METHODS:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            r = client.request(method, url, follow_redirects=False)
            assert r.status_code in (303, 401), (method, path, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login?next=")
            checked += 1
    assert checked >= 12


def _graded(session: Session, student: Any, score: float, received: datetime,
            **kw: Any) -> Submission:
    return make_submission(session, student=student, status="graded", score=score,
                           max_score=10.0, received_at=received,
                           started_at=received + timedelta(seconds=5),
                           finished_at=received + timedelta(seconds=8), **kw)


def test_gradebook_best_latest_late_and_csv(client, db_session: Session,  # type: ignore[no-untyped-def]
                                            policy: Settings) -> None:
    alice, bob = make_student(db_session, github_login="alice"), make_student(
        db_session, github_login="bob")
    _graded(db_session, alice, 6.0, DEADLINE - timedelta(days=1))
    _graded(db_session, alice, 10.0, DEADLINE + timedelta(hours=30))  # 2 days late: x0.8
    _graded(db_session, bob, 9.0, DEADLINE - timedelta(hours=1), week=1)
    _graded(db_session, bob, 4.0, DEADLINE + timedelta(days=30), week=2)  # no deadline for 2
    login(client, db_session)
    html = client.get("/dashboard?sort=w1&desc=true").text
    assert html.index("bob") < html.index("alice")  # 9 > 8
    assert "<b>8</b>" in html and 'class="late"' in html
    rows = list(csv.reader(io.StringIO(client.get("/dashboard/export/grades.csv").text)))
    assert rows[0][:3] == ["github_login", "week1", "week2"]
    by = {r[0]: r for r in rows[1:]}
    assert by["alice"][1] == "8" and by["bob"][1:3] == ["9", "4"] and by["bob"][-1] == "13"
    assert "bob" in client.get("/dashboard?q=BO").text
    assert "alice" not in client.get("/dashboard?q=bo").text
    page = client.get("/dashboard?per_page=5&page=1&missing=2").text
    assert "alice" in page and ">bob<" not in page


def test_detail_regrade_and_gradescope(client, db_session: Session, sent) -> None:  # type: ignore[no-untyped-def]
    report = {"week": 1, "title": "micrograd", "status": "graded", "score": 1.0,
              "max_score": 2.0, "message": "", "stdout": "<script>alert(1)</script>",
              "stderr": "", "cell_errors": [], "sandbox": {}, "grader_version": "0.1.0",
              "staff_traceback": "Traceback: secret staff detail",
              "timings": {"prepare": 0.1, "run": 0.5, "check": 0.2, "total": 0.9},
              "checks": [{"name": "grad", "points": 1.0, "max_points": 1.0, "passed": True,
                          "message": "ok", "duration_s": 0.1,
                          "details": {"max_diff": 1.5e-9}},
                         {"name": "tanh", "points": 0.0, "max_points": 1.0, "passed": False,
                          "message": "<img src=x onerror=alert(2)>", "duration_s": 0.1}],
              # the curve shape the trusted side writes (a top-level "curves" key is not drawn)
              "extras": {"curves": {"steps": [0, 5, 10], "student": [3.0, 2.5, 2.1],
                                    "reference": [3.0, 2.4, 2.0], "label": "loss"}}}
    sub = _graded(db_session, make_student(db_session), 1.0, DEADLINE, report_json=report,
                  filename="<svg onload=alert(3)>.py", worker="host:1:zg-grader_0")
    make_check_result(db_session, submission=sub, name="grad", message="ok")
    make_check_result(db_session, submission=sub, name="tanh", passed=False, points=0.0,
                      message="<img src=x onerror=alert(2)>")
    token = login(client, db_session)
    html = client.get(f"/dashboard/submissions/{sub.id}").text
    for raw in ("<script>alert(1)", "<img src=x onerror", "<svg onload"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "secret staff detail" in html and "max_diff" in html and "<polyline" in html
    assert "0.60 s" in html  # run phase = prepare + run
    student = client.get(f"/submissions/{sub.id}").text  # the student page: no traceback
    assert "secret staff detail" not in student and "<script>alert(1)" not in student
    gs = client.get(f"/dashboard/submissions/{sub.id}/results.json").json()
    assert gs["score"] == 1.0 and [t["name"] for t in gs["tests"]] == ["grad", "tanh"]
    assert client.post(f"/dashboard/submissions/{sub.id}/regrade",
                       data={"csrf": "forged"}).status_code == 403
    r = client.post(f"/dashboard/submissions/{sub.id}/regrade", data={"csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    new = db_session.scalar(select(Submission).where(Submission.regrade_of == sub.id))
    assert new is not None and new.status == "queued" and new.notebook == sub.notebook
    assert sent == [(new.id, 1)]
    assert db_session.get(Submission, sub.id).score == 1.0  # old result kept


def test_week_regrade_and_pages(client, db_session: Session, sent) -> None:  # type: ignore[no-untyped-def]
    s1, s2 = make_student(db_session), make_student(db_session)
    old = _graded(db_session, s1, 3.0, DEADLINE - timedelta(days=2), week=3)
    latest = _graded(db_session, s1, 5.0, DEADLINE - timedelta(days=1), week=3)
    other = _graded(db_session, s2, 7.0, DEADLINE, week=3)
    make_check_result(db_session, submission=latest, name="shapes", passed=False, points=0)
    make_submission(db_session, student=s2, week=5, status="running",
                    started_at=datetime.now(UTC) - timedelta(hours=2), worker="gpu-box:7:t")
    make_benchmark(db_session, submission=other, metric="tokens_per_s", value=100.0, seed=0)
    make_benchmark(db_session, submission=other, metric="tokens_per_s", value=120.0, seed=1)
    token = login(client, db_session)
    week = client.get("/dashboard/weeks/3").text
    assert "<svg" in week and "shapes" in week and "Median grading time" in week
    queue = client.get("/dashboard/queue").text
    assert "gpu-box:7:t" in queue and "running <b>1</b>" in queue
    board = client.get("/dashboard/leaderboard").text
    assert "110" in board and "n=2" in board
    assert "Late penalty" in client.get("/dashboard/policies").text
    r = client.post("/dashboard/weeks/3/regrade", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and "regraded=3" in r.headers["location"]
    regraded = set(db_session.scalars(select(Submission.regrade_of)
                                      .where(Submission.regrade_of.is_not(None))))
    # every submission of the week (its new grading replaces its old one), not only the latest
    assert regraded == {old.id, latest.id, other.id} and len(sent) == 3


def test_empty_leaderboard(client, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login(client, db_session)
    assert 'id="empty-board"' in client.get("/dashboard/leaderboard").text


def test_hidden_checks_and_quota(client, db_session: Session, policy: Settings,  # type: ignore[no-untyped-def]
                                 monkeypatch: pytest.MonkeyPatch, sent) -> None:
    from app.services import policies

    monkeypatch.setattr(policies, "utcnow", lambda: DEADLINE - timedelta(days=1))
    sub = _graded(db_session, make_student(db_session), 3.0, DEADLINE - timedelta(days=2))
    make_check_result(db_session, submission=sub, name="public_check", points=1.0)
    make_check_result(db_session, submission=sub, name="secret_check", points=2.0,
                      max_points=2.0)
    db_session.commit()
    page = client.get(f"/submissions/{sub.id}").text
    assert "public_check" in page and "secret_check" not in page and "1 more check" in page
    res = client.get(f"/api/submissions/{sub.id}/results").json()
    assert [c["name"] for c in res["checks"]] == ["public_check"] and res["score"] == 1.0
    detail = client.get(f"/api/submissions/{sub.id}").json()
    assert "secret_check" not in str(detail)
    login(client, db_session)
    assert "secret_check" in client.get(f"/dashboard/submissions/{sub.id}").text
    monkeypatch.setattr(policies, "utcnow", lambda: DEADLINE + timedelta(days=1))
    assert "secret_check" in client.get(f"/submissions/{sub.id}").text
    # quota: 2 per student, week and UTC day
    monkeypatch.setattr(policies, "utcnow", lambda: datetime.now(UTC))
    sign_in(client, "quota-q")
    codes = [client.post("/api/submissions/upload", data={"week": "1"},
                         files={"file": ("w.py", b"x = 1\n", "text/x-python")}).status_code
             for _ in range(3)]
    assert codes[:2] == [201, 201] and codes[2] == 429
    last = client.post("/api/submissions/upload", data={"week": "1"},
                       files={"file": ("w.py", b"x = 1\n", "text/x-python")})
    assert "daily limit" in last.json()["detail"]


def test_leaderboard_uses_per_seed_rows_not_aggregates(client, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    sub = _graded(db_session, make_student(db_session), 90.0, DEADLINE, week=6)
    for seed, v in enumerate([100.0, 120.0, 140.0]):
        make_benchmark(db_session, submission=sub, metric="tokens_per_s", value=v, seed=seed)
    make_benchmark(db_session, submission=sub, metric="tokens_per_s", value=120.0, seed=None)
    make_benchmark(db_session, submission=sub, metric="tokens_per_s_std", value=20.0, seed=None)
    login(client, db_session)
    board = client.get("/dashboard/leaderboard").text
    assert "120" in board and "n=3" in board and "± 20" in board
    assert "tokens_per_s_std" not in board


def test_architect_board_ranks_by_speed_ratio_with_its_spread(client, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    for login_, ratios, ms in (("slow-ratio", [0.5, 0.6, 0.7], 9.0),
                               ("fast-ratio", [1.1, 1.2, 1.3], 1.0)):
        sub = _graded(db_session, make_student(db_session, github_login=login_), 90.0,
                      DEADLINE, week=6)
        for seed, v in enumerate(ratios):
            for metric, value in (("speed_ratio", v), ("ms_per_iter", ms)):
                make_benchmark(db_session, submission=sub, track="architect", metric=metric,
                               value=value, seed=seed)
    login(client, db_session)
    board = client.get("/dashboard/leaderboard").text
    assert board.index("fast-ratio") < board.index("slow-ratio")  # by ratio, not ms/iter
    assert "1.2 ± 0.1" in board and "n=3" in board
