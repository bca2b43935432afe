"""Instructor dashboard: gradebook, weeks, submissions, queue, leaderboard, exports, policy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app import health
from app.models import Submission
from app.routes import auth as auth_routes
from app.routes.auth import StaffSessionDep, csrf_for, require_csrf
from app.routes.deps import SessionDep, SettingsDep
from app.services import capstone, charts, exports, gradebook, leaderboard, policies
from app.services import submissions as svc
from app.templating import templates

router = APIRouter(prefix="/dashboard", include_in_schema=False)
WEEKS = list(range(1, 7))
STATIC = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    """Mount login, dashboard and /static on `app` (called by create_app)."""
    app.include_router(auth_routes.router)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(auth_routes.LoginRequired, auth_routes.login_required)


def _render(request: Request, name: str, ctx: dict[str, Any], settings: Any) -> HTMLResponse:
    ctx.update(csrf=csrf_for(request, settings), staff=request.state.instructor,
               charts=charts, weeks=WEEKS, health=request.app.state.health,
               sandbox_flags=health.read(settings))
    return templates.TemplateResponse(request, f"dashboard/{name}", ctx)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


@router.get("", response_class=HTMLResponse)
def gradebook_page(request: Request, session: SessionDep, settings: SettingsDep,
                   _staff: StaffSessionDep, q: str = "", sort: str = "login", desc: bool = False,
                   page: Annotated[int, Query(ge=1)] = 1,
                   per_page: Annotated[int, Query(ge=5, le=500)] = 50,
                   missing: int | None = None) -> HTMLResponse:
    """Students × weeks: best (after late penalty) and latest score."""
    policy = policies.load(settings)
    pg = gradebook.page(session, policy, WEEKS, q.strip(), sort, desc, page, per_page, missing)
    return _render(request, "gradebook.html", {"pg": pg, "per_page": per_page,
                                               "missing": missing}, settings)


@router.get("/weeks/{week}", response_class=HTMLResponse)
def week_page(request: Request, session: SessionDep, settings: SettingsDep,
              _staff: StaffSessionDep, week: int) -> HTMLResponse:
    """Score histogram, most failed checks, median grading time."""
    policy = policies.load(settings)
    stats = exports.week_stats(session, policy, week)
    return _render(request, "week.html", {"week": week, "stats": stats,
                                          "wp": policy.week(week)}, settings)


def _phases(sub: Submission) -> list[tuple[str, float | None]]:
    t = (sub.report_json or {}).get("timings", {}) if isinstance(sub.report_json, dict) else {}
    start, end, recv = _aware(sub.started_at), _aware(sub.finished_at), _aware(sub.received_at)
    queued = (start - recv).total_seconds() if start and recv and not sub.regrade_of else None
    worker = (end - start).total_seconds() if start and end else None
    total = float(t.get("total", 0.0)) if t else None
    fetch = max(0.0, worker - total) if worker is not None and total is not None else None
    run = float(t.get("prepare", 0.0)) + float(t.get("run", 0.0)) if t else None
    return [("queued", queued), ("fetch", fetch), ("run", run),
            ("check", float(t["check"]) if "check" in t else None)]


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(request: Request, session: SessionDep, settings: SettingsDep,
                    _staff: StaffSessionDep, submission_id: str, head: str = "") -> HTMLResponse:
    """Staff view of one submission: checks, max-diffs, output, timings, traceback, and the
    capstone views (`head`: the Inspector's selected "layer-head")."""
    sub = svc.get_submission(session, submission_id)
    report = sub.report_json if isinstance(sub.report_json, dict) else {}
    details = {c.get("name"): c for c in report.get("checks") or []}
    policy = policies.load(settings)
    attempts = session.query(Submission).filter(
        Submission.student_id == sub.student_id, Submission.week == sub.week
    ).order_by(Submission.received_at.desc(), Submission.finished_at.desc()).limit(50).all()
    return _render(request, "submission.html", {
        "sub": sub, "report": report, "details": details, "phases": _phases(sub),
        "cv": capstone.view(report, head), "attempts": attempts,
        "history": gradebook.history(session, sub),
        "counts": gradebook.newest_grading(session, sub).id,
        "factor": policy.factor(sub.week, sub.received_at),
        "late_days": policies.late_days(policy.week(sub.week).deadline, sub.received_at),
        "hidden": set(policy.week(sub.week).hidden_checks)}, settings)


@router.get("/submissions/{submission_id}/results.json")
def gradescope_json(session: SessionDep, _staff: StaffSessionDep,
                    submission_id: str) -> JSONResponse:
    """Gradescope results.json of one submission."""
    data = exports.gradescope(svc.get_submission(session, submission_id), session)
    return JSONResponse(data, headers={
        "Content-Disposition": f'attachment; filename="results-{submission_id}.json"'})


@router.post("/submissions/{submission_id}/regrade")
def regrade_one(request: Request, session: SessionDep, settings: SettingsDep,
                _staff: StaffSessionDep, submission_id: str,
                csrf: Annotated[str, Form()] = "") -> Response:
    """Create a new attempt of one submission; 303 to it."""
    require_csrf(request, settings, csrf)
    new = exports.regrade(session, settings, submission_id)
    return RedirectResponse(f"/dashboard/submissions/{new.id}", status_code=303)


@router.post("/weeks/{week}/regrade")
def regrade_week(request: Request, session: SessionDep, settings: SettingsDep,
                 _staff: StaffSessionDep, week: int,
                 csrf: Annotated[str, Form()] = "") -> Response:
    """Regrade every student's latest submission of a week; 303 to the queue page."""
    require_csrf(request, settings, csrf)
    n = len(exports.regrade_week(session, settings, week))
    return RedirectResponse(f"/dashboard/queue?regraded={n}&week={week}", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, settings: SettingsDep,
               _staff: StaffSessionDep, regraded: int | None = None,
               week: int | None = None) -> HTMLResponse:
    """Queued/running/failed per queue, stuck jobs, worker activity, regrade actions."""
    return _render(request, "queue.html", {
        "h": exports.queue_health(session, settings), "regraded": regraded,
        "regraded_week": week}, settings)


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, session: SessionDep, settings: SettingsDep,
                     _staff: StaffSessionDep, sort: str = "", desc: bool = True,
                     ) -> HTMLResponse:
    """Capstone benchmarks per track with real names: mean ± std over seeds, provenance."""
    return _render(request, "leaderboard.html", {
        "boards": leaderboard.boards(session, sort, desc), "sort": sort, "desc": desc,
        "lb": leaderboard, "me": None}, settings)


@router.get("/policies", response_class=HTMLResponse)
def policies_page(request: Request, settings: SettingsDep,
                  _staff: StaffSessionDep) -> HTMLResponse:
    """The course policy file as the service reads it."""
    return _render(request, "policies.html", {"policy": policies.load(settings)}, settings)


@router.get("/export/grades.csv")
def grades_csv(session: SessionDep, settings: SettingsDep, _staff: StaffSessionDep) -> Response:
    """Grades CSV for an LMS: best score after the late penalty, per week."""
    body = exports.grades_csv(session, policies.load(settings), WEEKS)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="grades.csv"'})
