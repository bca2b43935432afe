"""Grade one submission: claim the row, fetch the source, grade, record exactly one result."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import undefer

from app.config import Settings
from app.db import session_scope
from app.models import CheckResult, Submission, utcnow
from app.services import forks
from grader import grade, source
from grader.report import STATUS_GRADED, STATUS_GRADER_ERROR, GradeReport
from workers import github_status
from workers.benchmarks import record_benchmarks
from workers.tempdirs import sweep_temp

log = logging.getLogger(__name__)

AUTOGRADER_FAILED = ("The autograder failed on this submission. This is not your fault; "
                     "the staff have been told. It did not use one of your daily submissions.")
GITHUB_UNREACHABLE = ("GitHub unreachable, retrying: your repository could not be fetched "
                      "(attempt {attempt}). This is not your fault and does not use one of your "
                      "daily submissions.")
AUTOGRADER_RETRY = ("The autograder failed on this submission (attempt {attempt}) and is trying "
                    "again. This is not your fault and does not use one of your daily "
                    "submissions.")
GITHUB_GAVE_UP = ("GitHub stayed unreachable, so your repository could not be fetched. This is "
                  "not your fault and did not use one of your daily submissions: submit again "
                  "when GitHub is back.")
OPEN = ("queued", "running")


def gave_up_message(last_status: str | None) -> str:
    """What the student reads when the retries are used up (infrastructure, never theirs)."""
    if (last_status or "").startswith("GitHub unreachable"):
        return GITHUB_GAVE_UP
    return AUTOGRADER_FAILED


class TransientError(Exception):
    """Infrastructure trouble worth retrying later (never a student's fault)."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status  # what the student sees while it is retried ({attempt} filled in)


TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, TransientError)


def transient_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a task retries with backoff: DB connection trouble, git network trouble."""
    return TRANSIENT


def worker_name() -> str:
    """host:pid:thread of this grading attempt."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:200]


