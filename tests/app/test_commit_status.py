"""Commit statuses: hidden checks never show before the deadline; failures post an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config import Settings
from app.models import Submission
from grader.report import CheckResult, GradeReport
from tests.app.fakegithub import FakeGitHub
from workers import github_status

SHA = "c" * 40


def _sub() -> Submission:
    return Submission(id="s1", week=1, source="webhook", commit_sha=SHA,
                      repo_url="https://github.com/ada/zero-to-hero")


def _report() -> GradeReport:
    checks = [CheckResult("public", 1.0, 1.0, True, "ok", 0.1),
              CheckResult("hidden_one", 0.0, 4.0, False, "wrong", 0.1)]
    return GradeReport(week=1, title="t", status="graded", score=1.0, max_score=5.0,
                       checks=checks)


@pytest.fixture
def policy(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "course.toml"
    deadline = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(f'[weeks.1]\ndeadline = "{deadline}"\nhidden_checks = ["hidden_one"]\n')
    settings.course_config = path
    return settings


def test_hidden_checks_stay_out_of_the_status(policy: Settings, fake_github: FakeGitHub,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert github_status.post_for(_sub(), _report(), policy)
    (st,) = fake_github.statuses
    assert st["description"].startswith("zerograd: 1/1 ") and "hidden_one" not in str(st)
    assert "4" not in st["description"] and "5" not in st["description"]
    from app.services import policies

    monkeypatch.setattr(policies, "utcnow", lambda: datetime.now(UTC) + timedelta(days=2))
    assert github_status.post_for(_sub(), _report(), policy)
    assert fake_github.statuses[1]["description"] == "zerograd: 1/5"


def test_a_submission_that_was_not_graded_posts_an_error_with_a_link(
        settings: Settings, fake_github: FakeGitHub) -> None:
    assert github_status.post_failure(_sub(), "the repository was not found", settings)
    (st,) = fake_github.statuses
    assert st["state"] == "error" and st["sha"] == SHA
    assert st["target_url"].endswith("/submissions/s1") and "not found" in st["description"]
