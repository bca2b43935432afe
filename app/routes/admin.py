"""Dashboard administration: the course roster (CSV import) and staff API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.config import Settings
from app.errors import AppError
from app.routes.auth import StaffSessionDep, csrf_for, require_csrf
from app.routes.deps import SessionDep, SettingsDep
from app.services import roster, tokens
from app.templating import templates

router = APIRouter(prefix="/dashboard", include_in_schema=False)
WEEKS = list(range(1, 7))
MAX_CSV = 2 * 1024 * 1024


def _render(request: Request, name: str, ctx: dict[str, Any], settings: Settings,
            status_code: int = 200) -> HTMLResponse:
    ctx.update(csrf=csrf_for(request, settings), staff=request.state.instructor, weeks=WEEKS)
    return templates.TemplateResponse(request, f"dashboard/{name}", ctx,
                                      status_code=status_code)


@router.get("/roster", response_class=HTMLResponse)
def roster_page(request: Request, session: SessionDep, settings: SettingsDep,
                _staff: StaffSessionDep, added: int | None = None,
                updated: int | None = None) -> HTMLResponse:
    """The roster: imported entries, those listed in course.toml, the enrolment mode."""
    return _render(request, "roster.html", {
        "entries": roster.listing(session), "cfg": roster.config(settings),
        "added": added, "updated": updated}, settings)


@router.post("/roster")
async def roster_import(request: Request, session: SessionDep, settings: SettingsDep,
                        _staff: StaffSessionDep, file: Annotated[UploadFile, File()],
                        csrf: Annotated[str, Form()] = "") -> Response:
    """Import a roster CSV (all rows or none); 303 back with the counts."""
    require_csrf(request, settings, csrf)
    data = await file.read(MAX_CSV + 1)
    if len(data) > MAX_CSV:
        raise AppError("roster CSV too large (2 MiB at most)", 422)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AppError("the roster CSV must be UTF-8", 422) from None
    added, updated = roster.import_rows(session, roster.parse_csv(text))
    return RedirectResponse(f"/dashboard/roster?added={added}&updated={updated}",
                            status_code=303)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, session: SessionDep, settings: SettingsDep,
                _staff: StaffSessionDep) -> HTMLResponse:
    """API tokens: who made them, last use, revoked or not."""
    return _render(request, "tokens.html", {"tokens": tokens.listing(session), "new": None},
                   settings)


@router.post("/tokens", response_class=HTMLResponse)
def token_create(request: Request, session: SessionDep, settings: SettingsDep,
                 staff: StaffSessionDep, name: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "") -> HTMLResponse:
    """A new token, shown once on the page that answers."""
    require_csrf(request, settings, csrf)
    _row, token = tokens.create(session, staff, name)
    return _render(request, "tokens.html", {"tokens": tokens.listing(session), "new": token},
                   settings, status_code=201)


@router.post("/tokens/{token_id}/revoke")
def token_revoke(request: Request, session: SessionDep, settings: SettingsDep,
                 _staff: StaffSessionDep, token_id: int,
                 csrf: Annotated[str, Form()] = "") -> Response:
    """Revoke a token; scripts using it get 401 from now on."""
    require_csrf(request, settings, csrf)
    tokens.revoke(session, token_id)
    return RedirectResponse("/dashboard/tokens", status_code=303)
