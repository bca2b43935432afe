"""Instructor login/logout pages and the (server-side) session dependency the dashboard uses."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.config import Settings
from app.errors import AppError, error_response
from app.models import Instructor
from app.routes.deps import SessionDep, SettingsDep
from app.services import auth, sessions
from app.templating import templates

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "zg_login_csrf"


class LoginRequired(Exception):
    """Raised by the staff dependency; answered with a redirect (GET) or 401."""


def staff_session(request: Request, session: SessionDep) -> Instructor:
    """The logged-in instructor (cookie session), else LoginRequired."""
    row = auth.instructor_from_cookie(session, request.cookies.get(auth.COOKIE))
    if row is None:
        raise LoginRequired()
    request.state.instructor = row
    return row


StaffSessionDep = Annotated[Instructor, Depends(staff_session)]


def csrf_for(request: Request, settings: Settings) -> str:
    """This session's CSRF token (for templates)."""
    return sessions.csrf_token(settings, request.cookies.get(auth.COOKIE))


def require_csrf(request: Request, settings: Settings, token: str | None) -> None:
    """403 unless the form's token matches the session."""
    sessions.check_csrf(settings, request.cookies.get(auth.COOKIE), token)


async def login_required(request: Request, exc: Exception) -> Response:
    """GET → 303 to /login?next=…; anything else → 401."""
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return error_response(request, "instructor login required", 401)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


def _login_page(request: Request, next_: str, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(16)
    resp = templates.TemplateResponse(request, "dashboard/login.html", {
        "next": _safe_next(next_), "error": error, "login_csrf": token}, status_code=status_code)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login")
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/dashboard") -> HTMLResponse:
    """The instructor login form."""
    return _login_page(request, next)


@router.post("/login")
def login(request: Request, session: SessionDep, settings: SettingsDep,
          login: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/dashboard",
          ) -> Response:
    """Check the password (throttled); set the session cookie; 303 to `next`."""
    expected = request.cookies.get(LOGIN_CSRF)
    if not expected or not secrets.compare_digest(expected, csrf):
        return _login_page(request, next, "Your form expired; please try again.", 403)
    ip = request.client.host if request.client else "?"
    try:
        row = auth.authenticate(session, settings, login, password, ip)
    except AppError as e:
        return _login_page(request, next, e.message, e.status_code)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(auth.COOKIE, auth.start_session(session, settings, row), httponly=True,
                    samesite="lax", secure=settings.cookie_secure,
                    max_age=settings.session_max_age_s, path="/")
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


@router.post("/logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep,
           _staff: StaffSessionDep, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session: its row is deleted, so a copied cookie stops working too."""
    require_csrf(request, settings, csrf)
    sessions.revoke(session, request.cookies.get(auth.COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(auth.COOKIE, path="/")
    return resp
