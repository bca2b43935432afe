"""Pushes without shared student secrets: GitHub App, organisation (Classroom) and fork secrets.

Also: pushes count toward the daily quota, and a push over it is refused with a commit status.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import RosterEntry, Student, Submission
from tests.app.conftest import sign_in
from tests.app.fakegithub import FakeGitHub
from tests.app.test_webhooks import SHA, post, push


@pytest.fixture
def closed(settings: Settings, tmp_path: Path) -> Settings:
    """Closed enrolment (roster: ada), a Classroom org, 1 submission per day."""
    path = tmp_path / "course.toml"
    path.write_text("[quota]\nmax_per_day = 1\n[roster]\nopen_enrolment = false\n"
                    'students = ["ada"]\n')
    settings.course_config = path
    settings.github_org = "course-org"
    return settings


def _repo(owner: str, name: str) -> dict:
    return {"html_url": f"https://github.com/{owner}/{name}", "name": name,
            "owner": {"login": owner}}


def _outcome(client: TestClient, payload: dict, delivery: str, **kw: str) -> str:
    r = post(client, payload, delivery=delivery, **kw)
    assert r.status_code == 202, r.text
    return str(r.json()["outcome"])


def _weeks(session: Session, login: str) -> list[tuple[int, str]]:
    return [(s.week, s.repo_url or "") for s in session.scalars(
        select(Submission).join(Student).where(Student.github_login == login)
        .order_by(Submission.week))]


def test_app_push_needs_the_owner_on_the_roster(client: TestClient, db_session: Session,
                                                closed: Settings, sent: list) -> None:
    assert _outcome(client, push(repository=_repo("eve", "zth")), "a1").startswith(
        "refused: eve is not on this course's roster")
    assert _outcome(client, push(installation={"id": 7}), "a2").startswith("queued 1")
    assert _weeks(db_session, "ada") == [(1, "https://github.com/ada/zero-to-hero")]
    assert db_session.scalar(select(Student).where(Student.github_login == "eve")) is None


def test_app_installation_must_be_the_courses(client: TestClient, db_session: Session,
                                              closed: Settings, sent: list) -> None:
    closed.github_app_installation_id = 42
    assert _outcome(client, push(installation={"id": 7}), "i1") == \
        "refused: not the course's GitHub App installation"
    assert _outcome(client, push(installation={"id": 42}), "i2").startswith("queued 1")


def test_org_repo_belongs_to_the_roster_login_in_its_name(
        client: TestClient, db_session: Session, closed: Settings, sent: list) -> None:
    db_session.add(RosterEntry(login_lower="bo-b", github_login="Bo-B"))
    db_session.add(RosterEntry(login_lower="b", github_login="b"))
    db_session.commit()
    out = _outcome(client, push(repository=_repo("Course-Org", "week1-bo-b")), "o1")
    assert out.startswith("queued 1")  # the longest roster match: bo-b, not b
    out = _outcome(client, push(repository=_repo("course-org", "week1-ADA"), after="e" * 40),
                   "o2")
    assert out.startswith("queued 1")
    assert _outcome(client, push(repository=_repo("course-org", "week1-nobody")), "o3") == \
        "refused: no roster login matches the repository name 'week1-nobody'"
    assert _weeks(db_session, "Bo-B") == [(1, "https://github.com/Course-Org/week1-bo-b")]
    assert _weeks(db_session, "ada") == [(1, "https://github.com/course-org/week1-ADA")]


def test_fork_secret_shown_on_the_page_verifies_only_its_owner(
        client: TestClient, db_session: Session, settings: Settings, sent: list) -> None:
    settings.webhook_secret = ""  # no course secret at all: personal forks only
    sign_in(client, "ada")
    page = client.get("/me").text
    secret = page.split('id="webhook-secret">', 1)[1].split("<", 1)[0]
    assert len(secret) >= 40 and "/webhooks/github" in page
    assert _outcome(client, push(), "f1", secret=secret).startswith("queued 1")
    bob_repo = push(repository=_repo("bob", "zth"))
    assert post(client, bob_repo, delivery="f2", secret=secret).status_code == 401
    # a new secret: the old one stops verifying at once
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/me/webhook-secret", data={"csrf": csrf},
                       follow_redirects=False).status_code == 303
    assert post(client, push(after="d" * 40), delivery="f3", secret=secret).status_code == 401
    assert _weeks(db_session, "ada") == [(1, "https://github.com/ada/zero-to-hero")]
    assert db_session.scalar(select(Student).where(Student.github_login == "bob")) is None


def test_push_over_the_quota_is_refused_with_a_status(
        client: TestClient, db_session: Session, closed: Settings, fake_github: FakeGitHub,
        sent: list) -> None:
    sign_in(client, "ada")
    assert client.post("/api/submissions/upload", data={"week": "1"},
                       files={"file": ("w.py", b"x = 1\n")}).status_code == 201
    out = _outcome(client, push(paths=("week1.ipynb", "week2.ipynb")), "q1")
    assert out == "queued 1 of 2 week(s); over the daily limit: week 1"
    assert [(s["sha"], s["state"], s["context"]) for s in fake_github.statuses] == [
        (SHA, "failure", "zerograd/week1")]
    assert "daily limit" in fake_github.statuses[0]["description"]
    assert [w for w, _ in _weeks(db_session, "ada")] == [1, 2]  # the upload and week 2's push
    # a push counts too: the next upload of week 2 is over the limit
    r = client.post("/api/submissions/upload", data={"week": "2"},
                    files={"file": ("w.py", b"x = 1\n")})
    assert r.status_code == 429
    assert "Week 2: 0 of 1 left today" in client.get("/me").text
