"""Server-side sessions: the cookie holds a random token, the database its sha256 (revocable)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import WebSession, utcnow

_PROCESS_KEY = secrets.token_bytes(32)  # used when Settings.secret_key is empty (one process)


def digest(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, kind: str, max_age_s: int, *, student_id: int | None = None,
           instructor_id: int | None = None, data: dict[str, Any] | None = None) -> str:
    """A new session row; returns the token for the cookie (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(id=digest(token), kind=kind, student_id=student_id,
                           instructor_id=instructor_id, data=data, created_at=utcnow(),
                           expires_at=utcnow() + timedelta(seconds=max_age_s)))
    session.flush()
    return token


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def lookup(session: Session, kind: str, token: str | None) -> WebSession | None:
    """The live session of this kind for a cookie value, else None."""
    if not token or len(token) > 200:
        return None
    row = session.get(WebSession, digest(token))
    if row is None or row.kind != kind or _aware(row.expires_at) <= utcnow():
        return None
    return row


def revoke(session: Session, token: str | None) -> None:
    """Delete the session (logout)."""
    if token and len(token) <= 200:
        session.execute(delete(WebSession).where(WebSession.id == digest(token)))


def purge_expired(session: Session) -> int:
    """Delete expired sessions; how many."""
    res = session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(getattr(res, "rowcount", 0) or 0)


def _key(settings: Settings) -> bytes:
    return settings.secret_key.encode() if settings.secret_key else _PROCESS_KEY


def csrf_token(settings: Settings, token: str | None) -> str:
    """The CSRF token bound to a session cookie value (HMAC with the secret key)."""
    return hmac.new(_key(settings), f"csrf:{token or ''}".encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, token: str | None, form_token: str | None) -> None:
    """AppError 403 unless `form_token` belongs to this session."""
    if not token or not form_token or not hmac.compare_digest(
            form_token, csrf_token(settings, token)):
        raise AppError("invalid or missing CSRF token; reload the page and try again", 403)