def aware(ts: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they are UTC."""
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def alive(settings: Settings, started_at: datetime | None, heartbeat_at: datetime | None,
          now: datetime | None = None) -> bool:
    """A running row's worker is alive: a recent heartbeat, and not past the stuck deadline."""
    now = now or utcnow()
    started, beat = aware(started_at), aware(heartbeat_at) or aware(started_at)
    if started is None or beat is None:
        return False
    return (beat > now - timedelta(seconds=settings.heartbeat_timeout_s)
            and started > now - timedelta(seconds=settings.stuck_after_s))


def claim(submission_id: str, settings: Settings) -> int | None:
    """Mark the row running (attempts+1) if it is queued or stale; the attempt number, or None."""
    with session_scope(settings) as s:
        row = s.execute(
            select(Submission.status, Submission.attempts, Submission.started_at,
                   Submission.heartbeat_at, Submission.error)
            .where(Submission.id == submission_id).with_for_update(skip_locked=True)
        ).one_or_none()
        if row is None or row.status not in OPEN:
            return None  # missing, locked by a concurrent claim, or already finished
        if row.status == "running" and alive(settings, row.started_at, row.heartbeat_at):
            return None  # another worker is on it; the sweeper handles a dead one
        guard = (Submission.id == submission_id, Submission.status == row.status,
                 Submission.attempts == row.attempts)
        if row.attempts >= settings.max_attempts:
            s.execute(update(Submission).where(*guard).values(
                status="failed", error=gave_up_message(row.error), finished_at=utcnow(),
                infra_fault=True))
            log.error("submission %s failed after %d attempts", submission_id, row.attempts)
            github_status.post_failure(s.get_one(Submission, submission_id), AUTOGRADER_FAILED,
                                       settings)
            return None
        now = utcnow()
        res = s.execute(update(Submission).where(*guard).values(
            status="running", attempts=row.attempts + 1, started_at=now, heartbeat_at=now,
            worker=worker_name(), finished_at=None))
        return row.attempts + 1 if _rowcount(res) == 1 else None


class Heartbeat:
    """While grading: refresh the claimed row's heartbeat_at from a thread."""

    def __init__(self, submission_id: str, attempt: int, settings: Settings) -> None:
        self.submission_id, self.attempt, self.settings = submission_id, attempt, settings
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"zg-heartbeat-{submission_id}",
                                       daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def beat(self) -> bool:
        """One refresh; False when the row is no longer ours (finished or re-claimed)."""
        with session_scope(self.settings) as s:
            res = s.execute(update(Submission).where(
                Submission.id == self.submission_id, Submission.status == "running",
                Submission.attempts == self.attempt).values(heartbeat_at=utcnow()))
            return _rowcount(res) == 1

    def _run(self) -> None:
        while not self.stop.wait(self.settings.heartbeat_interval_s):
            try:
                if not self.beat():
                    return
            except Exception as e:  # a DB hiccup: the next beat tries again
                log.warning("heartbeat of %s failed: %s", self.submission_id, e)


def _rowcount(res: Any) -> int:
    return int(res.rowcount)


def release(submission_id: str, attempt: int, settings: Settings,
            status: str | None = None) -> None:
    """Put a claimed row back to queued (before a retry) with the student's status; best effort."""
    try:
        with session_scope(settings) as s:
            s.execute(update(Submission).where(
                Submission.id == submission_id, Submission.status == "running",
                Submission.attempts == attempt).values(
                    status="queued", started_at=None, heartbeat_at=None,
                    error=status.format(attempt=attempt) if status else None))
    except Exception:
        log.warning("could not release %s; the sweeper will pick it up", submission_id)


def run_grading(submission_id: str, settings: Settings) -> str:
    """The task body: "graded", "failed", "skipped" (not ours) or "lost" (superseded)."""
    sweep_temp(settings)  # leftovers of killed gradings on this host
    attempt = claim(submission_id, settings)
    if attempt is None:
        return "skipped"
    try:
        with Heartbeat(submission_id, attempt, settings):
            return _grade_claimed(submission_id, attempt, settings)
    except transient_errors() as e:
        release(submission_id, attempt, settings, getattr(e, "status", None))
        raise


def _grade_claimed(submission_id: str, attempt: int, settings: Settings) -> str:
    with session_scope(settings) as s:
        sub = s.execute(select(Submission).options(undefer(Submission.notebook))
                        .where(Submission.id == submission_id)).scalar_one()
        s.expunge(sub)
    student_errors = (source.SourceError, forks.ForkError)
    with tempfile.TemporaryDirectory(prefix=f"zg-fork-{os.getpid()}-") as tmp:
        try:
            src = load_source(sub, Path(tmp), settings)
        except student_errors as e:
            outcome = record_failure(submission_id, attempt, str(e), settings)
            if outcome != "lost":
                github_status.post_failure(sub, str(e), settings, state="error")
            return outcome
        gpu = settings.worker_gpu_devices if sub.week in (5, 6) else None
        report = grade.grade(src, settings.data_dir, backend=settings.sandbox_backend,
                             gpu_devices=gpu)
    if report.status == STATUS_GRADER_ERROR and attempt < settings.max_attempts:
        log.error("grading %s failed in the grader (attempt %d), retrying:\n%s",
                  submission_id, attempt, report.staff_traceback)
        raise TransientError("the autograder failed; retrying", AUTOGRADER_RETRY)
    outcome = record_report(submission_id, attempt, report, settings, sub.commit_sha)
    if outcome != "lost":
        github_status.post_for(sub, report, settings)
    return outcome


def load_source(sub: Submission, tmp: Path, settings: Settings) -> source.Source:
    """Upload bytes from the row, or a fork cloned into tmp."""
    if sub.source == "upload":
        if sub.notebook is None:
            raise source.SourceError("the uploaded file is missing")
        return source.from_bytes(sub.notebook, sub.filename or "upload.ipynb", sub.week)
    if not sub.repo_url:
        raise source.SourceError("no repository URL")
    try:
        path = forks.fetch_fork(sub.repo_url, sub.commit_sha, tmp, settings)
        if not sub.commit_sha:  # "default branch": remember which commit was graded
            sub.commit_sha = forks.head_sha(path)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:  # git/network trouble
        raise TransientError(f"fetching {sub.repo_url}: {e}", GITHUB_UNREACHABLE) from e
    return source.load(path, sub.week)


def record_report(submission_id: str, attempt: int, report: GradeReport,
                  settings: Settings, commit_sha: str | None = None) -> str:
    """Store the report, score and check rows in one guarded transaction."""
    status = "failed" if report.status == STATUS_GRADER_ERROR else "graded"
    error = None if report.status == STATUS_GRADED else report.message
    report_json = report.to_dict(staff=True)
    with session_scope(settings) as s:
        res = s.execute(update(Submission).where(
            Submission.id == submission_id, Submission.status == "running",
            Submission.attempts == attempt,
        ).values(status=status, score=report.score, max_score=report.max_score,
                 report_json=report_json, grader_version=report.grader_version,
                 error=error, finished_at=utcnow(), infra_fault=status == "failed",
                 **({"commit_sha": commit_sha} if commit_sha else {})))
        if _rowcount(res) != 1:
            log.warning("attempt %d of %s was superseded; result dropped", attempt, submission_id)
            return "lost"
        s.add_all([CheckResult(submission_id=submission_id, name=c.name, points=c.points,
                               max_points=c.max_points, passed=c.passed, message=c.message,
                               duration_s=c.duration_s) for c in report.checks])
        record_benchmarks(s, submission_id, report_json)  # same transaction: all or nothing
    return status


def record_failure(submission_id: str, attempt: int, message: str, settings: Settings) -> str:
    """A submission we could not accept (bad file, unusable fork): failed with its message."""
    with session_scope(settings) as s:
        res = s.execute(update(Submission).where(
            Submission.id == submission_id, Submission.status == "running",
            Submission.attempts == attempt,
        ).values(status="failed", error=message[:2000], finished_at=utcnow()))
        return "failed" if _rowcount(res) == 1 else "lost"
