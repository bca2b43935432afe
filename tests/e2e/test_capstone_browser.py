"""Capstone views in Chromium, from reports the REAL grader produced for the week-6 fixtures,
stored through the worker's record path: Inspector (head selector), Specialist, Architect,
training curves (when the grader writes them), the leaderboard as a student and as staff."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.db import session_scope
from app.models import Submission, utcnow
from app.services.auth import create_instructor
from app.services.submissions import get_or_create_student
from grader import grade, source
from grader.report import GradeReport
from tests.e2e.conftest import ARTIFACTS, sign_in
from workers.grading import record_report

pytestmark = pytest.mark.browser
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "week6"
SHA = {"inspector": "1" * 40, "specialist": "2" * 40, "architect": "3" * 40,
       "rival": "4" * 40}
RAW_NAMES = ("vanilla_tokens_per_s", "speed_ratio", "whole_run_ratio", "vanilla_run_s",
             "val_loss_gain", "e+0")


def _grade(track: str, seed: int, data_dir: Path) -> GradeReport:
    src = source.from_bytes((FIX / f"week6_{track}.ipynb").read_bytes(), "week6.ipynb", 6)
    if track == "specialist":
        src = dataclasses.replace(src, extra_files={
            "capstone/data.txt": (FIX / "data.txt").read_bytes()})
    report = grade.grade(src, data_dir, seed=seed)
    assert report.status == "graded" and report.score == 100, report.message
    return report


@pytest.fixture(scope="session")
def capstone_reports(data_dir: Path) -> dict[str, GradeReport]:
    """Each track graded once per session in the real sandbox (and a second Architect)."""
    out = {t: _grade(t, 1, data_dir) for t in ("inspector", "specialist", "architect")}
    out["rival"] = _grade("architect", 2, data_dir)
    return out


def _store(settings: Settings, login: str, report: GradeReport, sha: str) -> str:
    """A running week-6 submission, then the worker's own record_report (benchmarks too)."""
    with session_scope(settings) as s:
        student = get_or_create_student(s, login)
        now = utcnow()
        sub = Submission(student_id=student.id, week=6, source="fork", status="running",
                         repo_url=f"https://github.com/{login}/nn-zero-to-hero", commit_sha=sha,
                         attempts=1, received_at=now - timedelta(seconds=5), started_at=now,
                         heartbeat_at=now, worker="e2e")
        s.add(sub)
        s.flush()
        sid = sub.id
    assert record_report(sid, 1, report, settings, sha) == "graded"
    return sid


@pytest.fixture
def stored(live_server: str, live_settings: Settings,
           capstone_reports: dict[str, GradeReport]) -> Iterator[dict[str, str]]:
    """Submission ids: the three tracks by `cap-student`, a second Architect by `arch-rival`."""
    ids = {t: _store(live_settings, "cap-student", capstone_reports[t], SHA[t])
           for t in ("inspector", "specialist", "architect")}
    ids["rival"] = _store(live_settings, "arch-rival", capstone_reports["rival"], SHA["rival"])
    with session_scope(live_settings) as s:
        create_instructor(s, "prof", "capstone-pw")
    yield ids


def _shot(page: Any, name: str, selector: str = "") -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    if selector:
        page.locator(selector).screenshot(path=str(ARTIFACTS / name))
    else:
        page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _staff_login(page: Any, base: str) -> None:
    page.goto(base + "/dashboard")
    page.fill("input[name=login]", "prof")
    page.fill("input[name=password]", "capstone-pw")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/dashboard")


