"""Regrades: the newest grading of each submission counts (gradebook, CSV, Gradescope export,
student page), so a regrade after a grader fix LOWERS an inflated score; staff see the history."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import session_scope
from app.models import Submission
from app.services import exports, gradebook, policies
from grader.report import CheckResult, GradeReport
from tests.workers.conftest import add_submission
from tests.workers.e2e import api
from workers.grading import claim, record_report, run_grading

pytestmark = pytest.mark.integration
BROKEN = b"# %%\nx = 1\n"  # defines nothing: the fixed grader gives it 0


def inflated(points: float = 16.0) -> GradeReport:
    """What a buggy grader said: full marks."""
    return GradeReport(week=1, title="week 1", status="graded", score=points, max_score=points,
                       checks=[CheckResult(name="all", points=points, max_points=points,
                                            passed=True, message="ok (bug)", duration_s=0.0)])


def grade_with(settings: Settings, sid: str, report: GradeReport) -> None:
    attempt = claim(sid, settings)
    assert attempt is not None
    assert record_report(sid, attempt, report, settings) == "graded"


def week1_cell(settings: Settings, login: str) -> gradebook.Cell:
    with session_scope(settings) as s:
        return gradebook.cells(s, policies.load(settings), q=login)[login][1]


def csv_score(settings: Settings, login: str) -> str:
    with session_scope(settings) as s:
        text = exports.grades_csv(s, policies.load(settings), [1])
    return next(line for line in text.splitlines() if line.startswith(login + ",")).split(",")[1]


def login_of(s: Session, sid: str) -> str:
    sub = s.get(Submission, sid)
    assert sub is not None
    return sub.student.github_login


def test_regrade_after_grader_fix_lowers_the_inflated_score_everywhere(
        wsettings: Settings) -> None:
    old = add_submission(wsettings, notebook=BROKEN)
    grade_with(wsettings, old, inflated())  # the buggy grader
    with session_scope(wsettings) as s:
        login = login_of(s, old)
    assert week1_cell(wsettings, login).best == 16.0 and csv_score(wsettings, login) == "16"
    with session_scope(wsettings) as s:  # staff: "regrade week 1" after the fix
        new_ids = [n.id for n in exports.regrade_week(s, wsettings, 1)]
    assert len(new_ids) == 1
    assert run_grading(new_ids[0], wsettings) == "graded"  # the real (fixed) grader
    cell = week1_cell(wsettings, login)
    assert cell.best == 0.0 and cell.latest == 0.0 and cell.latest_id == new_ids[0]
    assert csv_score(wsettings, login) == "0"
    with session_scope(wsettings) as s:
        original = s.get(Submission, old)
        assert original is not None and original.score == 16.0  # history kept
        gs = exports.gradescope(original, s)
        assert gs["score"] == 0.0
        assert [h.id for h in gradebook.history(s, original)] == [old, new_ids[0]]
    with api(wsettings) as client:
        page = client.get(f"/submissions/{old}").text  # the student's link to the original
    assert "Score: 0.0 /" in page and "Score: 16.0" not in page


def test_newest_grading_counts_not_the_best_and_every_submission_is_regraded(
        wsettings: Settings) -> None:
    first = add_submission(wsettings, notebook=BROKEN)
    with session_scope(wsettings) as s:
        sub = s.get(Submission, first)
        assert sub is not None
        student_id, login = sub.student_id, sub.student.github_login
    second = add_submission(wsettings, student_id=student_id, notebook=BROKEN)
    grade_with(wsettings, first, inflated(16.0))  # older submission, inflated
    grade_with(wsettings, second, inflated(5.0))
    assert week1_cell(wsettings, login).best == 16.0  # best over submissions
    with session_scope(wsettings) as s:
        regrades = exports.regrade_week(s, wsettings, 1)
        assert {r.regrade_of for r in regrades} == {first, second}  # not only the latest
        ids = {r.regrade_of: r.id for r in regrades}
    grade_with(wsettings, ids[first], inflated(2.0))  # lower than before: still it counts
    cell = week1_cell(wsettings, login)
    assert cell.best == 5.0 and cell.graded == 2  # one grading per submission
    with session_scope(wsettings) as s:  # a regrade of a regrade still names the original
        again = exports.regrade(s, wsettings, ids[first])
        assert again.regrade_of == first
