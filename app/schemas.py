"""Pydantic shapes of the JSON API (the student view never carries staff_traceback)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import Submission


class ForkSubmissionIn(BaseModel):
    """Grade a fork at a commit (default branch when commit_sha is omitted).

    Students submit as themselves (signed in); github_login is for staff submitting on a
    student's behalf, and must be the student's own login otherwise.
    """

    github_login: str | None = Field(None, examples=["octocat"])
    week: int = Field(ge=1, le=6)
    repo_url: str = Field(examples=["https://github.com/octocat/zero-to-hero"])
    commit_sha: str | None = None


class CheckOut(BaseModel):
    """One check's verdict."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    duration_s: float


class BenchmarkOut(BaseModel):
    """One measured figure."""

    model_config = ConfigDict(from_attributes=True)

    track: str
    metric: str
    value: float
    unit: str
    device: str
    seed: int | None
    torch_version: str = ""  # provenance: the grader's torch and CUDA versions
    cuda_version: str = ""


class SubmissionOut(BaseModel):
    """A submission without its report."""

    id: str
    github_login: str
    week: int
    source: str
    repo_url: str | None
    commit_sha: str | None
    filename: str | None
    notebook_sha256: str | None
    status: str
    received_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    score: float | None
    max_score: float | None
    error: str | None
    grader_version: str | None
    submitted_by: str | None = None
    url: str

    @classmethod
    def of(cls, sub: Submission) -> SubmissionOut:
        """From a row."""
        return cls(
            id=sub.id, github_login=sub.student.github_login, week=sub.week, source=sub.source,
            repo_url=sub.repo_url, commit_sha=sub.commit_sha, filename=sub.filename,
            notebook_sha256=sub.notebook_sha256, status=sub.status, received_at=sub.received_at,
            started_at=sub.started_at, finished_at=sub.finished_at, attempts=sub.attempts,
            score=sub.score, max_score=sub.max_score, error=sub.error,
            grader_version=sub.grader_version, submitted_by=sub.submitted_by,
            url=f"/submissions/{sub.id}")


def student_report(sub: Submission, staff: bool = False) -> dict[str, Any] | None:
    """The stored GradeReport dict, without staff-only fields unless staff."""
    if not isinstance(sub.report_json, dict):
        return None
    report = dict(sub.report_json)
    if not staff:
        report.pop("staff_traceback", None)
    return report


class SubmissionDetail(SubmissionOut):
    """A submission with its checks, benchmarks and report."""

    checks: list[CheckOut]
    benchmarks: list[BenchmarkOut]
    report: dict[str, Any] | None

    @classmethod
    def detail(cls, sub: Submission, staff: bool = False) -> SubmissionDetail:
        """From a row (student view unless staff)."""
        return cls(**SubmissionOut.of(sub).model_dump(),
                   checks=[CheckOut.model_validate(c) for c in sub.checks],
                   benchmarks=[BenchmarkOut.model_validate(b) for b in sub.benchmarks],
                   report=student_report(sub, staff))


class ResultsOut(BaseModel):
    """Score and per-check results of one submission."""

    submission_id: str
    status: str
    score: float | None
    max_score: float | None
    error: str | None
    checks: list[CheckOut]


class WeekBest(BaseModel):
    """A student's best graded score in one week."""

    week: int
    best_score: float | None
    max_score: float | None
    submissions: int


class StudentOut(BaseModel):
    """A student and a per-week summary."""

    github_login: str
    weeks: list[WeekBest]


class WebhookOut(BaseModel):
    """What a webhook delivery did."""

    outcome: str
    submissions: list[str] = []