def test_capstone_views_from_real_gradings(live_server: str, browser_page: Any,
                                           stored: dict[str, str],
                                           capstone_reports: dict[str, GradeReport]) -> None:
    page, base = browser_page, live_server
    sign_in(page, base, "cap-student")

    # Inspector: every layer x head as a thumbnail, the selected one large with the prompt on
    # both axes, the checks' explanation with their verdicts
    att = capstone_reports["inspector"].extras["attention"]
    n_layer, n_head, T = len(att["layers"]), len(att["layers"][0]), len(att["prompt"])
    page.goto(f"{base}/submissions/{stored['inspector']}")
    view = page.locator("#inspector-view")
    assert view.locator(".attn-thumb").count() == n_layer * n_head
    assert view.locator("#attn-big svg text").count() == 2 * T  # characters on both axes
    assert view.locator("#attn-big svg rect").count() == T * T
    assert view.locator("#inspector-checks li.pass").count() == 4
    assert page.locator("#inspector-prompt").inner_text() == "".join(att["prompt"])
    _shot(page, "capstone-inspector-student.png")
    last = f"{n_layer - 1}-{n_head - 1}"
    page.select_option("#head-select", last)  # the selector reloads with that head
    page.wait_for_url(re.compile(rf".*head={last}.*"))
    assert page.locator("#attn-big").get_attribute("data-map") == last
    assert page.locator(f".attn-thumb.on[data-map='{last}']").count() == 1
    _shot(page, "capstone-inspector-head-selected.png", "#inspector-view")

    # Specialist: the three samples, corpus size and vocabulary, held-out loss vs unigram
    ex = capstone_reports["specialist"].extras
    page.goto(f"{base}/submissions/{stored['specialist']}")
    samples = page.locator("#specialist-view pre.sample")
    assert samples.count() == 3
    assert [samples.nth(i).inner_text().rstrip() for i in range(3)] == [
        s.rstrip() for s in ex["samples"]]
    corpus = page.locator("#specialist-corpus").inner_text()
    assert f"{ex['corpus']['train_chars']:,}" in corpus
    assert f"vocabulary of {ex['corpus']['vocab_size']} characters" in corpus
    chart = page.locator("#specialist-loss").inner_text()
    assert f"{ex['heldout']['val_loss']:.3f}" in chart
    assert f"{ex['heldout']['unigram_loss']:.3f}" in chart
    _shot(page, "capstone-specialist-student.png")

    # Architect: ratio with its spread per seed, throughput and step time with units, curves
    b = capstone_reports["architect"].extras["benchmark"]
    page.goto(f"{base}/submissions/{stored['architect']}")
    table = page.locator("#architect-seeds").inner_text()
    for unit in ("tokens/s", "ms/iter", "nats", "×"):
        assert unit in table
    assert page.locator("#architect-seeds tbody tr").first.locator("td").count() == \
        len(b["seeds"]) + 3
    assert "±" in page.locator("#speed-ratio").inner_text()
    assert page.locator("#architect-curves polyline").count() == 2
    _shot(page, "capstone-architect-student.png")

    # staff see the same views on their submission page
    _staff_login(page, base)
    page.goto(f"{base}/dashboard/submissions/{stored['inspector']}")
    assert page.locator("#inspector-view .attn-thumb").count() == n_layer * n_head
    _shot(page, "capstone-inspector-staff.png")
    page.goto(f"{base}/dashboard/submissions/{stored['architect']}")
    assert page.locator("#architect-curves polyline").count() == 2
    _shot(page, "capstone-architect-staff.png")


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_leaderboards_student_and_staff(live_server: str, live_settings: Settings,
                                        browser_page: Any, stored: dict[str, str]) -> None:
    page, base = browser_page, live_server
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, base, "cap-student")
    page.goto(base + "/me")
    page.fill("#pseudonym", "Attention Seeker")
    page.click("#save-pseudonym")
    page.wait_for_url("**/me#leaderboard-name")
    assert page.locator("#pseudonym").input_value() == "Attention Seeker"

    page.goto(base + "/leaderboard")
    arch = page.locator("#board-architect")
    text = page.locator("main").inner_text()
    assert "arch-rival" not in text and "cap-student" not in text  # no real names
    mine = arch.locator("tr.mine")
    assert mine.count() == 1 and "Attention Seeker" in mine.inner_text()
    assert arch.locator("tbody tr").count() == 2 and "anonymous" in arch.inner_text()
    assert [arch.locator("tbody tr").nth(i).locator("td").first.inner_text()
            for i in range(2)] == ["1", "2"]
    for raw in RAW_NAMES:
        assert raw not in text, raw
    for label in ("Speed ratio", "Throughput", "tokens/s", "ms/iter", "Whole run", "torch",
                  "CUDA", "grader 0.", "seeds"):
        assert label in arch.inner_text(), label
    assert SHA["architect"][:12] in mine.inner_text()  # own commit; others' stay hidden
    assert SHA["rival"][:12] not in text
    assert page.locator("#board-specialist").count() == 1
    assert _fits(page), "the student leaderboard is wider than a 1280-px screen"
    _shot(page, "leaderboard-student.png")

    _staff_login(page, base)
    page.goto(base + "/dashboard/leaderboard")
    staff = page.locator("main").inner_text()
    assert "arch-rival" in staff and "cap-student" in staff and "Attention Seeker" in staff
    assert SHA["rival"][:12] in staff
    for raw in RAW_NAMES:
        assert raw not in staff, raw
    assert _fits(page), "the staff leaderboard is wider than a 1280-px screen"
    _shot(page, "leaderboard-staff.png")

    # the week chart: its title sits above the tallest bar's count (2 students, both 100)
    page.goto(base + "/dashboard/weeks/6")
    box = page.locator("svg.chart").first.bounding_box()
    title = page.locator("svg.chart text[font-size='11']").first.bounding_box()
    count = page.locator("svg.chart text[text-anchor=middle]",
                         has_text=re.compile(r"^2$")).first.bounding_box()
    assert box and title and count and title["y"] + title["height"] <= count["y"] + 1
    _shot(page, "week6-chart.png", "svg.chart")

    # the gradebook tells "submitted, scored 0" from "submitted, nothing graded" from "none"
    with session_scope(live_settings) as s:
        rival = get_or_create_student(s, "arch-rival")
        now = utcnow()
        s.add_all([Submission(student_id=rival.id, week=4, source="upload", status="graded",
                              score=0.0, max_score=100.0, received_at=now, finished_at=now),
                   Submission(student_id=rival.id, week=5, source="upload", status="failed",
                              error="not a notebook", received_at=now, finished_at=now)])
    page.goto(base + "/dashboard?q=arch-rival")
    row = page.locator("#gradebook tbody tr").first
    assert row.locator("td").nth(4).inner_text().split() == ["0", "0"]  # best, latest
    assert row.locator("td").nth(5).inner_text() == "✘ no score"
    assert row.locator("td").nth(1).inner_text() == "—"
    _shot(page, "gradebook-zero-failed-none.png", "#gradebook")


def test_training_curves_view(live_server: str, browser_page: Any, stored: dict[str, str],
                              capstone_reports: dict[str, GradeReport]) -> None:
    with_curves = [t for t in ("inspector", "specialist", "architect")
                   if capstone_reports[t].extras.get("curves")]
    if not with_curves:
        pytest.skip("the week-6 grader writes no extras['curves'] yet (grader-side curves "
                    "are another branch's work); nothing to draw")
    page, base = browser_page, live_server
    sign_in(page, base, "cap-student")
    page.goto(f"{base}/submissions/{stored[with_curves[0]]}")
    assert page.locator("#curves-view polyline").count() == 2
    _shot(page, "capstone-curves-student.png", "#curves-view")
