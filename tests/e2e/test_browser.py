"""End to end in Chromium: upload, graded, staff login, detail, CSV export, regrade; no XSS."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.db import session_scope
from app.services.auth import create_instructor
from tests.e2e.conftest import ARTIFACTS, sign_in

ROOT = Path(__file__).resolve().parents[2]
XSS_PRINT = "<script>alert('xss-stdout')</script>"
XSS_NAME = "<img src=x onerror=alert(1)>.ipynb"
pytestmark = pytest.mark.browser


def _notebook() -> bytes:
    nb = json.loads((ROOT / "tests/fixtures/week1/week1.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None,
                        "outputs": [], "source": [f"print({XSS_PRINT!r})"]})
    return json.dumps(nb).encode()


def _wait_status(page: Any, want: str, timeout_s: float = 120) -> None:
    page.wait_for_function(f"document.getElementById('status') && "
                           f"document.getElementById('status').textContent.trim() === '{want}'",
                           timeout=timeout_s * 1000, polling=500)


def test_upload_grade_dashboard_export_regrade(live_server: str, live_settings: Settings,
                                               browser_page: Any) -> None:
    page, base = browser_page, live_server
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    with session_scope(live_settings) as s:
        create_instructor(s, "prof", "browser-test-pw")

    # a student signs in and uploads a notebook whose output and file name carry script payloads
    sign_in(page, base, "e2e-student")
    form = page.locator("form[action='/submissions/upload']")
    form.locator("select[name=week]").select_option("1")
    form.locator("input[type=file]").set_input_files(
        {"name": XSS_NAME, "mimeType": "application/json", "buffer": _notebook()})
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/submissions/*")
    _wait_status(page, "graded")
    page.screenshot(path=str(ARTIFACTS / "1-student-graded.png"), full_page=True)
    assert XSS_PRINT in page.locator("pre").last.inner_text()  # shown as text, not run
    student_url = page.url

    # staff: the dashboard redirects to the login form, then back
    page.goto(base + "/dashboard")
    assert "/login" in page.url
    page.fill("input[name=login]", "prof")
    page.fill("input[name=password]", "browser-test-pw")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/dashboard")
    assert page.locator("#gradebook").get_by_text("e2e-student").count() == 1
    page.screenshot(path=str(ARTIFACTS / "2-gradebook.png"), full_page=True)

    page.locator("#gradebook a[href^='/dashboard/submissions/']").first.click()
    page.wait_for_selector("#checks")
    assert page.locator("#filename").inner_text() == XSS_NAME
    assert XSS_PRINT in page.locator("#stdout").inner_text()
    assert page.locator("#checks tbody tr").count() > 0
    page.screenshot(path=str(ARTIFACTS / "3-detail.png"), full_page=True)
    detail_url = page.url

    with page.expect_download() as dl:
        page.click("#export-csv")
    path = ARTIFACTS / "grades.csv"
    dl.value.save_as(str(path))
    rows = {r[0]: r for r in csv.reader(path.open())}
    assert float(rows["e2e-student"][1]) > 0

    page.goto(detail_url)
    page.click("#regrade")
    page.wait_for_url(lambda u: u != detail_url and "/dashboard/submissions/" in u)
    assert "regrade of" in page.content()
    for _ in range(240):
        if page.locator("#status").inner_text().strip() == "graded":
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("#status").inner_text().strip() == "graded"
    page.screenshot(path=str(ARTIFACTS / "4-regraded.png"), full_page=True)

    page.goto(student_url)
    page.goto(base + "/dashboard/queue")
    page.screenshot(path=str(ARTIFACTS / "5-queue.png"), full_page=True)
    assert dialogs == [], dialogs
