"""Request dependencies: the session (committed before the response), settings, staff auth."""

from __future__ import annotations

import secrets
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from fastapi import Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import get_session
from app.errors import AppError
from app.models import Instructor, Submission
from app.services import submissions as svc

# scope="function": commit (and the after-commit enqueue) happens before the response is sent
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
_basic = HTTPBasic(auto_error=False)
_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def optional_instructor(
    session: SessionDep, creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> Instructor | None:
    """The instructor named by HTTP Basic credentials (401 when they are wrong)."""
    if creds is None:
        return None
    row = session.scalar(select(Instructor).where(Instructor.login == creds.username))
    try:
        _hasher.verify(row.password_hash if row else _DUMMY, creds.password)
    except VerificationError:
        row = None
    if row is None:
        raise AppError("wrong instructor login or password", 401)
    return row


def require_instructor(
    instructor: Annotated[Instructor | None, Depends(optional_instructor)],
) -> Instructor:
    """Staff only (HTTP Basic)."""
    if instructor is None:
        raise AppError("instructor login required (HTTP Basic)", 401)
    return instructor


StaffDep = Annotated[Instructor, Depends(require_instructor)]
MaybeStaffDep = Annotated[Instructor | None, Depends(optional_instructor)]


async def accept_upload(session: Session, settings: Settings, login: str, week: int,
                        upload: UploadFile) -> Submission:
    """Read an upload within the size limit and queue it (DB work off the event loop)."""
    limit = settings.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise AppError(f"file too large (more than {limit // 1024} KiB)", 422)
    return await run_in_threadpool(svc.create_upload, session, settings, login, week,
                                   upload.filename or "", data)
