"""Roster (CSV import, course.toml, closed enrolment), staff API tokens, the shared rate limiter,
and the secret-key start-up check."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import ratelimit
from app.config import Settings
from app.models import RosterEntry, Submission
from tests.app.conftest import sign_in
from tests.app.staff import bearer, csrf_of, login

OK_PY = (Path(__file__).parent.parent / "fixtures" / "service" / "week1_ok.py").read_bytes()


@pytest.fixture
def closed(settings: Settings, tmp_path: Path) -> Settings:
    """Closed enrolment; course.toml lists only `listed`."""
    path = tmp_path / "course.toml"
    path.write_text('[roster]\nopen_enrolment = false\nstudents = [{ login = "Listed", '
                    'section = "B" }]\n')
    settings.course_config = path
    return settings


@pytest.fixture(autouse=True)
def _fresh_limiter() -> None:
    ratelimit._limiter.cache_clear()


def _upload(client: TestClient) -> int:
    return client.post("/api/submissions/upload", data={"week": "1"},
                       files={"file": ("w.py", OK_PY)}).status_code


def test_off_roster_refused_until_imported(client: TestClient, db_session: Session,
                                           closed: Settings, sent: list) -> None:
    sign_in(client, "newbie")
    r = client.post("/api/submissions/upload", data={"week": "1"},
                    files={"file": ("w.py", OK_PY)})
    assert r.status_code == 403 and "not on this course's roster" in r.json()["detail"]
    assert 'id="not-enrolled"' in client.get("/me").text
    token = login(client, db_session)
    page = client.get("/dashboard/roster").text
    assert "Listed" in page and "course.toml" in page
    csv_text = "github_login,name,email,section\nNewBie,New Bie,nb@example.edu,A\nada,,,\n"
    r = client.post("/dashboard/roster", data={"csrf": csrf_of(page)},
                    files={"file": ("roster.csv", csv_text.encode())}, follow_redirects=False)
    assert r.status_code == 303 and "added=2" in r.headers["location"]
    assert _upload(client) == 201
    # unique by lower-cased login: a re-import in other letters updates the same row
    r = client.post("/dashboard/roster", data={"csrf": token},
                    files={"file": ("r.csv", b"login,section\nNEWBIE,C\n")},
                    follow_redirects=False)
    assert "added=0&updated=1" in r.headers["location"]
    rows = db_session.scalars(select(RosterEntry).order_by(RosterEntry.login_lower)).all()
    assert [(e.login_lower, e.section) for e in rows] == [("ada", ""), ("newbie", "C")]


def test_course_toml_roster_counts(client: TestClient, closed: Settings, sent: list) -> None:
    sign_in(client, "listed")
    assert _upload(client) == 201


def test_bad_csv_imports_nothing(client: TestClient, db_session: Session,
                                 closed: Settings) -> None:
    token = login(client, db_session)
    for body, why in [(b"name\nx\n", "github_login column"),
                      (b"github_login\ngood\nbad login!\n", "line 3")]:
        r = client.post("/dashboard/roster", data={"csrf": token},
                        files={"file": ("r.csv", body)})
        assert r.status_code == 422 and why in r.text
    assert db_session.scalar(select(func.count()).select_from(RosterEntry)) == 0
    r = client.post("/dashboard/roster", data={"csrf": "bad"},
                    files={"file": ("r.csv", b"github_login\nx\n")})
    assert r.status_code == 403


def test_tokens_created_listed_revoked(client: TestClient, db_session: Session,
                                       sent: list) -> None:
    token = login(client, db_session, login="prof")
    r = client.post("/dashboard/tokens", data={"csrf": token, "name": "grades script"})
    assert r.status_code == 201
    value = r.text.split('id="new-token">', 1)[1].split("<", 1)[0]
    headers = {"Authorization": f"Bearer {value}"}
    assert client.get("/api/students", headers=headers).status_code == 200
    page = client.get("/dashboard/tokens").text
    assert "grades script" in page and value not in page and value[:10] in page
    token_id = page.split('action="/dashboard/tokens/', 1)[1].split("/", 1)[0]
    r = client.post(f"/dashboard/tokens/{token_id}/revoke", data={"csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/students", headers=headers).status_code == 401
    assert "revoked" in client.get("/dashboard/tokens").text


def test_basic_auth_is_gone_and_bad_tokens_are_throttled(
        client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import argon2

    calls: list[str] = []
    monkeypatch.setattr(argon2.PasswordHasher, "verify", lambda *a: calls.append("argon2"))
    r = client.get("/api/students", headers={"Authorization": "Basic cHJvZjpwdw=="})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    codes = [client.get("/api/students", headers={
        "Authorization": f"Bearer zg_{secrets.token_urlsafe(8)}"}).status_code
        for _ in range(21)]
    assert codes == [401] * 20 + [429]
    good = bearer(db_session)  # even a good token waits while this address is throttled
    assert client.get("/api/students", headers=good).status_code == 429
    assert calls == []  # no request ran argon2


def test_limiter_is_shared_through_redis(settings: Settings) -> None:
    """Two processes' limiters (separate storage clients) see the same count in Redis."""
    url = "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url).ping()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no Redis at {url}: {e}")
    s = settings.model_copy(update={"redis_url": url})
    key = f"test-{secrets.token_hex(8)}"
    for _ in range(5):
        ratelimit.record(s, ratelimit.LOGIN_FAILURES, "login", key)
    ratelimit._limiter.cache_clear()  # "another process": a new client, the same Redis
    assert ratelimit.wait_s(s, ratelimit.LOGIN_FAILURES, "login", key) > 0
    ratelimit.reset(s, ratelimit.LOGIN_FAILURES, "login", key)
    assert ratelimit.wait_s(s, ratelimit.LOGIN_FAILURES, "login", key) == 0


@pytest.mark.parametrize("update", [{"host": "0.0.0.0"}, {"web_processes": 2},
                                    {"base_url": "https://grader.example.edu"}])
def test_secret_key_required_for_several_processes_or_a_public_host(
        settings: Settings, update: dict) -> None:
    from app.main import create_app

    with pytest.raises(RuntimeError, match="ZEROGRAD_SECRET_KEY must be set"):
        create_app(settings.model_copy(update={"secret_key": "", **update}))
    create_app(settings.model_copy(update=update))  # with a key: fine
    create_app(settings.model_copy(update={"secret_key": ""}))  # one loopback process: fine


def test_nothing_stored_on_refusal(client: TestClient, db_session: Session,
                                   closed: Settings, sent: list) -> None:
    sign_in(client, "outsider")
    assert client.post("/api/submissions", json={
        "week": 1, "repo_url": "https://github.com/outsider/zth"}).status_code == 403
    assert db_session.scalar(select(func.count()).select_from(Submission)) == 0 and sent == []


def test_make_run_persists_a_generated_secret_key(settings: Settings, tmp_path: Path) -> None:
    from app.serve import persistent_secret_key

    path = tmp_path / "var" / "secret_key"
    first = persistent_secret_key(settings.model_copy(update={"secret_key": ""}), path)
    again = persistent_secret_key(settings.model_copy(update={"secret_key": ""}), path)
    assert len(first.secret_key) >= 40 and again.secret_key == first.secret_key
    assert path.stat().st_mode & 0o077 == 0  # owner-only
    assert persistent_secret_key(settings, path).secret_key == settings.secret_key
