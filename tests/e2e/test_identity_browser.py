"""In Chromium: a student signs in through the fake GitHub, submits their own fork (graded) and
someone else's (refused), uploads (recorded under their login), sees their page; an upload
without a sign-in is refused; a staff token script lists the results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db import session_scope
from app.services.auth import create_instructor
from tests.app.gitserver import GitServer, make_repo
from tests.e2e.conftest import ARTIFACTS, sign_in

ROOT = Path(__file__).resolve().parents[2]
OK_PY = (ROOT / "tests/fixtures/service/week1_ok.py").read_bytes()
pytestmark = pytest.mark.browser


def _wait_graded(page: Any, timeout_s: float = 180) -> None:
    page.wait_for_function("document.getElementById('status') && ['graded', 'failed'].includes("
                           "document.getElementById('status').textContent.trim())",
                           timeout=timeout_s * 1000, polling=500)


def test_student_identity_end_to_end(live_server: str, live_settings: Settings,
                                     browser_page: Any, tmp_path: Path) -> None:
    page, base = browser_page, live_server
    root = tmp_path / "git"
    root.mkdir()
    make_repo(root, "e2e-student/zth", {"week1.py": OK_PY})
    make_repo(root, "someone-else/zth", {"week1.py": OK_PY})
    with GitServer(root) as git:
        live_settings.allowed_git_hosts.append(git.hostport)  # the app holds this object
        with session_scope(live_settings) as s:
            create_instructor(s, "prof", "browser-test-pw")

        # without a sign-in: no form, and a direct upload is refused
        page.goto(base + "/")
        assert page.locator("#signed-out").count() == 1
        r = httpx.post(base + "/submissions/upload", data={"github_login": "e2e-student",
                                                           "week": "1"},
                       files={"file": ("w.py", OK_PY)})
        assert r.status_code == 401

        sign_in(page, base, "e2e-student")
        assert page.locator("#login").inner_text() == "e2e-student"
        page.screenshot(path=str(ARTIFACTS / "id-1-signed-in.png"), full_page=True)

        # someone else's fork: refused with the reason
        fork = page.locator("form[action='/submissions']")
        fork.locator("input[name=repo_url]").fill(git.url("someone-else/zth"))
        fork.locator("button[type=submit]").click()
        page.wait_for_selector(".err")
        assert "not to you" in page.locator(".err").inner_text()
        page.screenshot(path=str(ARTIFACTS / "id-2-foreign-fork.png"), full_page=True)

        # their own fork: accepted and graded
        page.goto(base + "/")
        fork = page.locator("form[action='/submissions']")
        fork.locator("input[name=repo_url]").fill(git.url("e2e-student/zth"))
        fork.locator("button[type=submit]").click()
        page.wait_for_url("**/submissions/*")
        assert "by e2e-student" in page.locator("h1").inner_text()
        _wait_graded(page)
        assert page.locator("#status").inner_text().strip() == "graded"

        # an upload: recorded under the signed-in login
        page.goto(base + "/")
        up = page.locator("form[action='/submissions/upload']")
        up.locator("input[type=file]").set_input_files(
            {"name": "week1.py", "mimeType": "text/x-python", "buffer": OK_PY})
        up.locator("button[type=submit]").click()
        page.wait_for_url("**/submissions/*")
        assert "by e2e-student" in page.locator("h1").inner_text()

        # their page lists both, and shows their own fork webhook secret
        page.goto(base + "/me")
        rows = page.locator("#my-submissions tbody tr")
        assert rows.count() == 2
        assert sorted(rows.nth(i).locator("td").nth(1).inner_text() for i in range(2)) == [
            "fork", "upload"]
        assert len(page.locator("#webhook-secret").inner_text()) >= 40
        page.screenshot(path=str(ARTIFACTS / "id-3-my-page.png"), full_page=True)

        # staff: create an API token on the dashboard; a script lists the results with it
        page.goto(base + "/dashboard/tokens")
        page.fill("input[name=login]", "prof")
        page.fill("input[name=password]", "browser-test-pw")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/dashboard/tokens")
        page.fill("input[name=name]", "results script")
        page.click("#create-token")
        token = page.locator("#new-token").inner_text().strip()
        page.screenshot(path=str(ARTIFACTS / "id-4-token.png"), full_page=True)
    out = subprocess.run([sys.executable, str(ROOT / "scripts/list_results.py"), base],
                         env={**os.environ, "ZEROGRAD_API_TOKEN": token}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [ln.split("\t") for ln in out.stdout.strip().splitlines()[1:]]
    assert sorted((ln[0], ln[1]) for ln in lines) == [("e2e-student", "1")] * 2
    assert "graded" in {ln[2] for ln in lines}
    bad = subprocess.run([sys.executable, str(ROOT / "scripts/list_results.py"), base],
                         env={**os.environ, "ZEROGRAD_API_TOKEN": "zg_wrong"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "401" in bad.stderr
