"""Course policy from a TOML file: deadlines, late penalty, daily quota, hidden checks."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, literal, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import AppError
from app.models import Submission, utcnow


@dataclass(frozen=True)
class WeekPolicy:
    """One week's deadline and the checks hidden from students before it."""

    deadline: datetime | None = None
    hidden_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """The whole course policy."""

    penalty_per_day: float = 0.0
    max_penalty: float = 0.0
    max_per_day: int = 0  # 0: no limit
    weeks: dict[int, WeekPolicy] = field(default_factory=dict)
    path: str = ""

    def week(self, week: int) -> WeekPolicy:
        """The policy of `week` (no deadline when the file does not name it)."""
        return self.weeks.get(week, WeekPolicy())

    def factor(self, week: int, received_at: datetime | None) -> float:
        """Multiplier on a score received at `received_at` (1.0 on time)."""
        days = late_days(self.week(week).deadline, received_at)
        return 1.0 - min(self.max_penalty, days * self.penalty_per_day)

    def factor_sql(self, week_col: Any, received_col: Any) -> ColumnElement[float]:
        """The same multiplier as a portable SQL CASE (compares timestamps only)."""
        whens = []
        for w, wp in sorted(self.weeks.items()):
            if wp.deadline is None or self.penalty_per_day <= 0 or self.max_penalty <= 0:
                continue
            steps = min(60, math.ceil(self.max_penalty / self.penalty_per_day))
            inner = [(received_col <= wp.deadline, literal(1.0))]
            for d in range(1, steps):
                inner.append((received_col <= wp.deadline + timedelta(days=d),
                               literal(1.0 - d * self.penalty_per_day)))
            whens.append((week_col == w, case(*inner, else_=literal(1.0 - self.max_penalty))))
        if not whens:
            return literal(1.0)
        return case(*whens, else_=literal(1.0))


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def late_days(deadline: datetime | None, received_at: datetime | None) -> int:
    """Started days after the deadline (0 when on time or without a deadline)."""
    received_at = _aware(received_at)
    if deadline is None or received_at is None or received_at <= deadline:
        return 0
    return math.ceil((received_at - deadline).total_seconds() / 86400)


def _parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not an ISO 8601 time") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def parse(data: dict[str, Any], path: str = "") -> Policy:
    """A Policy from the TOML document's dict (ValueError on a malformed file)."""
    late, quota = data.get("late", {}), data.get("quota", {})
    weeks = {}
    for key, wd in (data.get("weeks") or {}).items():
        dl = wd.get("deadline")
        weeks[int(key)] = WeekPolicy(
            deadline=_parse_time(dl, f"weeks.{key}.deadline") if dl else None,
            hidden_checks=tuple(str(c) for c in wd.get("hidden_checks", [])))
    policy = Policy(penalty_per_day=float(late.get("penalty_per_day", 0.0)),
                    max_penalty=float(late.get("max_penalty", 0.0)),
                    max_per_day=int(quota.get("max_per_day", 0)), weeks=weeks, path=path)
    if not (0 <= policy.penalty_per_day <= 1 and 0 <= policy.max_penalty <= 1):
        raise ValueError("late.penalty_per_day and late.max_penalty must be within [0, 1]")
    return policy


_cache: dict[str, tuple[float, Policy]] = {}


def load(settings: Settings) -> Policy:
    """The policy at settings.course_config (re-read when the file changes; none: no rules)."""
    path = Path(settings.course_config)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return Policy(path=f"{path} (missing: no deadlines, no quota)")
    hit = _cache.get(str(path))
    if hit and hit[0] == mtime:
        return hit[1]
    with path.open("rb") as f:
        policy = parse(tomllib.load(f), str(path))
    _cache[str(path)] = (mtime, policy)
    return policy


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# every accepted submission counts, except one ended by an infrastructure fault
_USED_TODAY = select(func.count()).select_from(Submission).where(
    Submission.student_id == bindparam("student"), Submission.week == bindparam("week"),
    Submission.regrade_of.is_(None), Submission.infra_fault.is_(False),
    Submission.received_at >= bindparam("since"))


def quota(session: Session, settings: Settings, student_id: int, week: int,
          now: datetime | None = None) -> tuple[int, int]:
    """(limit, remaining today) for this student and week; limit 0 means unlimited."""
    limit = load(settings).max_per_day
    if limit <= 0:
        return 0, 0
    used = session.scalar(_USED_TODAY, {"student": student_id, "week": week,
                                        "since": _day_start(now or utcnow())}) or 0
    return limit, max(0, limit - used)


def check_quota(session: Session, settings: Settings, student_id: int, week: int) -> None:
    """Raise AppError 429 when the student has used today's submissions for this week."""
    limit, remaining = quota(session, settings, student_id, week)
    if limit and remaining <= 0:
        raise AppError(f"daily limit reached: at most {limit} graded submissions per day for "
                       f"week {week}; try again after midnight UTC", 429)


def hidden_now(settings: Settings, week: int, now: datetime | None = None) -> set[str]:
    """Check names hidden from students right now (before the week's deadline)."""
    wp = load(settings).week(week)
    if wp.deadline is not None and (now or utcnow()) >= wp.deadline:
        return set()
    return set(wp.hidden_checks)


def student_view(settings: Settings, sub: Submission) -> dict[str, Any]:
    """What a student may see of the checks: visible ones, the hidden count, visible score."""
    hidden = hidden_now(settings, sub.week)
    checks = [c for c in sub.checks if c.name not in hidden]
    n_hidden = len(sub.checks) - len(checks)
    score, max_score = sub.score, sub.max_score
    if n_hidden:
        score = sum(c.points for c in checks)
        max_score = sum(c.max_points for c in checks)
    return {"checks": checks, "hidden": n_hidden, "score": score, "max_score": max_score,
            "deadline": load(settings).week(sub.week).deadline}


def filter_report(settings: Settings, week: int, report: dict[str, Any] | None,
                  ) -> dict[str, Any] | None:
    """A student report dict without the checks hidden right now."""
    hidden = hidden_now(settings, week)
    if not report or not hidden:
        return report
    report = dict(report)
    report["checks"] = [c for c in report.get("checks", []) if c.get("name") not in hidden]
    report["score"] = sum(float(c.get("points", 0)) for c in report["checks"])
    report["max_score"] = sum(float(c.get("max_points", 0)) for c in report["checks"])
    return report
