"""Instructor auth: argon2 hashes, server-side sessions, login throttling.

Throttling (5 failures per login+IP, 30 per IP, per 15 minutes → 429) uses app.ratelimit:
shared through Redis when REDIS_URL is set, in process memory otherwise.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Instructor
from app.ratelimit import LOGIN_FAILURES, LOGIN_IP_FAILURES, record, reset, wait_s
from app.services import sessions

COOKIE = "zg_session"
_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def create_instructor(session: Session, login: str, password: str) -> Instructor:
    """A new instructor (AppError 409 when the login exists, 422 on a weak password)."""
    login = login.strip()
    if not login or len(login) > 100:
        raise AppError("login must be 1–100 characters", 422)
    if len(password) < 8:
        raise AppError("password must be at least 8 characters", 422)
    if session.scalar(select(Instructor.id).where(Instructor.login == login)) is not None:
        raise AppError(f"instructor {login!r} already exists", 409)
    row = Instructor(login=login, password_hash=hash_password(password))
    session.add(row)
    session.flush()
    return row


def authenticate(session: Session, settings: Settings, login: str, password: str,
                 ip: str) -> Instructor:
    """The instructor for these credentials; AppError 401 (wrong) or 429 (too many tries)."""
    key = f"{login.strip().lower()}|{ip}"
    wait = max(wait_s(settings, LOGIN_FAILURES, "login", key),
               wait_s(settings, LOGIN_IP_FAILURES, "login-ip", ip))  # many logins, one address
    if wait > 0:
        raise AppError(f"too many failed logins; try again in {int(wait // 60) + 1} minutes",
                       429)
    row = session.scalar(select(Instructor).where(Instructor.login == login.strip()))
    try:
        _hasher.verify(row.password_hash if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        row = None
    if row is None:
        record(settings, LOGIN_FAILURES, "login", key)
        record(settings, LOGIN_IP_FAILURES, "login-ip", ip)
        raise AppError("wrong login or password", 401)
    reset(settings, LOGIN_FAILURES, "login", key)
    return row


def start_session(session: Session, settings: Settings, instructor: Instructor) -> str:
    """A new server-side staff session; the cookie value."""
    return sessions.create(session, "staff", settings.session_max_age_s,
                           instructor_id=instructor.id)


def instructor_from_cookie(session: Session, value: str | None) -> Instructor | None:
    """The logged-in instructor, or None (unknown, expired or revoked session)."""
    row = sessions.lookup(session, "staff", value)
    return session.get(Instructor, row.instructor_id) if row and row.instructor_id else None


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_secret_key(settings: Settings) -> None:
    """RuntimeError when several processes or a public host would run without a shared key."""
    if settings.secret_key:
        return
    public = urlsplit(settings.base_url).hostname if settings.base_url else None
    why = (f"{settings.web_processes} web processes are configured"
           if settings.web_processes > 1 else
           f"the host {settings.host!r} is not loopback" if settings.host not in LOOPBACK else
           f"the base URL {settings.base_url!r} is public" if public and public not in LOOPBACK
           else "")
    if why:
        raise RuntimeError(f"ZEROGRAD_SECRET_KEY must be set: {why}, and every process must "
                           "sign CSRF tokens with the same key (e.g. ZEROGRAD_SECRET_KEY=$(python "
                           "-c 'import secrets; print(secrets.token_urlsafe(32))'))")
