"""The grading task body, called directly on a real Postgres database."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db import session_scope
from app.models import CheckResult, Submission, utcnow
from app.services.forks import ForkError
from grader.report import GradeReport
from tests.workers.conftest import add_submission, week1
from workers import grading
from workers.grading import AUTOGRADER_FAILED, claim, record_report, run_grading

pytestmark = pytest.mark.integration


def load(settings: Settings, sid: str) -> tuple[Submission, int]:
    """The row and its number of check rows."""
    with session_scope(settings) as s:
        sub = s.get(Submission, sid)
        assert sub is not None
        s.expunge(sub)
        n = s.scalar(select(func.count()).select_from(CheckResult)
                     .where(CheckResult.submission_id == sid))
    return sub, int(n or 0)


def test_upload_is_graded_once(wsettings: Settings) -> None:
    sid = add_submission(wsettings)
    assert run_grading(sid, wsettings) == "graded"
    sub, n = load(wsettings, sid)
    assert sub.status == "graded" and sub.attempts == 1 and sub.finished_at is not None
    assert sub.worker and sub.started_at is not None
    assert sub.report_json is not None and sub.score == sub.report_json["score"]
    assert n == len(sub.report_json["checks"]) > 0
    first = sub.report_json
    # a redelivered / duplicated task: no second result, no second set of check rows
    assert run_grading(sid, wsettings) == "skipped"
    sub2, n2 = load(wsettings, sid)
    assert (sub2.attempts, n2, sub2.report_json, sub2.status) == (1, n, first, "graded")


def test_two_concurrent_deliveries_grade_once(wsettings: Settings) -> None:
    sid = add_submission(wsettings)
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda: outcomes.append(run_grading(sid, wsettings)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["graded", "skipped", "skipped"]
    sub, n = load(wsettings, sid)
    assert sub.attempts == 1 and n == len(sub.report_json["checks"])  # type: ignore[index]


@pytest.mark.parametrize("data,name,needle", [
    (b"\xff\xfe not utf-8", "week1.py", "UTF-8"),
    (b"{not json", "week1.ipynb", ""),
])
def test_malformed_upload_fails_with_message_and_no_retry(
        wsettings: Settings, data: bytes, name: str, needle: str) -> None:
    sid = add_submission(wsettings, notebook=data, filename=name)
    assert run_grading(sid, wsettings) == "failed"  # returns: the Celery task does not retry
    sub, n = load(wsettings, sid)
    assert sub.status == "failed" and sub.attempts == 1 and n == 0
    assert sub.error and needle in sub.error and "autograder failed" not in sub.error
    assert run_grading(sid, wsettings) == "skipped"


def test_running_row_is_left_alone_until_stale(wsettings: Settings) -> None:
    sid = add_submission(wsettings)
    assert claim(sid, wsettings) == 1
    assert run_grading(sid, wsettings) == "skipped"  # fresh: another worker owns it
    with session_scope(wsettings) as s:
        s.execute(update(Submission).where(Submission.id == sid).values(
            started_at=utcnow() - timedelta(seconds=wsettings.stuck_after_s + 5)))
    assert run_grading(sid, wsettings) == "graded"  # stale: the worker died; taken over
    sub, _ = load(wsettings, sid)
    assert sub.attempts == 2


def test_superseded_attempt_writes_nothing(wsettings: Settings) -> None:
    sid = add_submission(wsettings)
    assert claim(sid, wsettings) == 1
    with session_scope(wsettings) as s:  # a second worker took over (attempt 2)
        s.execute(update(Submission).where(Submission.id == sid).values(attempts=2))
    report = GradeReport(week=1, title="t", status="graded", score=1.0, max_score=1.0)
    assert record_report(sid, 1, report, wsettings) == "lost"
    sub, n = load(wsettings, sid)
    assert sub.status == "running" and sub.report_json is None and n == 0


def test_out_of_attempts_fails_with_autograder_failed(wsettings: Settings) -> None:
    old = utcnow() - timedelta(seconds=wsettings.stuck_after_s + 5)
    sid = add_submission(wsettings, status="running", attempts=wsettings.max_attempts,
                         started_at=old)
    assert run_grading(sid, wsettings) == "skipped"
    sub, _ = load(wsettings, sid)
    assert sub.status == "failed" and sub.error == AUTOGRADER_FAILED


def test_transient_error_releases_the_claim(wsettings: Settings,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(grading.grade, "grade", boom)
    sid = add_submission(wsettings)
    with pytest.raises(grading.transient_errors()):
        run_grading(sid, wsettings)
    sub, _ = load(wsettings, sid)
    assert sub.status == "queued" and sub.attempts == 1  # ready for the retry
    monkeypatch.undo()
    assert run_grading(sid, wsettings) == "graded"
    assert load(wsettings, sid)[0].attempts == 2


def fake_fork(files: dict[str, bytes], sha: str = "a" * 40):
    """A fetch_fork stand-in that writes `files` into dest."""
    def fetch(repo_url: str, commit_sha: str | None, dest: Path, settings: Settings) -> Path:
        for rel, data in files.items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        return dest
    return fetch


def test_fork_submission_graded_and_head_sha_recorded(
        wsettings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grading.forks, "fetch_fork", fake_fork({"weeks/week1.py": week1()}))
    monkeypatch.setattr(grading.forks, "head_sha", lambda p: "b" * 40)
    sid = add_submission(wsettings, source="fork", commit_sha=None, notebook=None)
    assert run_grading(sid, wsettings) == "graded"
    sub, n = load(wsettings, sid)
    assert sub.commit_sha == "b" * 40 and n > 0


def test_fork_error_is_a_student_failure(wsettings: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*a: object) -> Path:
        raise ForkError("the repository or commit was not found, or the repository is private")

    monkeypatch.setattr(grading.forks, "fetch_fork", missing)
    sid = add_submission(wsettings, source="webhook", notebook=None)
    assert run_grading(sid, wsettings) == "failed"
    sub, _ = load(wsettings, sid)
    assert sub.status == "failed" and "not found" in (sub.error or "")


def test_fork_without_the_week_file_fails_with_message(
        wsettings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grading.forks, "fetch_fork", fake_fork({"README.md": b"hi"}))
    sid = add_submission(wsettings, source="fork", notebook=None)
    assert run_grading(sid, wsettings) == "failed"
    assert "no week 1 notebook found" in (load(wsettings, sid)[0].error or "")


def test_git_network_trouble_is_transient(wsettings: Settings,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def flaky(*a: object) -> Path:
        raise RuntimeError("git fetch failed (128): Could not resolve host: github.com")

    monkeypatch.setattr(grading.forks, "fetch_fork", flaky)
    sid = add_submission(wsettings, source="fork", notebook=None)
    with pytest.raises(grading.TransientError):
        run_grading(sid, wsettings)
    assert load(wsettings, sid)[0].status == "queued"


def test_benchmarks_are_stored_with_the_report_and_only_by_the_claiming_attempt(
        wsettings: Settings) -> None:
    from app.models import Benchmark

    sid = add_submission(wsettings, week=6, status="running", attempts=1)
    rows = [{"track": "architect", "metric": "tokens_per_s", "value": v, "unit": "tok/s",
             "device": "cpu", "seed": i} for i, v in enumerate([100.0, 110.0, 120.0])]
    rows.append({"track": "architect", "metric": "val_loss", "value": float("nan"),
                 "unit": "nats", "device": "cpu", "seed": None})  # non-finite: dropped
    report = GradeReport(week=6, title="capstone", status="graded", score=90.0, max_score=100.0,
                         benchmarks=rows)
    assert record_report(sid, 2, report, wsettings) == "lost"  # not the claiming attempt
    assert record_report(sid, 1, report, wsettings) == "graded"
    with session_scope(wsettings) as s:
        stored = s.scalars(select(Benchmark.value).where(Benchmark.submission_id == sid)).all()
    assert sorted(stored) == [100.0, 110.0, 120.0]
