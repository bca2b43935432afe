"""Exports: the grades CSV for an LMS, Gradescope results.json, regrades, queue health."""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, undefer

from app.config import Settings
from app.errors import AppError
from app.models import CheckResult, Submission, utcnow
from app.queue import enqueue_grading, queue_for_week
from app.services import gradebook
from app.services.policies import Policy
from grader.report import GradeReport

OPEN = ("queued", "running")


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def grades_csv(session: Session, policy: Policy, weeks: list[int]) -> str:
    """One row per student, one column per week: best score after the late penalty."""
    data = gradebook.cells(session, policy)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["github_login"] + [f"week{n}" for n in weeks] + ["total"])
    for login in sorted(data, key=str.lower):
        cells = data[login]
        best = [cells[n].best if n in cells else None for n in weeks]
        safe = "'" + login if login[:1] in "=+-@\t\r" else login  # no formula injection
        w.writerow([safe] + [_cell(b) for b in best] + [_cell(sum(b or 0 for b in best))])
    return out.getvalue()


def gradescope(sub: Submission, session: Session | None = None) -> dict[str, Any]:
    """Gradescope results.json of the grading that counts (404 when there is no report)."""
    if session is not None:
        sub = gradebook.newest_grading(session, sub)
    if not isinstance(sub.report_json, dict):
        raise AppError("this submission has no report yet", 404)
    known = {f.name for f in fields(GradeReport)}  # a report may carry extras (curves, …)
    return GradeReport.from_dict({k: v for k, v in sub.report_json.items()
                                  if k in known}).to_gradescope()


_COPY = ("student_id", "week", "source", "repo_url", "commit_sha", "notebook_sha256",
         "filename", "notebook", "received_at")


def regrade(session: Session, settings: Settings, sub_id: str) -> Submission:
    """A NEW attempt that copies the source (old results kept), enqueued after commit."""
    old = session.scalar(select(Submission).options(undefer(Submission.notebook))
                         .where(Submission.id == sub_id))
    if old is None:
        raise AppError("submission not found", 404)
    # a regrade names the ORIGINAL submission: its newest graded attempt is the one that counts
    new = Submission(status="queued", attempts=0, regrade_of=old.regrade_of or old.id,
                     **{k: getattr(old, k) for k in _COPY})
    session.add(new)
    session.flush()
    enqueue_grading(session, new.id, new.week, settings)
    return new


def submission_ids(session: Session, week: int) -> list[str]:
    """Every original submission of `week` (not while one of its attempts is being graded)."""
    chain = gradebook.chain_of()
    busy = select(chain).where(Submission.week == week, Submission.status.in_(OPEN))
    return list(session.scalars(
        select(Submission.id).where(Submission.week == week, Submission.regrade_of.is_(None),
                                    Submission.id.not_in(busy))
        .order_by(Submission.received_at, Submission.id)))


def regrade_week(session: Session, settings: Settings, week: int) -> list[Submission]:
    """Regrade every submission of a week: each one's new grading replaces its old one, so a
    grader fix reaches every score that may count (best of a student's submissions)."""
    return [regrade(session, settings, sid) for sid in submission_ids(session, week)]


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def queue_health(session: Session, settings: Settings) -> dict[str, Any]:
    """Counts per queue and status, stuck jobs, last activity per worker."""
    counts: dict[str, dict[str, int]] = {"cpu": {}, "gpu": {}}
    for week, status, n in session.execute(select(Submission.week, Submission.status,
                                                  func.count()).group_by(Submission.week,
                                                                         Submission.status)):
        q = counts[queue_for_week(week)]
        q[status] = q.get(status, 0) + n
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stuck_after_s)
    beat = func.coalesce(Submission.heartbeat_at, Submission.started_at)
    dead = now - timedelta(seconds=settings.heartbeat_timeout_s)  # its worker stopped beating
    stuck = session.execute(
        select(Submission.id, Submission.week, Submission.status, Submission.received_at,
               Submission.started_at, Submission.attempts, Submission.worker)
        .where(((Submission.status == "queued") & (Submission.received_at < cutoff)
                & Submission.regrade_of.is_(None))
               | ((Submission.status == "running")
                  & ((Submission.started_at < cutoff) | (beat < dead))))
        .order_by(Submission.received_at).limit(100)).all()
    workers = session.execute(
        select(Submission.worker, func.max(Submission.started_at), func.count(),
               func.sum(case((Submission.status == "running", 1), else_=0)))
        .where(Submission.worker.is_not(None)).group_by(Submission.worker)
        .order_by(func.max(Submission.started_at).desc()).limit(50)).all()
    return {"counts": counts, "stuck": stuck, "workers": workers, "now": utcnow()}


def week_stats(session: Session, policy: Policy, week: int) -> dict[str, Any]:
    """Best-score distribution (%), most failed checks, median grading time of a week."""
    cells = gradebook.cells(session, policy, week=week)
    pct = [100 * f for c in cells.values()
           if week in c and (f := c[week].fraction) is not None]
    failed = session.execute(
        select(CheckResult.name, func.count().filter(CheckResult.passed.is_(False)),
               func.count())
        .join(Submission, Submission.id == CheckResult.submission_id)
        .where(Submission.week == week).group_by(CheckResult.name)
        .order_by(func.count().filter(CheckResult.passed.is_(False)).desc(), CheckResult.name)
        .limit(15)).all()
    spans = session.execute(select(Submission.started_at, Submission.finished_at).where(
        Submission.week == week, Submission.status == "graded",
        Submission.started_at.is_not(None), Submission.finished_at.is_not(None))
        .order_by(Submission.finished_at.desc()).limit(5000)).all()
    secs = [(_aware(b) - _aware(a)).total_seconds() for a, b in spans  # type: ignore[operator]
            if a and b]
    return {"percent": pct, "failed": failed, "students": len(cells),
            "median_s": statistics.median(secs) if secs else None, "graded": len(secs)}
