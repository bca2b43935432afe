"""The gradebook: one aggregate query (students × weeks), then sort, filter, paginate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models import Student, Submission
from app.services.policies import Policy

SORTS = ("login", "total") + tuple(f"w{w}" for w in range(1, 7))


@dataclass
class Cell:
    """One student's standing in one week."""

    best: float | None  # best score after the late penalty
    best_raw: float | None
    latest: float | None
    max_score: float | None
    graded: int
    late: int  # graded submissions received after the deadline
    latest_id: str | None
    pending: int = 0

    @property
    def fraction(self) -> float | None:
        """best / max (for the colour)."""
        if self.best is None or not self.max_score:
            return None
        return self.best / self.max_score

    @property
    def colour(self) -> str:
        """CSS class by fraction."""
        f = self.fraction
        if f is None:
            return "c-none"
        return "c-hi" if f >= 0.9 else "c-mid" if f >= 0.6 else "c-lo"


@dataclass
class Row:
    """One student."""

    login: str
    cells: dict[int, Cell] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of best scores."""
        return sum(c.best or 0.0 for c in self.cells.values())


@dataclass
class Page:
    """A page of the gradebook."""

    rows: list[Row]
    weeks: list[int]
    total_rows: int
    page: int
    pages: int
    sort: str
    desc: bool
    q: str


def cells(session: Session, policy: Policy, q: str = "",
          week: int | None = None) -> dict[str, dict[int, Cell]]:
    """{login: {week: Cell}} for every student matching `q` (aggregate SQL, no N+1)."""
    late_at = case(*[(Submission.week == w, wp.deadline) for w, wp in policy.weeks.items()
                     if wp.deadline is not None], else_=None) if any(
        wp.deadline for wp in policy.weeks.values()) else None
    rn = func.row_number().over(partition_by=(Submission.student_id, Submission.week),
                                order_by=(Submission.received_at.desc(),
                                          Submission.finished_at.desc(), Submission.id))
    factor = policy.factor_sql(Submission.week, Submission.received_at)
    late = case((Submission.received_at > late_at, 1), else_=0) if late_at is not None else 0
    graded = (select(Submission.student_id, Submission.week, Submission.score,
                     Submission.max_score, Submission.id,
                     (Submission.score * factor).label("adj"), rn.label("rn"),
                     (late if isinstance(late, int) else late).label("late"))
              .where(Submission.status == "graded"))
    if week is not None:
        graded = graded.where(Submission.week == week)
    g = graded.subquery()
    agg = (select(Student.github_login, g.c.week, func.max(g.c.adj), func.max(g.c.score),
                  func.max(case((g.c.rn == 1, g.c.score))), func.max(g.c.max_score),
                  func.count(), func.sum(g.c.late), func.max(case((g.c.rn == 1, g.c.id))))
           .join(Student, Student.id == g.c.student_id)
           .group_by(Student.github_login, g.c.week))
    pending = (select(Student.github_login, Submission.week, func.count())
               .join(Student, Student.id == Submission.student_id)
               .where(Submission.status.in_(("queued", "running")))
               .group_by(Student.github_login, Submission.week))
    students = select(Student.github_login)
    if q:
        like = f"%{q.lower()}%"
        agg = agg.where(func.lower(Student.github_login).like(like))
        pending = pending.where(func.lower(Student.github_login).like(like))
        students = students.where(func.lower(Student.github_login).like(like))
    out: dict[str, dict[int, Cell]] = {login: {} for login in session.scalars(students)}
    for login, w, best, raw, latest, mx, n, n_late, latest_id in session.execute(agg):
        out.setdefault(login, {})[w] = Cell(
            best=None if best is None else round(float(best), 4), best_raw=raw, latest=latest,
            max_score=mx, graded=n, late=int(n_late or 0), latest_id=latest_id)
    for login, w, n in session.execute(pending):
        cell = out.setdefault(login, {}).setdefault(w, Cell(None, None, None, None, 0, 0, None))
        cell.pending = n
    return out


def _key(sort: str) -> Any:
    if sort == "login":
        return lambda r: r.login.lower()
    if sort == "total":
        return lambda r: r.total
    w = int(sort[1:])
    return lambda r: (r.cells[w].best if w in r.cells and r.cells[w].best is not None
                      else -math.inf)


def page(session: Session, policy: Policy, weeks: list[int], q: str = "", sort: str = "login",
         desc: bool = False, page_no: int = 1, per_page: int = 50,
         missing: int | None = None) -> Page:
    """Sorted, filtered (login substring; `missing` week not yet graded), paginated rows."""
    data = cells(session, policy, q)
    rows = [Row(login, c) for login, c in data.items()]
    if missing is not None:
        rows = [r for r in rows if r.cells.get(missing) is None or r.cells[missing].best is None]
    sort = sort if sort in SORTS else "login"
    rows.sort(key=_key(sort), reverse=desc)
    pages = max(1, math.ceil(len(rows) / per_page))
    page_no = min(max(1, page_no), pages)
    start = (page_no - 1) * per_page
    return Page(rows[start:start + per_page], weeks, len(rows), page_no, pages, sort, desc, q)
