"""Fast, fair recovery: heartbeats, GitHub down, infrastructure faults off the quota, temp dirs,
one student per login whatever its case."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.config import Settings
from app.db import session_scope
from app.models import Student, Submission, utcnow
from app.services import policies
from app.services.submissions import get_or_create_student
from tests.workers.conftest import add_submission
from workers import grading, sweeper
from workers.grading import GITHUB_GAVE_UP, GITHUB_UNREACHABLE, Heartbeat, claim, run_grading
from workers.tempdirs import longest_task_s, sweep_temp

pytestmark = pytest.mark.integration


def row(settings: Settings, sid: str) -> Submission:
    with session_scope(settings) as s:
        sub = s.get(Submission, sid)
        assert sub is not None
        s.expunge(sub)
    return sub


def set_cols(settings: Settings, sid: str, **cols: object) -> None:
    with session_scope(settings) as s:
        s.execute(update(Submission).where(Submission.id == sid).values(**cols))


def test_heartbeat_thread_refreshes_the_claimed_row_only(wsettings: Settings) -> None:
    s = wsettings.model_copy(update={"heartbeat_interval_s": 0.1})
    sid = add_submission(s)
    assert claim(sid, s) == 1
    first = row(s, sid).heartbeat_at
    with Heartbeat(sid, 1, s):
        time.sleep(0.5)
    beat = row(s, sid).heartbeat_at
    assert first is not None and beat is not None and beat > first
    assert not Heartbeat(sid, 2, s).beat()  # another attempt's heartbeat never touches it


def test_stale_heartbeat_is_taken_over_and_fresh_one_is_not(wsettings: Settings) -> None:
    sid = add_submission(wsettings)
    assert claim(sid, wsettings) == 1
    assert claim(sid, wsettings) is None  # fresh heartbeat: its worker is alive
    set_cols(wsettings, sid, heartbeat_at=utcnow() - timedelta(
        seconds=wsettings.heartbeat_timeout_s + 1))  # started recently, but the beats stopped
    assert claim(sid, wsettings) == 2


def test_sweeper_resends_a_dead_workers_job_long_before_stuck_after(wsettings: Settings,
                                                                   sent: list) -> None:
    assert wsettings.heartbeat_timeout_s < wsettings.stuck_after_s
    dead = add_submission(wsettings)
    live = add_submission(wsettings)
    assert claim(dead, wsettings) == 1 and claim(live, wsettings) == 1
    set_cols(wsettings, dead, heartbeat_at=utcnow() - timedelta(
        seconds=wsettings.heartbeat_timeout_s + 1))
    assert sweeper.sweep(wsettings) == {"requeued": 1, "failed": 0}
    assert sent == [(dead, 1)]
    assert run_grading(dead, wsettings) == "graded" and row(wsettings, dead).attempts == 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


def test_github_unreachable_is_a_clear_status_and_uses_no_quota(wsettings: Settings) -> None:
    port = closed_port()
    s = wsettings.model_copy(update={"allowed_git_hosts": [f"127.0.0.1:{port}"],
                                     "fork_timeout_s": 20})
    sid = add_submission(s, source="fork", notebook=None, commit_sha=None,
                         repo_url=f"http://127.0.0.1:{port}/alice/zero-to-hero")
    student_id, week = row(s, sid).student_id, row(s, sid).week
    with session_scope(s) as session:
        limit, before = policies.quota(session, s, student_id, week)
    assert limit > 0
    for attempt in range(1, s.max_attempts + 1):  # the real git, connection refused
        with pytest.raises(grading.TransientError):
            run_grading(sid, s)
        sub = row(s, sid)
        assert sub.status == "queued" and sub.error == GITHUB_UNREACHABLE.format(attempt=attempt)
        assert "GitHub unreachable, retrying" in sub.error
    assert run_grading(sid, s) == "skipped"  # out of attempts
    sub = row(s, sid)
    assert sub.status == "failed" and sub.infra_fault and sub.error == GITHUB_GAVE_UP
    with session_scope(s) as session:
        assert policies.quota(session, s, student_id, week) == (limit, before + 1)


def test_graded_and_student_failed_submissions_do_use_the_quota(wsettings: Settings) -> None:
    sid = add_submission(wsettings, status="graded")
    student_id = row(wsettings, sid).student_id
    add_submission(wsettings, student_id=student_id, status="failed")  # a bad file: counts
    add_submission(wsettings, student_id=student_id, status="failed", infra_fault=True)
    with session_scope(wsettings) as session:
        limit, left = policies.quota(session, wsettings, student_id, 1)
    assert left == limit - 2


def test_stale_temp_dirs_of_dead_owners_are_swept(wsettings: Settings, tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    old = time.time() - longest_task_s(wsettings) - 10
    names = {f"zg-fork-{dead.pid}-abc": False, f"zg-fork-{os.getpid()}-def": True,
             "zg-job-ghi": False, "zg-git-home-jkl": False, "other-old": True}
    for name in names:
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "f").write_text("x")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "zg-job-fresh").mkdir()  # a grading running now
    names["zg-job-fresh"] = True
    assert sweep_temp(wsettings, tmp_path) == 3
    assert {n: (tmp_path / n).exists() for n in names} == names


def test_same_login_in_two_cases_concurrently_is_one_student(wsettings: Settings) -> None:
    gate = threading.Barrier(8)
    errors: list[BaseException] = []

    def create(login: str) -> None:
        try:
            with session_scope(wsettings) as s:
                gate.wait(10)
                get_or_create_student(s, login)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=create, args=(("Octo-Cat", "octo-cat")[i % 2],))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with session_scope(wsettings) as s:
        n = s.scalar(select(func.count()).select_from(Student)
                     .where(func.lower(Student.github_login) == "octo-cat"))
    assert n == 1


def test_queue_health_lists_a_running_job_whose_heartbeat_stopped(wsettings: Settings) -> None:
    from app.services.exports import queue_health

    dead, live = add_submission(wsettings), add_submission(wsettings)
    assert claim(dead, wsettings) == 1 and claim(live, wsettings) == 1
    set_cols(wsettings, dead, heartbeat_at=utcnow() - timedelta(
        seconds=wsettings.heartbeat_timeout_s + 1))
    with session_scope(wsettings) as s:
        stuck = {r.id for r in queue_health(s, wsettings)["stuck"]}
    assert stuck == {dead}
