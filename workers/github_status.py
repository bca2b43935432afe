"""Optional GitHub commit status ("zerograd: 87/100") after a fork/webhook submission is graded."""

from __future__ import annotations

import logging
import re

import httpx

from app.config import Settings
from app.models import Submission
from app.services.policies import hidden_now
from grader.report import STATUS_GRADED, STATUS_GRADER_ERROR, GradeReport

log = logging.getLogger(__name__)
_REPO = re.compile(r"^[a-z]+://[^/]+/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def owner_repo(repo_url: str) -> tuple[str, str] | None:
    """("owner", "repo") from https://host/owner/repo(.git)."""
    m = _REPO.match(repo_url)
    return (m.group(1), m.group(2)) if m else None


def status_payload(report: GradeReport, target_url: str, week: int,
                   hidden: frozenset[str] | set[str] = frozenset()) -> dict[str, str]:
    """The statuses API body for a report (checks in `hidden` left out of the score)."""
    if report.status == STATUS_GRADER_ERROR:
        state, desc = "error", "zerograd: autograder failed; see the link"
    else:
        state = "success" if report.status == STATUS_GRADED else "failure"
        score, top = report.score, report.max_score
        shown = [c for c in report.checks if c.name not in hidden]
        if len(shown) < len(report.checks):  # the public score is the visible checks' only
            score, top = sum(c.points for c in shown), sum(c.max_points for c in shown)
        desc = f"zerograd: {score:g}/{top:g}" + (
            " (more checks after the deadline)" if len(shown) < len(report.checks) else "")
    return {"state": state, "description": desc[:140], "target_url": target_url,
            "context": f"zerograd/week{week}"}


def post_for(sub: Submission, report: GradeReport, settings: Settings) -> bool:
    """POST /repos/{owner}/{repo}/statuses/{sha}; best effort (never raises)."""
    body = status_payload(report, f"{settings.public_url}/submissions/{sub.id}", sub.week,
                          hidden_now(settings, sub.week))
    return _post(sub, body, settings)


def post_failure(sub: Submission, message: str, settings: Settings,
                 state: str = "error") -> bool:
    """A status for a submission that was not graded (`message` is student-facing)."""
    return _post(sub, {"state": state, "description": f"zerograd: not graded: {message}"[:140],
                       "target_url": f"{settings.public_url}/submissions/{sub.id}",
                       "context": f"zerograd/week{sub.week}"}, settings)


def _post(sub: Submission, body: dict[str, str], settings: Settings) -> bool:
    if not settings.github_token or sub.source == "upload" or not sub.repo_url:
        return False
    parts = owner_repo(sub.repo_url)
    sha = (sub.commit_sha or "").lower()
    if parts is None or not _SHA.match(sha):
        return False
    url = f"{settings.github_api_url.rstrip('/')}/repos/{parts[0]}/{parts[1]}/statuses/{sha}"
    headers = {"Authorization": f"Bearer {settings.github_token}",
               "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "User-Agent": "zerograd"}
    try:
        r = httpx.post(url, json=body, headers=headers, timeout=10)
        if r.status_code >= 300:
            log.warning("commit status for %s: HTTP %d %s", sub.id, r.status_code, r.text[:200])
            return False
        return True
    except httpx.HTTPError as e:
        log.warning("commit status for %s failed: %s", sub.id, e)
        return False
