"""Request dependencies: the session, settings, the signed-in student, staff API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import get_session
from app.errors import AppError
from app.models import Instructor, Student, Submission
from app.ratelimit import TOKEN_FAILURES, record, wait_s
from app.services import sessions, tokens
from app.services import submissions as svc

# scope="function": commit (and the after-commit enqueue) happens before the response is sent
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
STUDENT_COOKIE = "zg_student"
_bearer = HTTPBearer(auto_error=False, description="a staff API token from /dashboard/tokens")


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def optional_instructor(
    request: Request, session: SessionDep, settings: SettingsDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Instructor | None:
    """The instructor named by `Authorization: Bearer <API token>` (401 when it is wrong)."""
    header = request.headers.get("authorization") or ""
    if not header:
        return None
    if creds is None:  # another scheme (HTTP Basic is not accepted)
        raise AppError("use an API token: Authorization: Bearer <token> (create one on the "
                       "dashboard's Tokens page)", 401)
    ip = request.client.host if request.client else "?"
    wait = wait_s(settings, TOKEN_FAILURES, "token", ip)
    if wait > 0:
        raise AppError(f"too many bad API tokens; try again in {int(wait) + 1} s", 429)
    row = tokens.instructor_for(session, creds.credentials.strip())
    if row is None:
        record(settings, TOKEN_FAILURES, "token", ip)
        raise AppError("unknown or revoked API token", 401)
    return row


def require_instructor(
    instructor: Annotated[Instructor | None, Depends(optional_instructor)],
) -> Instructor:
    """Staff only (API token)."""
    if instructor is None:
        raise AppError("instructor API token required (Authorization: Bearer <token>)", 401)
    return instructor


StaffDep = Annotated[Instructor, Depends(require_instructor)]
MaybeStaffDep = Annotated[Instructor | None, Depends(optional_instructor)]


def optional_student(request: Request, session: SessionDep) -> Student | None:
    """The student signed in with GitHub (server-side session), or None."""
    row = sessions.lookup(session, "student", request.cookies.get(STUDENT_COOKIE))
    return session.get(Student, row.student_id) if row and row.student_id else None


MaybeStudentDep = Annotated[Student | None, Depends(optional_student)]


@dataclass(frozen=True)
class Submitter:
    """Whose work a submission is, and the instructor who sent it on their behalf (if any)."""

    student: Student
    submitted_by: str | None = None


def submitter(session: Session, student: Student | None, staff: Instructor | None,
              github_login: str | None) -> Submitter:
    """The signed-in student; staff name the student; anyone else gets 401."""
    login = (github_login or "").strip()
    if staff is not None:
        if not login:
            raise AppError("staff submitting on a student's behalf must give github_login", 422)
        return Submitter(svc.get_or_create_student(session, login), staff.login)
    if student is None:
        raise AppError("sign in with GitHub to submit (/auth/github/login)", 401)
    if login and login.removeprefix("@").lower() != student.github_login.lower():
        raise AppError(f"you are signed in as {student.github_login}; you can only submit "
                       "your own work", 403)
    return Submitter(student)


async def accept_upload(session: Session, settings: Settings, who: Submitter, week: int,
                        upload: UploadFile) -> Submission:
    """Read an upload within the size limit and queue it (DB work off the event loop)."""
    limit = settings.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise AppError(f"file too large (more than {limit // 1024} KiB)", 422)
    return await run_in_threadpool(svc.create_upload, session, settings, who.student, week,
                                   upload.filename or "", data, who.submitted_by)
