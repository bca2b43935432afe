"""App test helpers: capture jobs sent after commit; a loopback fake GitHub; sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import app.queue
from app.config import Settings
from tests.app.fakegithub import CLIENT_ID, CLIENT_SECRET, FakeGitHub, serve


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(submission_id, week) of every job dispatched after a commit."""
    jobs: list[tuple[str, int]] = []
    monkeypatch.setattr(app.queue, "dispatch", lambda _s, sid, week: jobs.append((sid, week)))
    return jobs


@pytest.fixture(scope="session")
def _fake_github_server() -> Iterator[FakeGitHub]:
    with serve() as fake:
        yield fake


@pytest.fixture
def fake_github(_fake_github_server: FakeGitHub) -> Iterator[FakeGitHub]:
    """The fake GitHub, emptied for each test."""
    _fake_github_server.reset()
    yield _fake_github_server
    _fake_github_server.reset()


@pytest.fixture
def settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    """The test settings, with GitHub (OAuth, API, statuses) pointed at the fake."""
    return settings.model_copy(update={
        "github_client_id": CLIENT_ID, "github_client_secret": CLIENT_SECRET,
        "github_oauth_url": fake_github.url, "github_api_url": fake_github.url,
        "github_token": "fake-status-token"})


def sign_in(client: Any, login: str) -> str:
    """Sign a TestClient in as `login` through the fake GitHub; the page's CSRF token."""
    r = client.get("/auth/github/login", follow_redirects=False)
    assert r.status_code == 303, r.text
    authorize = urlsplit(r.headers["location"])
    form = dict(httpx.QueryParams(authorize.query))
    approved = httpx.post(f"{authorize.scheme}://{authorize.netloc}{authorize.path}",
                          data={**form, "login": login})
    assert approved.status_code == 303, approved.text
    back = urlsplit(approved.headers["location"])
    r = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/")
    assert f'id="login">{login}<' in page.text, page.text
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m
    return m.group(1)
