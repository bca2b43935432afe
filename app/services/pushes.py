"""GitHub push deliveries: who may sign them, whose work they are, and the daily quota.

A delivery verifies either with the course secret (a GitHub App or organisation webhook, never
shown to students) or with the repository owner's own per-student secret (a personal fork).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Student, Submission, new_submission_id, utcnow
from app.queue import enqueue_grading
from app.services import github, policies, roster
from app.services.forks import ForkError, repo_owner, validate_ref, validate_repo_url
from app.services.submissions import insert_ignore, record_delivery, student_id
from grader import discover

MAX_PAYLOAD_COMMITS = 2048  # GitHub lists at most this many commits in a push delivery


@dataclass(frozen=True)
class Trust:
    """How a delivery was verified: the course secret, or one student's fork secret."""

    kind: str  # course | fork
    student_id: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One webhook request as GitHub sent it (headers and the raw, signed body)."""

    event: str
    delivery_id: str
    signature: str | None
    content_type: str
    body: bytes


@dataclass
class PushResult:
    """What a delivery did: an outcome line, new submission ids, weeks refused over the quota."""

    outcome: str
    created: list[str] = field(default_factory=list)
    over_quota: list[int] = field(default_factory=list)
    repo_url: str = ""
    sha: str = ""


def signed(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 == 'sha256=' + HMAC-SHA256(secret, raw body), in constant time."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def _owner_login(body: bytes) -> str | None:
    try:
        data = json.loads(body)
        login = data["repository"]["owner"]["login"]
    except (ValueError, KeyError, TypeError):
        return None
    return login if isinstance(login, str) and len(login) <= 39 else None


def verify(session: Session, settings: Settings, body: bytes, header: str | None) -> Trust:
    """The delivery's Trust, else AppError 401 (503 when no secret of any kind exists)."""
    if signed(settings.webhook_secret, body, header):
        return Trust("course")
    login = _owner_login(body)
    student = session.scalar(select(Student).where(
        func.lower(Student.github_login) == login.lower())) if login else None
    if student is not None and student.webhook_secret and signed(
            student.webhook_secret, body, header):
        return Trust("fork", student.id)
    if not settings.webhook_secret and student is None:
        raise AppError("invalid or missing X-Hub-Signature-256 (no course webhook secret is "
                       "configured; a fork's webhook uses its owner's secret)", 401)
    raise AppError("invalid or missing X-Hub-Signature-256", 401)


def receive(session: Session, settings: Settings, d: Delivery) -> PushResult:
    """Verify a delivery and act on it: `ping` → pong, `push` → handle_push, others recorded."""
    trust = verify(session, settings, d.body, d.signature)
    if d.event == "ping":
        return PushResult("pong")
    if not d.delivery_id:
        raise AppError("missing X-GitHub-Delivery", 400)
    if d.event != "push":
        record_delivery(session, d.delivery_id, d.event or "unknown")
        return PushResult(f"ignored event {d.event!r}")
    payload = parse_payload(d.body, d.content_type)
    if not isinstance(payload, dict):
        raise AppError("the push payload is not a JSON object", 400)
    return handle_push(session, settings, d.delivery_id, payload, trust)


def parse_payload(body: bytes, content_type: str) -> object:
    """The delivery's JSON: the raw body (application/json), or the `payload` field of GitHub's
    default application/x-www-form-urlencoded deliveries (the HMAC covers the raw body)."""
    text: str | None
    try:
        text = body.decode("utf-8")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(text, max_num_fields=10).get("payload")
            text = fields[0] if fields else None
        if text is None:
            raise ValueError("no payload field")
        return json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise AppError("the push payload is not JSON (content type application/json, or "
                       "application/x-www-form-urlencoded with a payload field)", 400) from None


def _student(session: Session, settings: Settings, trust: Trust,
             payload: dict[str, Any], url: str) -> int | str:
    """The id of the student a verified push is for, or why it is refused."""
    owner, name = repo_owner(url)
    if trust.kind == "fork":
        student = session.get(Student, trust.student_id)
        assert student is not None
        if owner.lower() != student.github_login.lower():
            return f"refused: {owner}/{name} is not {student.github_login}'s repository"
        login = student.github_login
    else:
        inst = (payload.get("installation") or {}).get("id")
        want = settings.github_app_installation_id
        if want is not None and inst != want:
            return "refused: not the course's GitHub App installation"
        if settings.github_org and owner.lower() == settings.github_org.lower():
            match = roster.match_suffix(session, settings, name)
            if match is None:
                return f"refused: no roster login matches the repository name {name!r}"
            login = match
        else:
            login = owner
    try:
        roster.require(session, settings, login)
    except AppError as e:
        return f"refused: {e.message}"
    return student_id(session, login)


