"""Create submissions from an upload, a fork URL or a GitHub push; queries for pages and API."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Student, Submission, WebhookDelivery, utcnow
from app.queue import enqueue_grading
from app.services import github, policies, roster
from app.services.forks import (
    ForkError,
    check_owner,
    is_github,
    repo_owner,
    validate_ref,
    validate_repo_url,
)
from grader import source
from grader.weeks import WEEKS

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
UPLOAD_SUFFIXES = (".ipynb", ".py")


@lru_cache(maxsize=16)
def _insert_ignore_stmt(table: Table, dialect: str) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the primary key, built once per table."""
    mod: Any = postgresql if dialect == "postgresql" else sqlite
    pk = next(iter(table.primary_key.columns))
    stmt: Insert = mod.insert(table).on_conflict_do_nothing().returning(pk)
    return stmt


def insert_ignore(session: Session, model: type, values: dict[str, Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (Postgres and SQLite): the new row's key, None on a
    conflict (rowcount is unreliable here). The statement is built once; values are bound."""
    table = model.__table__  # type: ignore[attr-defined]
    stmt = _insert_ignore_stmt(table, session.get_bind().dialect.name)
    return session.execute(stmt, values).scalar()


def check_week(week: int) -> int:
    """A week the grader knows, else 422."""
    if week not in WEEKS:
        raise AppError(f"week {week} cannot be graded yet (available: "
                       f"{', '.join(map(str, WEEKS))})", 422)
    return week


_STUDENT_ID = select(Student.id).where(func.lower(Student.github_login) == bindparam("low"))


def student_id(session: Session, login: str) -> int:
    """The id of the student with this GitHub login (created on first use; race-safe)."""
    login = (login or "").strip().removeprefix("@")
    if not _LOGIN.match(login):
        raise AppError(f"{login!r} is not a valid GitHub login", 422)
    found = session.scalar(_STUDENT_ID, {"low": login.lower()})
    if found is None:
        insert_ignore(session, Student, {"github_login": login, "created_at": utcnow()})
        found = session.scalar(_STUDENT_ID, {"low": login.lower()})
    assert found is not None
    return found


def get_or_create_student(session: Session, login: str) -> Student:
    """The student with this GitHub login (created on first use; race-safe)."""
    student = session.get(Student, student_id(session, login))
    assert student is not None
    return student


def _new(session: Session, settings: Settings, **values: Any) -> Submission:
    policies.check_quota(session, settings, values["student_id"], values["week"])  # 429
    sub = Submission(status="queued", attempts=0, **values)
    session.add(sub)
    session.flush()
    enqueue_grading(session, sub.id, sub.week, settings)
    return sub


def create_upload(session: Session, settings: Settings, student: Student, week: int,
                  filename: str, data: bytes, submitted_by: str | None = None) -> Submission:
    """Validate an uploaded .ipynb/.py with the grader's parser, then queue it for `student`."""
    check_week(week)
    name = os.path.basename((filename or "").replace("\\", "/"))
    if not name.endswith(UPLOAD_SUFFIXES):
        raise AppError(f"unsupported file type {name!r}: upload a .ipynb or .py file", 422)
    if len(data) > settings.max_upload_bytes:
        raise AppError(f"file too large ({len(data) // 1024} KiB > "
                       f"{settings.max_upload_bytes // 1024} KiB)", 422)
    try:
        src = source.from_bytes(data, name, week)
    except source.SourceError as e:
        raise AppError(str(e), 422) from None
    roster.require(session, settings, student.github_login)
    return _new(session, settings, student_id=student.id, week=week, source="upload",
                filename=name, notebook=data, notebook_sha256=src.sha256,
                submitted_by=submitted_by)


def check_upstream(settings: Settings, url: str, login: str) -> None:
    """AppError unless a GitHub repo is `login`'s fork of the course's upstream (when set)."""
    upstream = settings.course_upstream_repo.strip().lower()
    if not upstream or not is_github(url):
        return
    owner, name = repo_owner(url)
    meta = github.repo(settings, owner, name)
    if meta.owner.lower() != login.lower():
        raise AppError(f"GitHub says {owner}/{name} belongs to {meta.owner!r}, not to you", 422)
    if not meta.fork or (meta.parent or "").lower() != upstream:
        raise AppError(f"{owner}/{name} is not a fork of {settings.course_upstream_repo}; "
                       "fork the course repository and submit that", 422)


def create_fork(session: Session, settings: Settings, student: Student, week: int,
                repo_url: str, commit_sha: str | None = None,
                submitted_by: str | None = None) -> Submission:
    """Queue `student`'s own fork at a commit (or its default branch, resolved at grading)."""
    check_week(week)
    try:
        url = validate_repo_url(repo_url, settings)
        ref = validate_ref(commit_sha) if commit_sha else None
        check_owner(url, student.github_login)
    except ForkError as e:
        raise AppError(str(e), 422) from None
    roster.require(session, settings, student.github_login)
    check_upstream(settings, url, student.github_login)
    return _new(session, settings, student_id=student.id, week=week, source="fork",
                repo_url=url, commit_sha=ref, submitted_by=submitted_by)


def record_delivery(session: Session, delivery_id: str, event: str,
                    outcome: str = "received") -> bool:
    """Remember a GitHub delivery and what it did; False when it was seen before."""
    return insert_ignore(session, WebhookDelivery, {
        "delivery_id": delivery_id[:100], "event": event[:50], "received_at": utcnow(),
        "outcome": outcome[:200]}) is not None


def get_submission(session: Session, submission_id: str) -> Submission:
    """A submission by id, else 404."""
    sub = session.get(Submission, submission_id) if len(submission_id) <= 32 else None
    if sub is None:
        raise AppError("submission not found", 404)
    return sub


def list_submissions(session: Session, login: str | None = None, week: int | None = None,
                     status: str | None = None, limit: int = 50,
                     offset: int = 0) -> Sequence[Submission]:
    """Newest first, filtered."""
    q = select(Submission).order_by(Submission.received_at.desc(), Submission.id)
    if login:
        q = q.join(Student).where(func.lower(Student.github_login) == login.lower())
    if week is not None:
        q = q.where(Submission.week == week)
    if status:
        q = q.where(Submission.status == status)
    return session.scalars(q.limit(min(limit, 200)).offset(offset)).all()
