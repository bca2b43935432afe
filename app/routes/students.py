"""Student sign-in with GitHub (OAuth), sign-out, and the student's own page."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from app.errors import AppError
from app.models import Submission
from app.routes.deps import STUDENT_COOKIE, MaybeStudentDep, SessionDep, SettingsDep
from app.services import leaderboard, oauth, policies, roster, sessions
from app.templating import templates
from grader.weeks import WEEKS

router = APIRouter(include_in_schema=False)
OAUTH_COOKIE = "zg_oauth"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/me"


@router.get("/auth/github/login")
def github_login(session: SessionDep, settings: SettingsDep, next: str = "/me") -> Response:
    """Start the OAuth web flow: 303 to GitHub's authorize page (state + PKCE)."""
    url, pending = oauth.begin(session, settings, _safe_next(next))
    resp = RedirectResponse(url, status_code=303)
    resp.set_cookie(OAUTH_COOKIE, pending, httponly=True, samesite="lax",
                    secure=settings.cookie_secure, max_age=oauth.PENDING_S, path="/auth/github")
    return resp


@router.get("/auth/github/callback")
def github_callback(request: Request, session: SessionDep, settings: SettingsDep,
                    code: str = "", state: str = "", error: str = "") -> Response:
    """GitHub sends the student back here: check state, trade the code, start a session."""
    if error:
        raise AppError(f"GitHub sign-in was not completed ({error[:100]})", 400)
    student, next_ = oauth.finish(session, settings, request.cookies.get(OAUTH_COOKIE),
                                  code, state)
    sessions.revoke(session, request.cookies.get(STUDENT_COOKIE))
    sessions.purge_expired(session)  # cheap housekeeping on each sign-in
    token = sessions.create(session, "student", settings.student_session_max_age_s,
                            student_id=student.id)
    resp = RedirectResponse(_safe_next(next_), status_code=303)
    resp.set_cookie(STUDENT_COOKIE, token, httponly=True, samesite="lax",
                    secure=settings.cookie_secure, max_age=settings.student_session_max_age_s,
                    path="/")
    resp.delete_cookie(OAUTH_COOKIE, path="/auth/github")
    return resp


@router.post("/auth/logout")
def student_logout(request: Request, session: SessionDep, settings: SettingsDep,
                   csrf: Annotated[str, Form()] = "") -> Response:
    """Sign out: the session row is deleted, so the cookie is dead everywhere."""
    token = request.cookies.get(STUDENT_COOKIE)
    sessions.check_csrf(settings, token, csrf)
    sessions.revoke(session, token)
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(STUDENT_COOKIE, path="/")
    return resp


@router.get("/me", response_class=HTMLResponse)
def my_page(request: Request, session: SessionDep, settings: SettingsDep,
            student: MaybeStudentDep) -> Response:
    """The signed-in student's submissions, quota and fork webhook set-up."""
    if student is None:
        return RedirectResponse(oauth.signin_url("/me"), status_code=303)
    if not student.webhook_secret:
        student.webhook_secret = secrets.token_urlsafe(32)
    subs = session.scalars(select(Submission).where(Submission.student_id == student.id)
                           .order_by(Submission.received_at.desc()).limit(100)).all()
    return templates.TemplateResponse(request, "me.html", {
        "student": student, "subs": subs, "weeks": WEEKS,
        "csrf": sessions.csrf_token(settings, request.cookies.get(STUDENT_COOKIE)),
        "enrolled": roster.config(settings).open_enrolment or roster.on_roster(
            session, settings, student.github_login),
        "quota": {w: policies.quota(session, settings, student.id, w) for w in WEEKS},
        "webhook_url": f"{settings.public_url}/webhooks/github"})


@router.post("/me/webhook-secret")
def rotate_secret(request: Request, session: SessionDep, settings: SettingsDep,
                  student: MaybeStudentDep, csrf: Annotated[str, Form()] = "") -> Response:
    """A new fork webhook secret (the old one stops verifying at once)."""
    if student is None:
        raise AppError("sign in with GitHub first", 401)
    sessions.check_csrf(settings, request.cookies.get(STUDENT_COOKIE), csrf)
    student.webhook_secret = secrets.token_urlsafe(32)
    return RedirectResponse("/me", status_code=303)


@router.post("/me/pseudonym")
def set_pseudonym(request: Request, session: SessionDep, settings: SettingsDep,
                  student: MaybeStudentDep, csrf: Annotated[str, Form()] = "",
                  pseudonym: Annotated[str, Form()] = "") -> Response:
    """Opt in to the student leaderboard under a pseudonym (empty: anonymous again)."""
    if student is None:
        raise AppError("sign in with GitHub first", 401)
    sessions.check_csrf(settings, request.cookies.get(STUDENT_COOKIE), csrf)
    leaderboard.set_pseudonym(session, student, pseudonym)
    return RedirectResponse("/me#leaderboard-name", status_code=303)
