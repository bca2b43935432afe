"""HTML pages: the submit form, intake posts (303 to the status page), the status page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from app.routes.deps import SessionDep, SettingsDep, accept_upload
from app.schemas import student_report
from app.services import gradebook, policies
from app.services import submissions as svc
from app.templating import templates
from grader.weeks import WEEKS

router = APIRouter(include_in_schema=False)
PENDING = ("queued", "running")


@router.get("/", response_class=HTMLResponse)
def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The submit form (fork URL or file upload)."""
    return templates.TemplateResponse(request, "index.html", {
        "weeks": WEEKS, "max_upload_kib": settings.max_upload_bytes // 1024})


@router.post("/submissions")
def submit_fork(
    session: SessionDep, settings: SettingsDep,
    github_login: Annotated[str, Form()], week: Annotated[int, Form()],
    repo_url: Annotated[str, Form()], commit_sha: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Queue a fork; 303 to its status page."""
    sub = svc.create_fork(session, settings, github_login, week, repo_url, commit_sha or None)
    return RedirectResponse(f"/submissions/{sub.id}", status_code=303)


@router.post("/submissions/upload")
async def submit_upload(
    session: SessionDep, settings: SettingsDep,
    github_login: Annotated[str, Form()], week: Annotated[int, Form()],
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    """Validate and queue an uploaded notebook; 303 to its status page."""
    sub = await accept_upload(session, settings, github_login, week, file)
    return RedirectResponse(f"/submissions/{sub.id}", status_code=303)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def status_page(request: Request, session: SessionDep, settings: SettingsDep,
                submission_id: str) -> HTMLResponse:
    """Status and feedback; refreshes itself until grading is done."""
    sub = gradebook.newest_grading(session, svc.get_submission(session, submission_id))
    return templates.TemplateResponse(request, "submission.html", {
        "sub": sub, "report": policies.filter_report(settings, sub.week, student_report(sub)),
        "pending": sub.status in PENDING, "view": policies.student_view(settings, sub),
        "quota": policies.quota(session, settings, sub.student_id, sub.week)})
