"""Upload and fork intake through the web form and the API: validated before acceptance.

Every route acts as the student signed in through the (fake) GitHub; see test_identity.py for
what happens without a sign-in or with someone else's login.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Student, Submission
from tests.app.conftest import sign_in
from tests.app.staff import bearer

OK_PY = (Path(__file__).parent.parent / "fixtures" / "service" / "week1_ok.py").read_bytes()


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Submission)) or 0


@pytest.fixture
def csrf(client: TestClient) -> str:
    """Sign the client in as the student `ada`; the forms' CSRF token."""
    return sign_in(client, "ada")


def _upload(client: TestClient, csrf: str, name: str, data: bytes, week: int = 1,
            api: bool = False):
    return client.post("/api/submissions/upload" if api else "/submissions/upload",
                       data={"week": str(week), "csrf": csrf},
                       files={"file": (name, data)}, follow_redirects=False)


def test_form_page(client: TestClient, csrf: str) -> None:
    r = client.get("/")
    assert r.status_code == 200 and 'action="/submissions/upload"' in r.text
    assert 'name="github_login"' not in r.text  # no free-text identity on the form


def test_upload_ok_redirects_and_enqueues_after_commit(
        client: TestClient, db_session: Session, sent: list, csrf: str) -> None:
    r = _upload(client, csrf, "week1.py", OK_PY)
    assert r.status_code == 303
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    sub = db_session.get(Submission, sub_id)
    assert sub is not None and sub.status == "queued" and sub.notebook == OK_PY
    assert sub.source == "upload" and sub.filename == "week1.py" and len(sub.notebook_sha256) == 64
    assert sub.student.github_login == "ada" and sub.submitted_by is None
    assert sent == [(sub_id, 1)]
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    assert "queued" in page.text


def test_web_form_needs_csrf(client: TestClient, db_session: Session, sent: list,
                             csrf: str) -> None:
    r = _upload(client, "bad-token", "week1.py", OK_PY)
    assert r.status_code == 403
    assert _count(db_session) == 0 and sent == []


def test_upload_api_201(client: TestClient, sent: list, csrf: str) -> None:
    r = _upload(client, csrf, "w.py", OK_PY, api=True)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "queued" and body["github_login"] == "ada"
    assert sent == [(body["id"], 1)]


def test_malformed_notebook_422_nothing_stored(
        client: TestClient, db_session: Session, sent: list, csrf: str) -> None:
    students = db_session.scalar(select(func.count()).select_from(Student))
    for name, data, why in [
        ("week1.ipynb", b"{not json", "not a valid notebook"),
        ("week1.ipynb", json.dumps({"nbformat": 3, "cells": []}).encode(), "nbformat 4"),
        ("week1.ipynb", json.dumps({"nbformat": 4, "cells": []}).encode(), "no code cells"),
        ("week1.py", b"\xff\xfe\x00bad", "not UTF-8"),
    ]:
        for api in (False, True):
            r = _upload(client, csrf, name, data, api=api)
            assert r.status_code == 422, (name, r.text)
            assert why in (r.json()["detail"] if api else r.text)
    assert _count(db_session) == 0 and sent == []
    assert db_session.scalar(select(func.count()).select_from(Student)) == students == 1


def test_wrong_extension_and_week(client: TestClient, db_session: Session, sent: list,
                                  csrf: str) -> None:
    r = _upload(client, csrf, "week1.txt", OK_PY, api=True)
    assert r.status_code == 422 and "upload a .ipynb or .py" in r.json()["detail"]
    r = _upload(client, csrf, "week1.py", OK_PY, week=9, api=True)
    assert r.status_code == 422 and "week 9" in r.json()["detail"]
    r = _upload(client, csrf, "week1.py", OK_PY, api=False)
    assert r.status_code == 303
    r = _upload(client, csrf, "<script>x.txt", OK_PY)  # HTML error page is escaped
    assert r.status_code == 422 and "<script>" not in r.text and "&lt;script&gt;" in r.text
    assert _count(db_session) == 1 and len(sent) == 1


def test_huge_upload_422(client: TestClient, db_session: Session, settings, sent: list,
                         csrf: str) -> None:
    big = b"# %%\n" + b"x = 1\n" * (settings.max_upload_bytes // 6 + 10)
    r = _upload(client, csrf, "week1.py", big, api=True)
    assert r.status_code == 422 and "too large" in r.json()["detail"]
    assert _count(db_session) == 0 and sent == []


def test_body_limit_413(client: TestClient) -> None:
    r = client.post("/api/submissions/upload", content=b"x" * (27 * 1024 * 1024),
                    headers={"content-type": "application/octet-stream"})
    assert r.status_code == 413


def test_fork_form_and_api(client: TestClient, db_session: Session, sent: list,
                           csrf: str) -> None:
    r = client.post("/submissions", data={"week": "1", "csrf": csrf,
                                          "repo_url": "https://github.com/ada/zth.git"},
                    follow_redirects=False)
    assert r.status_code == 303
    sub = db_session.get(Submission, r.headers["location"].rsplit("/", 1)[1])
    assert sub and sub.repo_url == "https://github.com/ada/zth" and sub.commit_sha is None
    r = client.post("/api/submissions", json={"github_login": "Ada", "week": 2,
                                              "repo_url": "https://github.com/ada/zth",
                                              "commit_sha": "A" * 40})
    assert r.status_code == 201 and r.json()["commit_sha"] == "a" * 40
    assert r.json()["github_login"] == "ada"  # same student, case-insensitive
    assert len(sent) == 2


def test_fork_bad_url_422(client: TestClient, db_session: Session, sent: list,
                          csrf: str) -> None:
    r = client.post("/api/submissions", json={"week": 1, "repo_url": "file:///etc/passwd"})
    assert r.status_code == 422 and "only https" in r.json()["detail"]
    r = client.post("/submissions", data={"week": "1", "csrf": csrf,
                                          "repo_url": "https://u:p@github.com/a/b"})
    assert r.status_code == 422 and "credentials" in r.text
    staff = bearer(db_session)  # staff name the student; a malformed login is refused
    client.cookies.clear()
    r = client.post("/api/submissions", headers=staff, json={
        "github_login": "bad login!", "week": 1, "repo_url": "https://github.com/a/b"})
    assert r.status_code == 422 and "GitHub login" in r.json()["detail"]
    assert _count(db_session) == 0 and sent == []


def test_rollback_drops_job(db_session: Session, settings, sent: list) -> None:
    from app.services import submissions as svc

    ada = svc.get_or_create_student(db_session, "ada")
    svc.create_fork(db_session, settings, ada, 1, "https://github.com/ada/r")
    db_session.rollback()
    db_session.commit()
    assert sent == []


def test_unknown_submission_404(client: TestClient) -> None:
    assert client.get("/submissions/nope").status_code == 404
    r = client.get("/api/submissions/nope")
    assert r.status_code == 404 and r.json() == {"detail": "submission not found"}
