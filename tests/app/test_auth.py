"""Instructor login: argon2, server-side HttpOnly/SameSite session, CSRF, throttling, logout."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import ratelimit
from app.services import auth
from tests.app.staff import PASSWORD, csrf_of, login
from tests.factories import make_instructor


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    ratelimit._limiter.cache_clear()  # a new in-memory limiter per test
    yield
    ratelimit._limiter.cache_clear()


def _post_login(client, user: str, password: str, next_: str = "/dashboard"):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"login": user, "password": password, "csrf": token,
                                       "next": next_}, follow_redirects=False)


def test_login_sets_httponly_samesite_cookie(client, db_session: Session) -> None:
    row = make_instructor(db_session, password=PASSWORD)
    db_session.commit()
    assert row.password_hash.startswith("$argon2")
    r = _post_login(client, row.login, PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert client.get("/dashboard").status_code == 200


def test_wrong_password_then_throttled(client, db_session: Session) -> None:
    row = make_instructor(db_session, password=PASSWORD)
    db_session.commit()
    codes = [_post_login(client, row.login, "nope").status_code for _ in range(5)]
    assert codes == [401] * 5
    r = _post_login(client, row.login, PASSWORD)  # even the right password is refused now
    assert r.status_code == 429 and "too many failed logins" in r.text
    assert auth.COOKIE not in r.cookies


def test_many_logins_from_one_address_are_throttled(client, db_session: Session) -> None:
    row = make_instructor(db_session, password=PASSWORD)
    db_session.commit()
    codes = [_post_login(client, f"guess{i}", "nope").status_code for i in range(31)]
    assert codes == [401] * 30 + [429]  # a new login each time: the per-address limit holds
    assert _post_login(client, row.login, PASSWORD).status_code == 429


def test_login_form_needs_its_csrf_token(client, db_session: Session) -> None:
    row = make_instructor(db_session, password=PASSWORD)
    db_session.commit()
    r = client.post("/login", data={"login": row.login, "password": PASSWORD, "csrf": "x"},
                    follow_redirects=False)
    assert r.status_code == 403


def test_next_is_never_an_open_redirect(client, db_session: Session) -> None:
    row = make_instructor(db_session, password=PASSWORD)
    db_session.commit()
    r = _post_login(client, row.login, PASSWORD, next_="//evil.example/x")
    assert r.headers["location"] == "/dashboard"


def test_tampered_cookie_is_rejected(client, db_session: Session) -> None:
    login(client, db_session)
    value = client.cookies.get(auth.COOKIE)
    client.cookies.set(auth.COOKIE, value[:-1] + ("0" if value[-1] != "0" else "1"))
    r = client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_logout_needs_csrf_and_clears_the_session(client, db_session: Session) -> None:
    token = login(client, db_session)
    stolen = client.cookies.get(auth.COOKIE)
    assert client.post("/logout", data={"csrf": "bad"}).status_code == 403
    r = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    client.cookies.set(auth.COOKIE, stolen)  # a copy of the cookie is dead too: revoked
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_cli_create_instructor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import cli
    from app.config import get_settings
    from app.db import session_scope
    from app.models import Instructor
    from tests.dbfixtures import alembic_run

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    alembic_run(url, "upgrade", "head")
    monkeypatch.setenv("ZEROGRAD_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
        assert cli.main(["create-instructor", "prof", "--password-stdin"]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
        assert cli.main(["create-instructor", "prof", "--password-stdin"]) == 1  # exists
        monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
        assert cli.main(["create-instructor", "other", "--password-stdin"]) == 1  # too short
        with session_scope(get_settings()) as s:
            row = s.scalar(select(Instructor).where(Instructor.login == "prof"))
            assert row is not None
            s.expunge(row)
        assert auth._hasher.verify(row.password_hash, "s3cret-passw0rd")
    finally:
        get_settings.cache_clear()


def test_cli_delegates_other_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.cli
    from app import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(grader.cli, "main", lambda argv: seen.append(argv) or 7)
    assert cli.main(["grade", "x.py", "--week", "1"]) == 7
    assert seen == [["grade", "x.py", "--week", "1"]]
