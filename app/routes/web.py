"""HTML pages: the submit form, intake posts (303 to the status page), the status page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from app.routes.deps import (
    STUDENT_COOKIE,
    MaybeStudentDep,
    SessionDep,
    SettingsDep,
    accept_upload,
    submitter,
)
from app.schemas import student_report
from app.services import capstone, gradebook, leaderboard, oauth, policies, sessions
from app.services import submissions as svc
from app.templating import templates
from grader.weeks import WEEKS

router = APIRouter(include_in_schema=False)
PENDING = ("queued", "running")


def student_csrf(request: Request, settings: SettingsDep) -> str:
    """The signed-in student's CSRF token (for forms)."""
    return sessions.csrf_token(settings, request.cookies.get(STUDENT_COOKIE))


def _check_csrf(request: Request, settings: SettingsDep, token: str) -> None:
    sessions.check_csrf(settings, request.cookies.get(STUDENT_COOKIE), token)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, settings: SettingsDep, student: MaybeStudentDep) -> HTMLResponse:
    """The submit form (fork URL or file upload) for the signed-in student."""
    return templates.TemplateResponse(request, "index.html", {
        "weeks": WEEKS, "max_upload_kib": settings.max_upload_bytes // 1024,
        "student": student, "csrf": student_csrf(request, settings),
        "signin": oauth.signin_url("/"), "signin_ready": oauth.configured(settings)})


@router.post("/submissions")
def submit_fork(
    request: Request, session: SessionDep, settings: SettingsDep, student: MaybeStudentDep,
    week: Annotated[int, Form()], repo_url: Annotated[str, Form()],
    commit_sha: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Queue the signed-in student's fork; 303 to its status page."""
    who = submitter(session, student, None, None)
    _check_csrf(request, settings, csrf)
    sub = svc.create_fork(session, settings, who.student, week, repo_url, commit_sha or None)
    return RedirectResponse(f"/submissions/{sub.id}", status_code=303)


@router.post("/submissions/upload")
async def submit_upload(
    request: Request, session: SessionDep, settings: SettingsDep, student: MaybeStudentDep,
    week: Annotated[int, Form()], file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Validate and queue the signed-in student's notebook; 303 to its status page."""
    who = await run_in_threadpool(submitter, session, student, None, None)
    _check_csrf(request, settings, csrf)
    sub = await accept_upload(session, settings, who, week, file)
    return RedirectResponse(f"/submissions/{sub.id}", status_code=303)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def status_page(request: Request, session: SessionDep, settings: SettingsDep,
                submission_id: str, head: str = "") -> HTMLResponse:
    """Status and feedback (with the capstone views; `head`: the Inspector's "layer-head");
    refreshes itself until grading is done."""
    sub = gradebook.newest_grading(session, svc.get_submission(session, submission_id))
    report = policies.filter_report(settings, sub.week, student_report(sub))
    return templates.TemplateResponse(request, "submission.html", {
        "sub": sub, "report": report, "cv": capstone.view(report, head),
        "pending": sub.status in PENDING, "view": policies.student_view(settings, sub),
        "quota": policies.quota(session, settings, sub.student_id, sub.week)})


@router.get("/leaderboard", response_class=HTMLResponse, response_model=None)
def leaderboard_page(request: Request, session: SessionDep,
                     student: MaybeStudentDep) -> HTMLResponse | RedirectResponse:
    """The capstone leaderboard students see: pseudonyms (or "anonymous"), their own row."""
    if student is None:
        return RedirectResponse(oauth.signin_url("/leaderboard"), status_code=303)
    return templates.TemplateResponse(request, "leaderboard.html", {
        "boards": leaderboard.boards(session), "lb": leaderboard, "staff": False,
        "me": student.id, "student": student, "sort": "", "desc": True, "signin": ""})
