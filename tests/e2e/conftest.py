"""Live server for browser tests: uvicorn on a loopback port, SQLite, in-process workers."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import queue
from app.config import Settings
from tests.app.fakegithub import CLIENT_ID, CLIENT_SECRET, FakeGitHub, serve
from tests.dbfixtures import alembic_run

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("ZEROGRAD_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """The loopback fake GitHub (OAuth, /user, repo metadata) the live server signs in with."""
    with serve() as fake:
        yield fake


@pytest.fixture
def live_settings(tmp_path: Path, data_dir: Path, fake_github: FakeGitHub) -> Settings:
    """A fresh SQLite database at Alembic head; one embedded grading thread; open enrolment."""
    url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    alembic_run(url, "upgrade", "head")
    course = tmp_path / "course.toml"
    course.write_text("[roster]\nopen_enrolment = true\n")
    return Settings(database_url=url, redis_url=None, data_dir=data_dir, embedded_workers=1,
                    sweep_interval_s=2, stuck_after_s=120, secret_key="e2e-secret",
                    host="127.0.0.1", port=_free_port(), course_config=course,
                    github_client_id=CLIENT_ID, github_client_secret=CLIENT_SECRET,
                    github_oauth_url=fake_github.url, github_api_url=fake_github.url)


def sign_in(page: object, base: str, login: str) -> None:
    """Sign in through the fake GitHub's authorize page, as a student would."""
    page.goto(base + "/")  # type: ignore[attr-defined]
    page.click("#signin")  # type: ignore[attr-defined]
    page.fill("#login", login)  # type: ignore[attr-defined]
    page.click("#authorize")  # type: ignore[attr-defined]
    page.wait_for_selector("#signed-in")  # type: ignore[attr-defined]


@pytest.fixture
def live_server(live_settings: Settings) -> Iterator[str]:
    """`uvicorn` serving create_app(live_settings) in a thread; yields the base URL."""
    import uvicorn

    from app.main import create_app

    queue.start_embedded_workers(live_settings)
    server = uvicorn.Server(uvicorn.Config(create_app(live_settings), host="127.0.0.1",
                                           port=live_settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield live_settings.public_url
    finally:
        server.should_exit = True
        thread.join(10)
        queue.stop_embedded_workers()


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A headless Chromium page (Debian's chromium; in CI a missing browser FAILS)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        msg = f"chromium not found at {CHROMIUM} (apt-get install chromium; `make deps`)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 800},
                                      accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
