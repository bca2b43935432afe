"""JSON API under /api (OpenAPI at /docs); listings are staff-only, a submission id is a key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from app.errors import AppError
from app.models import Student, Submission
from app.routes.deps import (
    MaybeStaffDep,
    MaybeStudentDep,
    SessionDep,
    SettingsDep,
    StaffDep,
    accept_upload,
    submitter,
)
from app.schemas import (
    CheckOut,
    ForkSubmissionIn,
    ResultsOut,
    StudentOut,
    SubmissionDetail,
    SubmissionOut,
    WeekBest,
)
from app.services import policies
from app.services import submissions as svc
from app.services.gradebook import superseded

router = APIRouter(prefix="/api", tags=["api"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "sign-in (students) or an API token (staff) required"},
    403: {"description": "not yours, or not on the roster"}, 404: {"description": "not found"},
    422: {"description": "invalid submission; `detail` says why"},
}


@router.post("/submissions", response_model=SubmissionOut, status_code=201, responses=ERRORS)
def create_fork_submission(body: ForkSubmissionIn, session: SessionDep, settings: SettingsDep,
                           student: MaybeStudentDep, staff: MaybeStaffDep) -> SubmissionOut:
    """Queue the signed-in student's fork (staff: github_login names the student)."""
    who = submitter(session, student, staff, body.github_login)
    sub = svc.create_fork(session, settings, who.student, body.week, body.repo_url,
                          body.commit_sha, who.submitted_by)
    return SubmissionOut.of(sub)


@router.post("/submissions/upload", response_model=SubmissionOut, status_code=201,
             responses=ERRORS)
async def create_upload_submission(
    session: SessionDep, settings: SettingsDep, student: MaybeStudentDep, staff: MaybeStaffDep,
    week: Annotated[int, Form()], file: Annotated[UploadFile, File()],
    github_login: Annotated[str, Form()] = "",
) -> SubmissionOut:
    """Validate and queue an uploaded .ipynb or .py (signed-in student, or staff for one)."""
    who = await run_in_threadpool(submitter, session, student, staff, github_login)
    sub = await accept_upload(session, settings, who, week, file)
    return SubmissionOut.of(sub)


@router.get("/submissions", response_model=list[SubmissionOut], responses=ERRORS)
def list_submissions(
    session: SessionDep, _staff: StaffDep, login: str | None = None,
    week: int | None = None, status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SubmissionOut]:
    """All submissions, newest first (staff)."""
    rows = svc.list_submissions(session, login, week, status, limit, offset)
    return [SubmissionOut.of(s) for s in rows]


@router.get("/submissions/{submission_id}", response_model=SubmissionDetail, responses=ERRORS)
def get_submission(session: SessionDep, settings: SettingsDep, submission_id: str,
                   staff: MaybeStaffDep,
                   view: Annotated[str, Query(pattern="^(student|staff)$")] = "student",
                   ) -> SubmissionDetail:
    """One submission with its report (view=staff adds the traceback; needs a login)."""
    if view == "staff" and staff is None:
        raise AppError("instructor login required for view=staff", 401)
    sub = svc.get_submission(session, submission_id)
    detail = SubmissionDetail.detail(sub, view == "staff")
    if view != "staff":  # checks hidden until the deadline (course policy)
        shown = policies.student_view(settings, sub)
        detail.checks = [CheckOut.model_validate(c) for c in shown["checks"]]
        detail.score, detail.max_score = shown["score"], shown["max_score"]
        detail.report = policies.filter_report(settings, sub.week, detail.report)
    return detail


@router.get("/submissions/{submission_id}/results", response_model=ResultsOut,
            responses=ERRORS)
def get_results(session: SessionDep, settings: SettingsDep, submission_id: str) -> ResultsOut:
    """Score and per-check verdicts (checks hidden until the deadline left out)."""
    sub = svc.get_submission(session, submission_id)
    shown = policies.student_view(settings, sub)
    return ResultsOut(submission_id=sub.id, status=sub.status, score=shown["score"],
                      max_score=shown["max_score"], error=sub.error,
                      checks=[CheckOut.model_validate(c) for c in shown["checks"]])


def _student_out(session: SessionDep, student: Student) -> StudentOut:
    """Best per week over the gradings that count (each submission's newest, as the gradebook
    does); `submissions` counts what the student submitted, not regrades."""
    mine = [Submission.student_id == student.id]
    sup = superseded(mine).subquery("sup")
    counts = (Submission.status == "graded") & sup.c.id.is_(None)
    q = (select(Submission.week, func.max(Submission.score).filter(counts),
                func.max(Submission.max_score).filter(counts),
                func.count().filter(Submission.regrade_of.is_(None)))
         .outerjoin(sup, sup.c.id == Submission.id).where(*mine).group_by(Submission.week)
         .order_by(Submission.week))
    weeks = [WeekBest(week=w, best_score=b, max_score=m, submissions=n)
             for w, b, m, n in session.execute(q)]
    return StudentOut(github_login=student.github_login, weeks=weeks)


@router.get("/students", response_model=list[StudentOut], responses=ERRORS)
def list_students(session: SessionDep, _staff: StaffDep,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  offset: Annotated[int, Query(ge=0)] = 0) -> list[StudentOut]:
    """Students with their best score per week (staff)."""
    rows = session.scalars(select(Student).order_by(Student.github_login)
                           .limit(limit).offset(offset)).all()
    return [_student_out(session, s) for s in rows]


@router.get("/students/{login}", response_model=StudentOut, responses=ERRORS)
def get_student(session: SessionDep, _staff: StaffDep, login: str) -> StudentOut:
    """One student's per-week summary (staff)."""
    student = session.scalar(select(Student).where(
        func.lower(Student.github_login) == login.lower()))
    if student is None:
        raise AppError("student not found", 404)
    return _student_out(session, student)
