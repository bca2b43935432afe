"""Instructor auth: argon2 hashes, HMAC-signed session cookies, CSRF tokens, login throttling.

Throttling is kept in memory per process (5 failures per login+IP per 15 minutes → 429): a
restart forgets it, and with several web processes each counts on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Instructor

COOKIE = "zg_session"
MAX_FAILURES = 5
WINDOW_S = 15 * 60
_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))
_PROCESS_KEY = secrets.token_bytes(32)  # used when Settings.secret_key is empty


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def _key(settings: Settings) -> bytes:
    return settings.secret_key.encode() if settings.secret_key else _PROCESS_KEY


def _sign(settings: Settings, payload: bytes) -> str:
    return hmac.new(_key(settings), payload, hashlib.sha256).hexdigest()


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


class Throttle:
    """Failed logins per key in a sliding window (in memory, thread-safe)."""

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, key: str) -> float:
        """Seconds until `key` may try again (0: not blocked)."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now)
            return q[0] + self.window_s - now if len(q) >= self.limit else 0.0

    def fail(self, key: str) -> None:
        """Record a failure."""
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())

    def reset(self, key: str) -> None:
        """Forget failures after a success."""
        with self._lock:
            self._fails.pop(key, None)


throttle = Throttle()


def authenticate(session: Session, login: str, password: str, ip: str) -> Instructor:
    """The instructor for these credentials; AppError 401 (wrong) or 429 (too many tries)."""
    key = f"{login.strip().lower()}|{ip}"
    wait = throttle.blocked(key)
    if wait > 0:
        raise AppError(f"too many failed logins; try again in {int(wait // 60) + 1} minutes",
                       429)
    row = session.scalar(select(Instructor).where(Instructor.login == login.strip()))
    try:
        _hasher.verify(row.password_hash if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        row = None
    if row is None:
        throttle.fail(key)
        raise AppError("wrong login or password", 401)
    throttle.reset(key)
    return row


def make_cookie(settings: Settings, instructor: Instructor) -> str:
    """A signed session value: base64(json{id, nonce, issued}).hmac."""
    body = json.dumps({"i": instructor.id, "n": secrets.token_urlsafe(16),
                       "t": int(time.time())}, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{payload}.{_sign(settings, payload.encode())}"


def read_cookie(settings: Settings, value: str | None) -> dict | None:
    """The session dict when the cookie is authentic and fresh, else None."""
    if not value or "." not in value or len(value) > 1000:
        return None
    payload, sig = value.rsplit(".", 1)
    if not hmac.compare_digest(sig, _sign(settings, payload.encode())):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict) or time.time() - int(data.get("t", 0)) > \
            settings.session_max_age_s:
        return None
    return data


def instructor_from_cookie(session: Session, settings: Settings,
                           value: str | None) -> Instructor | None:
    """The logged-in instructor, or None."""
    data = read_cookie(settings, value)
    return session.get(Instructor, int(data["i"])) if data else None


def csrf_token(settings: Settings, cookie_value: str | None) -> str:
    """The CSRF token bound to this session (HMAC of its nonce)."""
    data = read_cookie(settings, cookie_value) or {}
    return _sign(settings, f"csrf:{data.get('n', '')}".encode())


def check_csrf(settings: Settings, cookie_value: str | None, token: str | None) -> None:
    """AppError 403 unless `token` belongs to this session."""
    if not token or read_cookie(settings, cookie_value) is None or not hmac.compare_digest(
            token, csrf_token(settings, cookie_value)):
        raise AppError("invalid or missing CSRF token; reload the page and try again", 403)
