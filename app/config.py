"""Settings: the only reader of the environment."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
# a list setting from the environment: JSON ('["a", "b"]') or plain comma-separated ('a,b')
StrList = Annotated[list[str], NoDecode]


def split_list(value: Any) -> Any:
    """'["a","b"]' or 'a, b' or '' -> a list of strings; other values unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


class Settings(BaseSettings):
    """All configuration, from ZEROGRAD_* variables (DATABASE_URL/REDIS_URL also bare)."""

    model_config = SettingsConfigDict(env_prefix="ZEROGRAD_", extra="ignore")

    database_url: str = Field(
        f"sqlite:///{ROOT / 'var' / 'zerograd.sqlite3'}",
        validation_alias=AliasChoices("DATABASE_URL", "ZEROGRAD_DATABASE_URL"),
    )  # SQLAlchemy URL: postgresql+psycopg://… in production, SQLite for `make run`
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "ZEROGRAD_REDIS_URL")
    )  # Celery broker; unset: in-process workers
    data_dir: Path = Path.home() / ".cache" / "zerograd" / "data"  # course data (data fetch)
    sandbox_backend: Literal["bwrap", "fallback"] = "bwrap"  # fallback: UNSAFE, local dev only
    sandbox_uid_base: int = 61000  # jobs run as host uids base..base+slots-1 (root workers)
    sandbox_uid_slots: int = 64  # give each worker container on a host its own range
    sandbox_slot_dir: Path | None = None  # slot locks; share one among replicas of a worker

    # web
    host: str = "127.0.0.1"  # listen address (`make run`)
    port: int = 8000  # `make run` listens here
    base_url: str = ""  # public URL for links in commit statuses; default http://host:port
    secret_key: str = ""  # signs instructor sessions; random per process when empty
    max_upload_bytes: int = 5 * 1024 * 1024  # largest accepted notebook upload
    course_config: Path = ROOT / "course.toml"  # deadlines, late penalty, quota, hidden checks
    session_max_age_s: int = 12 * 3600  # instructor session cookie lifetime
    cookie_secure: bool = False  # set true behind HTTPS
    # forks: https://github.com/<owner>/<repo> always; extra "host" or "host:port" entries here
    # (an http:// loopback host:port is accepted only when listed, for tests)
    allowed_git_hosts: StrList = []
    fork_max_bytes: int = 50 * 1024 * 1024  # largest fork checkout
    fork_timeout_s: float = 60.0  # fetch + checkout of a fork
    git_binary: str = "git"  # the git executable the workers run
    # GitHub
    # the GitHub App's (or organisation webhook's) secret; students never see it. Pushes
    # verified with it are accepted from repository owners on the roster. Pushes from a
    # student's own fork verify with that student's secret (shown on their page) instead.
    webhook_secret: str = ""
    github_app_installation_id: int | None = None  # set: other installations are refused
    github_org: str = ""  # Classroom-style org: repo "<org>/<assignment>-<login>" is <login>'s
    # student sign-in (GitHub OAuth app); the URLs are settings so tests use a loopback fake
    github_client_id: str = ""  # the OAuth app's client id (empty: student sign-in is off)
    github_client_secret: str = ""  # the OAuth app's client secret
    github_oauth_url: str = "https://github.com"  # + /login/oauth/authorize and /access_token
    course_upstream_repo: str = ""  # "owner/repo": forks must be forks of it (checked via the API)
    student_session_max_age_s: int = 14 * 24 * 3600  # a student's sign-in lasts this long
    web_processes: int = 1  # web processes sharing this database (>1 needs secret_key)
    github_token: str | None = None  # optional: post commit statuses
    github_api_url: str = "https://api.github.com"  # GitHub (Enterprise) REST API base
    # workers
    embedded_workers: int = 1  # in-process workers for `make run` without REDIS_URL
    sweep_interval_s: float = 15.0  # how often stuck submissions are looked for
    stuck_after_s: int = 900  # queued/running this long -> re-enqueued (> task_time_limit_s)
    heartbeat_interval_s: float = 10.0  # a grading worker refreshes its row this often
    heartbeat_timeout_s: float = 30.0  # a running row's heartbeat this old: its worker is dead
    max_attempts: int = 5  # claims before a submission is failed with "autograder failed"
    task_soft_time_limit_s: int = 600  # < task_time_limit_s < broker_visibility_timeout_s
    task_time_limit_s: int = 660  # hard limit: the grading process is killed
    broker_visibility_timeout_s: int = 1200  # Redis re-delivers an unacknowledged job after
    worker_gpu_devices: StrList = []  # /dev/nvidia* nodes the gpu queue's sandbox may use

    _lists = field_validator("allowed_git_hosts", "worker_gpu_devices", mode="before")(
        split_list)

    @property
    def public_url(self) -> str:
        """Where the service is reachable (for links)."""
        return self.base_url.rstrip("/") or f"http://{self.host}:{self.port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
