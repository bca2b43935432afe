"""JSON API shapes, staff-only listings, the student view without the traceback, OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.app.staff import bearer
from tests.factories import (
    make_benchmark,
    make_check_result,
    make_student,
    make_submission,
)

REPORT = {"week": 1, "title": "micrograd", "status": "grader_error", "score": 0.0,
          "max_score": 100.0, "checks": [], "message": "autograder failed",
          "staff_traceback": "Traceback: secret internals"}


def _graded(session: Session):
    ada = make_student(session, github_login="ada")
    sub = make_submission(session, student=ada, status="graded", score=7.5, max_score=10.0,
                          report_json=REPORT, grader_version="0.1.0")
    make_check_result(session, submission=sub, name="forward", points=5, max_points=5,
                      message="<b>ok</b>")
    make_check_result(session, submission=sub, name="backward", points=2.5, max_points=5,
                      passed=False, message="grad of a is off by 1e-2")
    make_benchmark(session, submission=sub)
    session.commit()  # a failing request rolls back to here (only the savepoint is released)
    return sub


def test_submission_detail_student_view(client: TestClient, db_session: Session) -> None:
    sub = _graded(db_session)
    r = client.get(f"/api/submissions/{sub.id}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"id", "github_login", "week", "status", "score", "max_score", "checks",
                         "benchmarks", "report", "received_at", "url"}
    assert body["github_login"] == "ada" and body["score"] == 7.5
    assert [c["name"] for c in body["checks"]] == ["forward", "backward"]
    assert body["benchmarks"][0]["metric"] == "val_loss"
    assert "staff_traceback" not in body["report"] and "secret internals" not in r.text
    results = client.get(f"/api/submissions/{sub.id}/results").json()
    assert results["score"] == 7.5 and results["checks"][1]["passed"] is False


def test_staff_view_and_listings_need_login(client: TestClient, db_session: Session) -> None:
    sub = _graded(db_session)
    staff = bearer(db_session, login="prof")
    assert client.get(f"/api/submissions/{sub.id}?view=staff").status_code == 401
    assert client.get("/api/submissions").status_code == 401
    wrong = {"Authorization": "Bearer zg_" + "x" * 43}
    assert client.get("/api/students", headers=wrong).status_code == 401
    r = client.get(f"/api/submissions/{sub.id}?view=staff", headers=staff)
    assert r.status_code == 200 and r.json()["report"]["staff_traceback"].startswith("Traceback")
    r = client.get("/api/submissions?login=ADA&week=1", headers=staff)
    assert [s["id"] for s in r.json()] == [sub.id]
    r = client.get("/api/students", headers=staff)
    assert r.json() == [{"github_login": "ada", "weeks": [
        {"week": 1, "best_score": 7.5, "max_score": 10.0, "submissions": 1}]}]
    assert client.get("/api/students/nobody", headers=staff).status_code == 404


def test_status_page_escapes_and_stops_refreshing(client: TestClient, db_session: Session) -> None:
    sub = _graded(db_session)
    page = client.get(f"/submissions/{sub.id}").text
    assert "&lt;b&gt;ok&lt;/b&gt;" in page and "<b>ok</b>" not in page
    assert "http-equiv" not in page and "7.5 / 10.0" in page
    assert "secret internals" not in page


def test_openapi_documents_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/submissions", "/api/submissions/{submission_id}",
            "/api/submissions/{submission_id}/results", "/api/students",
            "/webhooks/github"} <= set(paths)
    assert "/submissions/{submission_id}" not in paths  # HTML pages stay out of the schema


def test_student_summary_counts_each_submissions_newest_grading(
        client: TestClient, db_session: Session) -> None:
    from datetime import timedelta

    from app.models import utcnow

    sub = _graded(db_session)  # 7.5 / 10, graded first
    t = utcnow()
    sub.finished_at = t - timedelta(minutes=5)
    make_submission(db_session, student=sub.student, status="graded", score=4.0, max_score=10.0,
                    regrade_of=sub.id, finished_at=t)  # the regrade found a bug: 4.0 counts now
    other = make_submission(db_session, student=sub.student, status="graded", score=3.0,
                            max_score=10.0, finished_at=t)
    make_submission(db_session, student=sub.student, status="failed", regrade_of=other.id)
    db_session.commit()
    r = client.get("/api/students/ada", headers=bearer(db_session, login="prof"))
    assert r.json()["weeks"] == [{"week": 1, "best_score": 4.0, "max_score": 10.0,
                                  "submissions": 2}]  # not max(7.5, 4.0); regrades not counted
