"""The course roster: GitHub logins (with optional name, e-mail, section), from CSV or course.toml.

Unique by lower-cased login. Unless `[roster] open_enrolment = true` in course.toml, only logins
on the roster may submit.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import RosterEntry, utcnow

LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
FIELDS = ("name", "email", "section")


@dataclass(frozen=True)
class RosterConfig:
    """The [roster] table of course.toml."""

    open_enrolment: bool = False
    students: tuple[dict[str, str], ...] = ()

    @cached_property
    def logins(self) -> frozenset[str]:
        """Lower-cased logins listed in the file."""
        return frozenset(s["github_login"].lower() for s in self.students)


_cache: dict[str, tuple[float, RosterConfig]] = {}


def _entry(raw: Any, where: str) -> dict[str, str]:
    data = {"login": raw} if isinstance(raw, str) else dict(raw)
    login = str(data.get("login") or data.get("github_login") or "").strip().removeprefix("@")
    if not LOGIN.match(login):
        raise ValueError(f"{where}: {login!r} is not a valid GitHub login")
    return {"github_login": login, **{f: str(data.get(f) or "") for f in FIELDS}}


def config(settings: Settings) -> RosterConfig:
    """The roster settings of course.toml (missing file or table: closed, nobody listed)."""
    path = Path(settings.course_config)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return RosterConfig()
    hit = _cache.get(str(path))
    if hit and hit[0] == mtime:
        return hit[1]
    with path.open("rb") as f:
        table = tomllib.load(f).get("roster") or {}
    cfg = RosterConfig(open_enrolment=bool(table.get("open_enrolment", False)),
                       students=tuple(_entry(s, f"roster.students[{i}]")
                                      for i, s in enumerate(table.get("students") or [])))
    _cache[str(path)] = (mtime, cfg)
    return cfg


_ON_ROSTER = select(RosterEntry.id).where(RosterEntry.login_lower == bindparam("low"))


def on_roster(session: Session, settings: Settings, login: str) -> bool:
    """Is this login on the roster (database or course.toml)?"""
    low = login.strip().lower()
    if low in config(settings).logins:
        return True
    return session.scalar(_ON_ROSTER, {"low": low}) is not None


def require(session: Session, settings: Settings, login: str) -> None:
    """AppError 403 unless this login may submit (on the roster, or open enrolment)."""
    if config(settings).open_enrolment or on_roster(session, settings, login):
        return
    raise AppError(f"{login} is not on this course's roster, so the submission was not "
                   "accepted; ask your instructor to add your GitHub login", 403)


def match_suffix(session: Session, settings: Settings, repo_name: str) -> str | None:
    """The roster login a Classroom repo '<assignment>-<login>' belongs to (longest match)."""
    name = repo_name.lower()
    suffixes = {name[i + 1:] for i, ch in enumerate(name) if ch == "-" and name[i + 1:]}
    found = {low: login for low, login in session.execute(
        select(RosterEntry.login_lower, RosterEntry.github_login)
        .where(RosterEntry.login_lower.in_(suffixes)))}
    for s in config(settings).students:
        if s["github_login"].lower() in suffixes:
            found.setdefault(s["github_login"].lower(), s["github_login"])
    return found[max(found, key=len)] if found else None


def parse_csv(text: str) -> list[dict[str, str]]:
    """Rows of a roster CSV (header: github_login or login; optional name, email, section)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {h.strip().lower() for h in reader.fieldnames or []}
    if not header & {"github_login", "login"}:
        raise AppError("the CSV needs a header row with a github_login column "
                       "(optional: name, email, section)", 422)
    rows, errors = [], []
    for n, raw in enumerate(reader, start=2):
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()
                 if isinstance(v, str)}
        if not any(clean.values()):
            continue
        try:
            rows.append(_entry(clean, f"line {n}"))
        except ValueError as e:
            errors.append(str(e))
    if errors:
        raise AppError("roster not imported: " + "; ".join(errors[:10]), 422)
    return rows


def import_rows(session: Session, rows: list[dict[str, str]]) -> tuple[int, int]:
    """Add or update roster entries by lower-cased login; (added, updated)."""
    added = updated = 0
    for r in rows:
        low = r["github_login"].lower()
        row = session.scalar(select(RosterEntry).where(RosterEntry.login_lower == low))
        if row is None:
            session.add(RosterEntry(login_lower=low, created_at=utcnow(), **r))
            added += 1
        else:
            for k, v in r.items():
                setattr(row, k, v)
            updated += 1
        session.flush()
    return added, updated


def listing(session: Session) -> Sequence[RosterEntry]:
    """The imported roster by login."""
    return session.scalars(select(RosterEntry).order_by(RosterEntry.login_lower)).all()
