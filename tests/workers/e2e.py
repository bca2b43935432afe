"""Helpers for end-to-end tests: a real Celery worker process, the API, polling the rows."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import get_session, session_scope
from app.main import create_app
from app.models import CheckResult, Submission

ROOT = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a worker process reads its Settings from."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZEROGRAD_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url or "",
               ZEROGRAD_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(ROOT))
    for name in ("stuck_after_s", "sweep_interval_s", "max_attempts", "task_soft_time_limit_s",
                 "task_time_limit_s", "broker_visibility_timeout_s", "sandbox_backend",
                 "heartbeat_interval_s", "heartbeat_timeout_s"):
        env[f"ZEROGRAD_{name.upper()}"] = str(getattr(settings, name))
    env["ZEROGRAD_ALLOWED_GIT_HOSTS"] = json.dumps(settings.allowed_git_hosts)
    return env


class Worker:
    """`celery -A workers worker` as a subprocess in its own process group."""

    def __init__(self, settings: Settings, log: Path, queues: str = "cpu,gpu",
                 concurrency: int = 1, beat: bool = True, only_beat: bool = False) -> None:
        cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues,
               "--concurrency", str(concurrency), "-P", "prefork", "--loglevel", "INFO",
               "-n", f"t{secrets.token_hex(3)}@%h", "--without-gossip", "--without-mingle"]
        if beat:
            cmd += ["-B", "-s", str(log.with_suffix(".beat"))]
        if only_beat:  # the scheduler alone, as compose's `beat` service runs it
            cmd = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO",
                   "-s", str(log.with_suffix(".beat"))]
        self.log = log
        self._start = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=worker_env(settings), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        ready = "beat: Starting" if only_beat else "ready."
        wait_for(lambda: ready in self.output() or self.proc.poll() is not None, 90,
                 "worker ready")
        assert self.proc.poll() is None, self.output()

    def output(self) -> str:
        """What this worker has logged so far."""
        return self.log.read_bytes()[self._start:].decode("utf-8", "replace")

    def owns(self, pid: int) -> bool:
        """True when `pid` is this worker or one of its pool processes."""
        try:
            return os.getpgid(pid) == self.proc.pid
        except ProcessLookupError:
            return False

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (no warm shutdown)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL whatever is left."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


def wait_for(cond: Callable[[], bool], timeout: float, what: str, every: float = 0.3) -> None:
    """Poll until cond() or fail after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextmanager
def api(settings: Settings) -> Iterator[TestClient]:
    """The real app, as staff; requests commit through session_scope(settings) (then enqueue)."""
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with session_scope(settings) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {_staff_token(settings)}"  # staff submit for logins
        yield c


def _staff_token(settings: Settings) -> str:
    """An instructor's API token (the API records uploads under the login the staff names)."""
    import secrets

    from app.services import tokens
    from tests.factories import make_instructor

    with session_scope(settings) as s:
        row = make_instructor(s, login=f"e2e-staff-{secrets.token_hex(4)}")
        return tokens.create(s, row, "e2e")[1]


def upload(client: TestClient, data: bytes, week: int = 1, login: str = "alice") -> str:
    """POST /api/submissions/upload; the new id."""
    r = client.post("/api/submissions/upload", data={"github_login": login, "week": str(week)},
                    files={"file": (f"week{week}.py", data, "text/x-python")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def statuses(settings: Settings, ids: list[str]) -> dict[str, tuple[str, int]]:
    """id -> (status, attempts)."""
    with session_scope(settings) as s:
        rows = s.execute(select(Submission.id, Submission.status, Submission.attempts)
                         .where(Submission.id.in_(ids))).all()
    return {r.id: (r.status, r.attempts) for r in rows}


def check_counts(settings: Settings, ids: list[str]) -> dict[str, int]:
    """id -> number of check_result rows."""
    with session_scope(settings) as s:
        rows = s.execute(select(CheckResult.submission_id, func.count())
                         .where(CheckResult.submission_id.in_(ids))
                         .group_by(CheckResult.submission_id)).all()
    return {sid: int(n) for sid, n in rows}
