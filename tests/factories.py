"""Plain factories: make_x(session, **overrides) adds, flushes and returns the row."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from sqlalchemy.orm import Session

from app.models import Benchmark, CheckResult, Instructor, Student, Submission

_n = itertools.count(1)


def make_student(session: Session, **kw: Any) -> Student:
    """A student with a unique login."""
    kw.setdefault("github_login", f"student{next(_n)}")
    row = Student(**kw)
    session.add(row)
    session.flush()
    return row


def make_submission(session: Session, **kw: Any) -> Submission:
    """A queued upload submission (week 1) for a new student unless one is given."""
    if "student" not in kw and "student_id" not in kw:
        kw["student"] = make_student(session)
    kw.setdefault("week", 1)
    kw.setdefault("source", "upload")
    if kw["source"] == "upload":
        kw.setdefault("notebook", b"# %%\nx = 1\n")
        kw.setdefault("filename", f"week{kw['week']}.py")
        kw.setdefault("notebook_sha256", hashlib.sha256(kw["notebook"]).hexdigest())
    else:
        kw.setdefault("repo_url", f"https://github.com/someone/zero-to-hero-{next(_n)}")
        kw.setdefault("commit_sha", hashlib.sha1(str(next(_n)).encode()).hexdigest())
    kw.setdefault("status", "queued")
    row = Submission(**kw)
    session.add(row)
    session.flush()
    return row


def make_check_result(session: Session, **kw: Any) -> CheckResult:
    """A passed 1-point check on a new submission unless one is given."""
    if "submission" not in kw and "submission_id" not in kw:
        kw["submission"] = make_submission(session)
    kw.setdefault("name", f"check_{next(_n)}")
    kw.setdefault("points", 1.0)
    kw.setdefault("max_points", 1.0)
    kw.setdefault("passed", True)
    kw.setdefault("message", "ok")
    kw.setdefault("duration_s", 0.01)
    row = CheckResult(**kw)
    session.add(row)
    session.flush()
    return row


def make_benchmark(session: Session, **kw: Any) -> Benchmark:
    """A CPU loss figure on a new submission unless one is given."""
    if "submission" not in kw and "submission_id" not in kw:
        kw["submission"] = make_submission(session)
    kw.setdefault("track", "week6")
    kw.setdefault("metric", "val_loss")
    kw.setdefault("value", 2.0)
    kw.setdefault("unit", "nats")
    kw.setdefault("device", "cpu")
    row = Benchmark(**kw)
    session.add(row)
    session.flush()
    return row


def make_instructor(session: Session, password: str = "pw", **kw: Any) -> Instructor:
    """An instructor with an argon2 hash of `password`."""
    from argon2 import PasswordHasher

    kw.setdefault("login", f"staff{next(_n)}")
    kw.setdefault("password_hash", PasswordHasher().hash(password))
    row = Instructor(**kw)
    session.add(row)
    session.flush()
    return row
