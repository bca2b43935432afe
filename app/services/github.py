"""The few GitHub REST calls the web side makes: the signed-in user, repo metadata, a status."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.errors import AppError

log = logging.getLogger(__name__)
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
           "User-Agent": "zerograd"}


@dataclass(frozen=True)
class Repo:
    """What the repo metadata API says about a repository."""

    full_name: str
    owner: str
    fork: bool
    parent: str | None  # parent.full_name of a fork


def _get(settings: Settings, path: str, token: str | None) -> httpx.Response:
    headers = dict(HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        return httpx.get(settings.github_api_url.rstrip("/") + path, headers=headers, timeout=10)
    except httpx.HTTPError as e:
        raise AppError(f"GitHub is unreachable ({e.__class__.__name__}); try again in a "
                       "few minutes", 503) from None


def user(settings: Settings, access_token: str) -> dict[str, Any]:
    """GET /user with the student's OAuth token."""
    r = _get(settings, "/user", access_token)
    if r.status_code != 200:
        raise AppError(f"GitHub did not return your profile (HTTP {r.status_code})", 502)
    data = r.json()
    if not isinstance(data, dict) or not isinstance(data.get("login"), str):
        raise AppError("GitHub returned an unexpected profile", 502)
    return data


def repo(settings: Settings, owner: str, name: str) -> Repo:
    """GET /repos/{owner}/{repo} (404: AppError 422 the student can act on)."""
    r = _get(settings, f"/repos/{owner}/{name}", settings.github_token)
    if r.status_code == 404:
        raise AppError(f"GitHub has no public repository {owner}/{name}", 422)
    if r.status_code != 200:
        raise AppError(f"GitHub answered HTTP {r.status_code} for {owner}/{name}; try again "
                       "later", 503)
    d = r.json()
    parent = (d.get("parent") or {}).get("full_name") if isinstance(d, dict) else None
    return Repo(full_name=str(d.get("full_name", "")), owner=str((d.get("owner") or {})
                .get("login", "")), fork=bool(d.get("fork")), parent=parent)


def post_status(settings: Settings, owner: str, name: str, sha: str, state: str,
                description: str, target_url: str, context: str) -> bool:
    """POST a commit status; best effort (never raises)."""
    if not settings.github_token:
        return False
    url = f"{settings.github_api_url.rstrip('/')}/repos/{owner}/{name}/statuses/{sha}"
    body = {"state": state, "description": description[:140], "target_url": target_url,
            "context": context}
    try:
        r = httpx.post(url, json=body, timeout=10, headers={
            **HEADERS, "Authorization": f"Bearer {settings.github_token}"})
        return r.status_code < 300
    except httpx.HTTPError as e:
        log.warning("commit status for %s/%s@%s failed: %s", owner, name, sha, e)
        return False


def tree_paths(settings: Settings, owner: str, name: str, sha: str) -> list[str] | None:
    """Every file path in a commit's tree (GET /repos/{o}/{r}/git/trees/{sha}?recursive=1);
    None when GitHub has no such tree for us (404/409/422: private, gone); AppError 503 when
    GitHub is down, so the delivery can be redelivered."""
    r = _get(settings, f"/repos/{owner}/{name}/git/trees/{sha}?recursive=1", settings.github_token)
    if r.status_code in (404, 409, 422):
        return None
    if r.status_code != 200:
        raise AppError(f"GitHub answered HTTP {r.status_code} listing {owner}/{name}@{sha[:12]}; "
                       "redeliver the push later", 503)
    data = r.json()
    tree = data.get("tree") if isinstance(data, dict) else None
    if not isinstance(tree, list):
        raise AppError("GitHub returned an unexpected tree listing; redeliver the push later", 503)
    if data.get("truncated"):
        log.warning("tree of %s/%s@%s is truncated; weeks beyond it are not seen", owner, name,
                    sha)
    return [e["path"] for e in tree if isinstance(e, dict) and e.get("type") == "blob"
            and isinstance(e.get("path"), str)]
