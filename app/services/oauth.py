"""Student sign-in with GitHub: OAuth web flow (Authlib's RFC 6749/7636 helpers), state + PKCE.

The state and the PKCE verifier live in a short server-side "oauth" session bound to the browser
by a cookie, so a callback from another browser (login CSRF) or a replayed one is refused.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Student
from app.services import github, sessions
from app.services.submissions import get_or_create_student

PENDING_S = 600  # an unfinished sign-in expires after ten minutes


def configured(settings: Settings) -> bool:
    """Is GitHub sign-in set up?"""
    return bool(settings.github_client_id and settings.github_client_secret)


def callback_url(settings: Settings) -> str:
    """The redirect URI registered with the OAuth app."""
    return f"{settings.public_url}/auth/github/callback"


def begin(session: Session, settings: Settings, next_: str) -> tuple[str, str]:
    """(authorize URL, pending-session cookie value) for a new sign-in."""
    if not configured(settings):
        raise AppError("GitHub sign-in is not configured on this server", 503)
    state, verifier = generate_token(32), generate_token(64)
    token = sessions.create(session, "oauth", PENDING_S,
                            data={"state": state, "verifier": verifier, "next": next_})
    url = prepare_grant_uri(f"{settings.github_oauth_url.rstrip('/')}/login/oauth/authorize",
                            settings.github_client_id, "code", callback_url(settings),
                            scope="", state=state, allow_signup="false",
                            code_challenge=create_s256_code_challenge(verifier),
                            code_challenge_method="S256")
    return url, token


def _exchange(settings: Settings, code: str, verifier: str) -> str:
    body = prepare_token_request("authorization_code", code=code,
                                 redirect_uri=callback_url(settings), code_verifier=verifier,
                                 client_id=settings.github_client_id,
                                 client_secret=settings.github_client_secret)
    try:
        r = httpx.post(f"{settings.github_oauth_url.rstrip('/')}/login/oauth/access_token",
                       content=body, timeout=10, headers={
                           "Accept": "application/json",
                           "Content-Type": "application/x-www-form-urlencoded"})
    except httpx.HTTPError:
        raise AppError("GitHub is unreachable; try signing in again later", 503) from None
    data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code != 200 or not isinstance(data.get("access_token"), str):
        raise AppError("GitHub refused the sign-in ("
                       f"{data.get('error') or r.status_code}); please try again", 400)
    return str(data["access_token"])


def finish(session: Session, settings: Settings, pending: str | None, code: str,
           state: str) -> tuple[Student, str]:
    """Check state, trade the code (with the PKCE verifier) for a token; (student, next)."""
    row = sessions.lookup(session, "oauth", pending)
    if row is None or not isinstance(row.data, dict):
        raise AppError("this sign-in link expired or was opened in another browser; "
                       "please sign in again", 400)
    data = dict(row.data)
    sessions.revoke(session, pending)  # one use
    if not state or not hmac.compare_digest(str(data.get("state", "")), state):
        raise AppError("the sign-in state does not match; please sign in again", 400)
    if not code:
        raise AppError("GitHub did not return an authorization code", 400)
    access = _exchange(settings, code, str(data.get("verifier", "")))
    profile = github.user(settings, access)
    return get_or_create_student(session, str(profile["login"])), str(data.get("next") or "/me")


def signin_url(next_: str = "/me") -> str:
    """Where the sign-in button points."""
    return "/auth/github/login?" + urlencode({"next": next_})
