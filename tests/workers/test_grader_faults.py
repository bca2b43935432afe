"""A grader fault (our bug, a sandbox that cannot start) is retried, never a student's 0."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.db import session_scope
from app.models import Submission
from grader import grade
from grader.report import STATUS_GRADER_ERROR, GradeReport
from tests.workers.conftest import add_submission
from workers.grading import AUTOGRADER_RETRY, TransientError, run_grading

pytestmark = pytest.mark.integration


def test_a_grader_fault_is_retried_then_graded(wsettings: Settings,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = grade.grade, []

    def flaky(*a: object, **k: object) -> GradeReport:
        calls.append(1)
        if len(calls) == 1:
            return GradeReport(week=1, title="", status=STATUS_GRADER_ERROR, score=0,
                               max_score=100, message="The autograder failed",
                               staff_traceback="Traceback: a bug of ours")
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(grade, "grade", flaky)
    sid = add_submission(wsettings)
    with pytest.raises(TransientError):
        run_grading(sid, wsettings)
    with session_scope(wsettings) as s:
        sub = s.get(Submission, sid)
        assert sub is not None and sub.status == "queued" and sub.score is None
        assert sub.error == AUTOGRADER_RETRY.format(attempt=1)
    assert run_grading(sid, wsettings) == "graded"  # the retry grades it for real
    with session_scope(wsettings) as s:
        sub = s.get(Submission, sid)
        assert sub is not None and sub.status == "graded" and sub.attempts == 2
