"""Staff API tokens for scripts: random, shown once, stored as sha256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import AppError
from app.models import ApiToken, Instructor, utcnow

PREFIX = "zg_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, instructor: Instructor, name: str) -> tuple[ApiToken, str]:
    """A new token row and the token itself (never stored; show it once)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise AppError("a token needs a name of 1–100 characters", 422)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(instructor_id=instructor.id, name=name, token_hash=_digest(token),
                   prefix=token[:10], created_at=utcnow())
    session.add(row)
    session.flush()
    return row, token


def instructor_for(session: Session, token: str) -> Instructor | None:
    """The instructor owning a live token (records its last use), else None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token),
                                                ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    row.last_used_at = utcnow()
    return row.instructor


def listing(session: Session) -> Sequence[ApiToken]:
    """All tokens, newest first (for the dashboard)."""
    return session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()


def revoke(session: Session, token_id: int) -> None:
    """Revoke a token (404 when unknown)."""
    res = session.execute(update(ApiToken).where(ApiToken.id == token_id,
                                                 ApiToken.revoked_at.is_(None))
                          .values(revoked_at=utcnow()))
    if not getattr(res, "rowcount", 0):
        raise AppError("token not found or already revoked", 404)
