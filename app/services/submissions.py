"""Create submissions from an upload, a fork URL or a GitHub push; queries for pages and API."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Student, Submission, WebhookDelivery, new_submission_id, utcnow
from app.queue import enqueue_grading
from app.services import policies
from app.services.forks import ForkError, validate_ref, validate_repo_url
from grader import source
from grader.weeks import WEEKS

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
UPLOAD_SUFFIXES = (".ipynb", ".py")


def insert_ignore(session: Session, model: type, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING (Postgres and SQLite); True when a row was inserted."""
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    mod: Any = postgresql if dialect == "postgresql" else sqlite
    pk = next(iter(table.primary_key.columns))
    stmt = mod.insert(table).values(**values).on_conflict_do_nothing().returning(pk)
    return session.execute(stmt).first() is not None  # rowcount is unreliable here


def insert_new_submission(session: Session, values: dict[str, Any]) -> Submission | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the row (one round trip); None on a duplicate."""
    dialect = session.get_bind().dialect.name
    mod: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(Submission).values(**values).on_conflict_do_nothing().returning(Submission)
    return session.scalars(stmt).first()


def check_week(week: int) -> int:
    """A week the grader knows, else 422."""
    if week not in WEEKS:
        raise AppError(f"week {week} cannot be graded yet (available: "
                       f"{', '.join(map(str, WEEKS))})", 422)
    return week


def get_or_create_student(session: Session, login: str) -> Student:
    """The student with this GitHub login (created on first use; race-safe)."""
    login = (login or "").strip().removeprefix("@")
    if not _LOGIN.match(login):
        raise AppError(f"{login!r} is not a valid GitHub login", 422)
    q = select(Student).where(func.lower(Student.github_login) == login.lower())
    student = session.scalar(q)
    if student is None:
        insert_ignore(session, Student, {"github_login": login, "created_at": utcnow()})
        student = session.scalar(q)
    assert student is not None
    return student


def _new(session: Session, settings: Settings, **values: Any) -> Submission:
    policies.check_quota(session, settings, values["student_id"], values["week"])  # 429
    sub = Submission(status="queued", attempts=0, **values)
    session.add(sub)
    session.flush()
    enqueue_grading(session, sub.id, sub.week, settings)
    return sub


def create_upload(session: Session, settings: Settings, login: str, week: int,
                  filename: str, data: bytes) -> Submission:
    """Validate an uploaded .ipynb/.py with the grader's parser, then queue it."""
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
    student = get_or_create_student(session, login)
    return _new(session, settings, student_id=student.id, week=week, source="upload",
                filename=name, notebook=data, notebook_sha256=src.sha256)


def create_fork(session: Session, settings: Settings, login: str, week: int, repo_url: str,
                commit_sha: str | None = None) -> Submission:
    """Queue a fork at a commit (or its default branch, resolved at grading time)."""
    check_week(week)
    try:
        url = validate_repo_url(repo_url, settings)
        ref = validate_ref(commit_sha) if commit_sha else None
    except ForkError as e:
        raise AppError(str(e), 422) from None
    student = get_or_create_student(session, login)
    return _new(session, settings, student_id=student.id, week=week, source="fork",
                repo_url=url, commit_sha=ref)


def weeks_changed(payload: dict[str, Any]) -> list[int]:
    """Weeks whose notebook paths were added or modified in a push payload."""
    paths: set[str] = set()
    for commit in payload.get("commits") or []:
        for key in ("added", "modified"):
            paths.update(p for p in commit.get(key) or [] if isinstance(p, str))
    return [w for w in WEEKS if paths & set(source.candidates(w))]


def record_delivery(session: Session, delivery_id: str, event: str,
                    outcome: str = "received") -> bool:
    """Remember a GitHub delivery and what it did; False when it was seen before."""
    return insert_ignore(session, WebhookDelivery, {
        "delivery_id": delivery_id[:100], "event": event[:50], "received_at": utcnow(),
        "outcome": outcome[:200]})


def handle_push(session: Session, settings: Settings, delivery_id: str,
                payload: dict[str, Any]) -> tuple[str, list[Submission]]:
    """One submission per changed week at the pushed commit (deduped by repo, sha, week).

    The delivery row is written last, with its outcome, in the same transaction (one statement
    fewer); a re-sent delivery finds its submissions deduplicated by repo, sha and week first."""
    outcome, subs = _push_submissions(session, settings, payload)
    if not record_delivery(session, delivery_id, "push", outcome):
        return "duplicate delivery", subs
    return outcome, subs


def _push_submissions(session: Session, settings: Settings,
                      payload: dict[str, Any]) -> tuple[str, list[Submission]]:
    after = str(payload.get("after") or "")
    if payload.get("deleted") or not after.strip("0") or str(payload.get("ref", "")).startswith(
            "refs/tags/"):
        return "ignored: branch deletion or tag", []
    repo = payload.get("repository") or {}
    owner = (repo.get("owner") or {}).get("login") or (payload.get("sender") or {}).get("login")
    try:
        url = validate_repo_url(str(repo.get("html_url") or ""), settings)
        sha = validate_ref(after)
    except ForkError as e:
        return f"ignored: {e}", []
    weeks = weeks_changed(payload)
    if not weeks:
        return "ignored: no week notebook changed", []
    student = get_or_create_student(session, str(owner or ""))
    created = []
    for week in weeks:
        sub = insert_new_submission(session, {
            "id": new_submission_id(), "student_id": student.id, "week": week,
            "source": "webhook", "repo_url": url, "commit_sha": sha, "status": "queued",
            "attempts": 0, "received_at": utcnow(), "dedupe_key": f"{url}@{sha}#{week}"})
        if sub is not None:
            enqueue_grading(session, sub.id, week, settings)
            created.append(sub)
    return f"queued {len(created)} of {len(weeks)} week(s)", created


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
