"""Students sign in with GitHub (fake, loopback): state + PKCE, revocable sessions, own work only.

For every route that creates a submission, a signed-in student can neither submit as someone
else nor use up someone else's daily quota.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Student, Submission, WebSession
from tests.app.conftest import sign_in
from tests.app.fakegithub import FakeGitHub
from tests.app.staff import bearer, login
from tests.app.test_webhooks import post, push

OK_PY = (Path(__file__).parent.parent / "fixtures" / "service" / "week1_ok.py").read_bytes()


def _subs(session: Session, login: str) -> list[Submission]:
    return list(session.scalars(select(Submission).join(Student).where(
        func.lower(Student.github_login) == login.lower())))


def _authorize(client: TestClient, login: str) -> str:
    """Start a sign-in and approve it at the fake; the callback path + query."""
    r = client.get("/auth/github/login?next=/me", follow_redirects=False)
    auth = urlsplit(r.headers["location"])
    q = {k: v[0] for k, v in parse_qs(auth.query).items()}
    assert q["code_challenge_method"] == "S256" and len(q["state"]) >= 32
    ok = httpx.post(f"{auth.scheme}://{auth.netloc}{auth.path}", data={**q, "login": login})
    back = urlsplit(ok.headers["location"])
    return f"{back.path}?{back.query}"


def test_sign_in_uses_state_and_pkce(client: TestClient, db_session: Session,
                                     fake_github: FakeGitHub) -> None:
    callback = _authorize(client, "ada")
    r = client.get(callback, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"
    assert "zg_student" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    (exchange,) = fake_github.exchanges
    assert len(exchange["code_verifier"]) >= 43  # the fake checked S256(verifier)
    page = client.get("/me")
    assert page.status_code == 200 and 'id="me">ada<' in page.text
    # the same callback again (replay): the pending sign-in was used up
    assert client.get(callback, follow_redirects=False).status_code == 400


def test_callback_from_another_browser_or_with_wrong_state(
        client: TestClient, settings: Settings, db_session: Session) -> None:
    callback = _authorize(client, "ada")
    other = TestClient(client.app)  # no pending-sign-in cookie: a login-CSRF attempt
    r = other.get(callback, follow_redirects=False)
    assert r.status_code == 400 and "another browser" in r.text
    tampered = callback.replace("state=", "state=x")
    r = client.get(tampered, follow_redirects=False)
    assert r.status_code == 400 and "state does not match" in r.text
    assert db_session.scalar(select(func.count()).select_from(WebSession)
                             .where(WebSession.kind == "student")) == 0


def test_sign_out_deletes_the_session(client: TestClient, db_session: Session) -> None:
    csrf = sign_in(client, "ada")
    stolen = client.cookies.get("zg_student")
    assert client.post("/auth/logout", data={"csrf": "bad"}).status_code == 403
    r = client.post("/auth/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set("zg_student", stolen)
    assert client.get("/me", follow_redirects=False).status_code == 303  # to sign-in
    assert client.post("/api/submissions/upload", data={"week": "1"},
                       files={"file": ("w.py", OK_PY)}).status_code == 401


def test_unauthenticated_submissions_are_refused(client: TestClient, db_session: Session,
                                                 sent: list) -> None:
    for url, kw in [
        ("/submissions/upload", {"data": {"github_login": "ada", "week": "1"},
                                 "files": {"file": ("w.py", OK_PY)}}),
        ("/api/submissions/upload", {"data": {"github_login": "ada", "week": "1"},
                                     "files": {"file": ("w.py", OK_PY)}}),
        ("/submissions", {"data": {"github_login": "ada", "week": "1",
                                   "repo_url": "https://github.com/ada/zth"}}),
        ("/api/submissions", {"json": {"github_login": "ada", "week": 1,
                                       "repo_url": "https://github.com/ada/zth"}}),
    ]:
        r = client.post(url, follow_redirects=False, **kw)
        assert r.status_code == 401 and "sign in with GitHub" in r.text, (url, r.text)
    assert db_session.scalar(select(func.count()).select_from(Submission)) == 0 and sent == []


def test_own_fork_accepted_someone_elses_refused(client: TestClient, db_session: Session,
                                                 sent: list) -> None:
    csrf = sign_in(client, "mallory")
    r = client.post("/submissions", data={"week": "1", "csrf": csrf,
                                          "repo_url": "https://github.com/Mallory/zth"},
                    follow_redirects=False)
    assert r.status_code == 303
    for r in (client.post("/submissions", data={"week": "1", "csrf": csrf,
                                                "repo_url": "https://github.com/ada/zth"}),
              client.post("/api/submissions", json={"week": 1,
                                                    "repo_url": "https://github.com/ada/zth"})):
        assert r.status_code == 422 and "belongs to" in r.text and "not to you" in r.text
    assert [s.repo_url for s in _subs(db_session, "mallory")] == ["https://github.com/Mallory/zth"]
    assert _subs(db_session, "ada") == [] and len(sent) == 1


def test_upstream_fork_check(client: TestClient, db_session: Session, settings: Settings,
                             fake_github: FakeGitHub, sent: list) -> None:
    client.app.state.settings = settings.model_copy(
        update={"course_upstream_repo": "course/zero-to-hero"})
    sign_in(client, "ada")
    fake_github.add_fork("ada", "good")
    fake_github.add_fork("ada", "own", parent=None)
    fake_github.add_fork("ada", "elsewhere", parent="someone/else")
    fake_github.add_fork("bob", "renamed")  # GitHub answers for ada/renamed with bob's repo
    fake_github.repos["ada/renamed"] = fake_github.repos.pop("bob/renamed")

    def submit(name: str) -> httpx.Response:
        return client.post("/api/submissions", json={
            "week": 1, "repo_url": f"https://github.com/ada/{name}"})

    assert submit("good").status_code == 201
    for name, why in [("own", "not a fork of course/zero-to-hero"),
                      ("elsewhere", "not a fork of course/zero-to-hero"),
                      ("renamed", "belongs to 'bob'"), ("missing", "no public repository")]:
        r = submit(name)
        assert r.status_code == 422 and why in r.json()["detail"], (name, r.text)
    assert len(_subs(db_session, "ada")) == 1 and len(sent) == 1


def test_github_unreachable_is_a_clear_503(client: TestClient, settings: Settings,
                                           db_session: Session) -> None:
    sign_in(client, "ada")
    client.app.state.settings = settings.model_copy(update={
        "course_upstream_repo": "course/zero-to-hero", "github_api_url": "http://127.0.0.1:9"})
    r = client.post("/api/submissions", json={"week": 1, "repo_url": "https://github.com/ada/x"})
    assert r.status_code == 503 and "GitHub is unreachable" in r.json()["detail"]
    assert _subs(db_session, "ada") == []


@pytest.fixture
def tight_quota(settings: Settings, tmp_path: Path) -> Settings:
    """A course file with 2 submissions per day and open enrolment."""
    path = tmp_path / "course.toml"
    path.write_text("[quota]\nmax_per_day = 2\n[roster]\nopen_enrolment = true\n")
    settings.course_config = path
    return settings


def test_no_route_uses_up_or_raises_another_students_work(
        client: TestClient, db_session: Session, tight_quota: Settings, sent: list) -> None:
    """mallory, signed in, aims every route at ada: nothing lands on ada, her quota is whole."""
    from app.services import policies

    csrf = sign_in(client, "mallory")
    ada = Student(github_login="ada", webhook_secret="ada-secret")
    db_session.add(ada)
    db_session.commit()
    files = {"file": ("week1.py", OK_PY)}
    attempts = [
        # the web form's github_login field is ignored: recorded under mallory
        client.post("/submissions/upload", data={"github_login": "ada", "week": "1",
                                                 "csrf": csrf}, files=files,
                    follow_redirects=False),
        client.post("/api/submissions/upload", data={"github_login": "ada", "week": "1"},
                    files=files),
        client.post("/api/submissions", json={"github_login": "ada", "week": 1,
                                              "repo_url": "https://github.com/mallory/x"}),
        client.post("/submissions", data={"week": "1", "csrf": csrf,
                                          "repo_url": "https://github.com/ada/x"}),
        client.post("/api/submissions", json={"week": 1, "repo_url": "https://github.com/ada/x"}),
    ]
    assert [r.status_code for r in attempts] == [303, 403, 403, 422, 422]
    # webhooks: mallory's own fork secret cannot sign for ada's repository
    mal = db_session.scalar(select(Student).where(Student.github_login == "mallory"))
    assert mal is not None
    mal.webhook_secret = "mallory-secret"
    db_session.commit()
    forged = push()  # ada/zero-to-hero, owner ada
    assert post(client, forged, secret="mallory-secret", delivery="f1").status_code == 401
    claimed = push()
    claimed["repository"]["owner"]["login"] = "mallory"  # signed as mallory, ada's URL
    r = post(client, claimed, secret="mallory-secret", delivery="f2")
    assert r.status_code == 202 and r.json()["outcome"].startswith("refused")
    assert _subs(db_session, "ada") == []
    assert policies.quota(db_session, tight_quota, ada.id, 1) == (2, 2)
    assert [s.source for s in _subs(db_session, "mallory")] == ["upload"]


def test_staff_submit_on_behalf_recorded(client: TestClient, db_session: Session,
                                         sent: list) -> None:
    staff = bearer(db_session, login="prof")
    r = client.post("/api/submissions/upload", headers=staff,
                    data={"github_login": "ada", "week": "1"}, files={"file": ("w.py", OK_PY)})
    assert r.status_code == 201 and r.json()["github_login"] == "ada"
    assert r.json()["submitted_by"] == "prof"
    r = client.post("/api/submissions", headers=staff, json={
        "github_login": "ada", "week": 1, "repo_url": "https://github.com/bob/x"})
    assert r.status_code == 422 and "not to you" in r.json()["detail"]  # still ada's fork only
    r = client.post("/api/submissions/upload", headers=staff, data={"week": "1"},
                    files={"file": ("w.py", OK_PY)})
    assert r.status_code == 422 and "github_login" in r.json()["detail"]
    assert [s.submitted_by for s in _subs(db_session, "ada")] == ["prof"]
    login(client, db_session)
    page = client.get(f"/dashboard/submissions/{_subs(db_session, 'ada')[0].id}").text
    assert "submitted by staff prof" in page


def test_without_an_oauth_app_the_form_says_what_to_set(client: TestClient, settings: Settings,
                                                        db_session: Session) -> None:
    client.app.state.settings = settings.model_copy(update={"github_client_id": ""})
    page = client.get("/").text
    assert 'id="signin-missing"' in page and "ZEROGRAD_GITHUB_CLIENT_ID" in page
    assert 'action="/submissions/upload"' not in page
    r = client.get("/auth/github/login", follow_redirects=False)
    assert r.status_code == 503 and "not configured" in r.text