def handle_push(session: Session, settings: Settings, delivery_id: str,
                payload: dict[str, Any], trust: Trust) -> PushResult:
    """One submission per changed week at the pushed commit (deduped, within the quota).

    The delivery row is written last, with its outcome, in the same transaction (a statement
    fewer per push); a re-sent delivery finds its submissions deduplicated by repo, sha and
    week first, so it creates nothing."""
    result = _push(session, settings, payload, trust)
    if not record_delivery(session, delivery_id, "push", result.outcome):
        return PushResult("duplicate delivery")
    return result


def _push(session: Session, settings: Settings, payload: dict[str, Any],
          trust: Trust) -> PushResult:
    after = str(payload.get("after") or "")
    if payload.get("deleted") or not after.strip("0") or str(payload.get("ref", "")).startswith(
            "refs/tags/"):
        return PushResult("ignored: branch deletion or tag")
    repo = payload.get("repository") or {}
    try:
        url = validate_repo_url(str(repo.get("html_url") or ""), settings)
        sha = validate_ref(after)
        repo_owner(url)
    except ForkError as e:
        return PushResult(f"ignored: {e}")
    truncated = commits_truncated(payload)
    weeks = [] if truncated else discover.weeks_of_paths(changed_paths(payload))
    if not truncated and not weeks:
        return PushResult("ignored: no week notebook changed")
    student = _student(session, settings, trust, payload, url)
    if isinstance(student, str):  # why it was refused
        return PushResult(student)
    if truncated:  # which files changed is unknown: grade every week the commit's tree holds
        owner, name = repo_owner(url)
        tree = github.tree_paths(settings, owner, name, sha)
        if tree is None:
            return PushResult(f"refused: the push lists only part of its commits and GitHub "
                              f"shows no files for {sha[:12]} (a private repository?); "
                              "submit the week from your page")
        weeks = discover.weeks_of_paths(tree)
        if not weeks:
            return PushResult("ignored: no week notebook in the pushed commit")
    res = PushResult("", repo_url=url, sha=sha)
    for week in weeks:
        limit, remaining = policies.quota(session, settings, student, week)
        if limit and remaining <= 0:
            res.over_quota.append(week)
            continue
        _insert(session, settings, res, student, week, url, sha)
    res.outcome = f"queued {len(res.created)} of {len(weeks)} week(s)" + (
        f"; over the daily limit: week {', '.join(map(str, res.over_quota))}"
        if res.over_quota else "")
    return res


def changed_paths(payload: dict[str, Any]) -> list[str]:
    """Paths added or modified by the commits a push payload lists."""
    paths: list[str] = []
    for commit in _commits(payload):
        for key in ("added", "modified"):
            files = commit.get(key)
            paths += [p for p in files if isinstance(p, str)] if isinstance(files, list) else []
    return paths


def _commits(payload: dict[str, Any]) -> list[dict[str, Any]]:
    commits = payload.get("commits")
    return [c for c in commits if isinstance(c, dict)] if isinstance(commits, list) else []


def commits_truncated(payload: dict[str, Any]) -> bool:
    """The payload lists fewer commits than were pushed (`size`, `distinct_size`, the cap)."""
    commits = _commits(payload)
    distinct = sum(1 for c in commits if c.get("distinct", True) is not False)
    size, distinct_size = payload.get("size"), payload.get("distinct_size")
    return (not isinstance(payload.get("commits"), list)
            or (type(size) is int and size > len(commits))
            or (type(distinct_size) is int and distinct_size > distinct)
            or len(commits) >= MAX_PAYLOAD_COMMITS)


def _insert(session: Session, settings: Settings, res: PushResult, student: int,
            week: int, url: str, sha: str) -> None:
    sub: str | None = insert_ignore(session, Submission, {  # … RETURNING id, None: a duplicate
        "id": new_submission_id(), "student_id": student, "week": week, "source": "webhook",
        "repo_url": url, "commit_sha": sha, "status": "queued", "attempts": 0,
        "received_at": utcnow(), "dedupe_key": f"{url}@{sha}#{week}"})
    if sub is not None:
        enqueue_grading(session, sub, week, settings)
        res.created.append(sub)
