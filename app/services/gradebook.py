"""The gradebook: one aggregate query (students × weeks), then sort, filter, paginate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal, select, union
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
    failed: int = 0  # submissions that could not be graded (bad file, unusable fork, …)
    failed_id: str | None = None  # one of them (the cell links to it)

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


def chain_of(col_id: Any = Submission.id, col_of: Any = Submission.regrade_of) -> Any:
    """The submission a row grades: itself, or the one it regrades."""
    return func.coalesce(col_of, col_id)


def superseded(where: list[Any]) -> Any:
    """Ids of graded attempts that no longer count: their submission has a NEWER grading.

    Only submissions with a graded regrade are looked at (an index over the few regrade rows),
    so the gradebook keeps its one cheap pass over the covering index."""
    graded = [Submission.status == "graded", *where]
    regraded = select(Submission.regrade_of).where(*graded, Submission.regrade_of.is_not(None))
    members: Any = union(select(Submission.id).where(*graded, Submission.regrade_of.is_not(None)),
                    regraded)
    rn = func.row_number().over(partition_by=chain_of(),
                                order_by=(Submission.finished_at.desc(), Submission.id.desc()))
    chains = select(Submission.id, rn.label("rn")).where(
        *graded, Submission.id.in_(members)).subquery("chains")
    return select(chains.c.id).where(chains.c.rn > 1)


def cells(session: Session, policy: Policy, q: str = "",
          week: int | None = None) -> dict[str, dict[int, Cell]]:
    """{login: {week: Cell}}: best over submissions of each one's NEWEST grading (no N+1)."""
    deadlines = [(Submission.week == w, wp.deadline) for w, wp in policy.weeks.items()
                 if wp.deadline is not None]
    late = (case((Submission.received_at > case(*deadlines, else_=None), 1), else_=0)
            if deadlines else literal(0))
    who = select(Student.id)
    if q:
        who = who.where(func.lower(Student.github_login).like(f"%{q.lower()}%"))
    mine = [Submission.student_id.in_(who)] if q else []
    scope = [*mine, *([Submission.week == week] if week is not None else [])]
    sup = superseded(scope).subquery("sup")
    counts = [Submission.status == "graded", sup.c.id.is_(None), *scope]
    factor = policy.factor_sql(Submission.week, Submission.received_at)
    agg = (select(Submission.student_id, Submission.week,
                  func.max(Submission.score * factor).label("best"),
                  func.max(Submission.score).label("raw"),
                  func.max(Submission.max_score).label("mx"), func.count().label("n"),
                  func.sum(late).label("late"), func.max(Submission.received_at).label("last"))
           .outerjoin(sup, sup.c.id == Submission.id).where(*counts)
           .group_by(Submission.student_id, Submission.week)).subquery()
    logins = {sid: login for sid, login in session.execute(
        who.add_columns(Student.github_login))}
    out: dict[str, dict[int, Cell]] = {login: {} for login in logins.values()}
    by_key: dict[tuple[int, int], Cell] = {}
    for sid, w, best, raw, mx, n, n_late, _last in session.execute(select(agg)):
        by_key[(sid, w)] = out[logins[sid]][w] = Cell(
            best=None if best is None else round(float(best), 4), best_raw=raw, latest=None,
            max_score=mx, graded=n, late=int(n_late or 0), latest_id=None)
    latest = (select(Submission.student_id, Submission.week, Submission.score, Submission.id,
                     Submission.finished_at)
              .join(agg, (agg.c.student_id == Submission.student_id)
                    & (agg.c.week == Submission.week) & (agg.c.last == Submission.received_at))
              .outerjoin(sup, sup.c.id == Submission.id).where(*counts)
              .order_by(Submission.finished_at))  # same received_at: the last finished wins
    for sid, w, score, sub_id, _ in session.execute(latest):
        cell = by_key.get((sid, w))
        if cell is not None:
            cell.latest, cell.latest_id = score, sub_id
    pending = (select(Submission.student_id, Submission.week, func.count())
               .where(Submission.status.in_(("queued", "running")), *mine)
               .group_by(Submission.student_id, Submission.week))
    for sid, w, n in session.execute(pending):
        cell = out[logins[sid]].setdefault(w, Cell(None, None, None, None, 0, 0, None))
        cell.pending = n
    failed = (select(Submission.student_id, Submission.week, func.count(),
                     func.max(Submission.id))
              .where(Submission.status == "failed", *scope)
              .group_by(Submission.student_id, Submission.week))
    for sid, w, n, fid in session.execute(failed):  # "submitted, no score" is not "never"
        cell = out[logins[sid]].setdefault(w, Cell(None, None, None, None, 0, 0, None))
        cell.failed, cell.failed_id = n, fid
    return out


def newest_grading(session: Session, sub: Submission) -> Submission:
    """The grading of `sub` that counts: its newest graded regrade, else `sub` itself."""
    root = sub.regrade_of or sub.id
    newer = session.scalar(
        select(Submission).where(chain_of() == root, Submission.status == "graded")
        .order_by(Submission.finished_at.desc(), Submission.id.desc()).limit(1))
    return newer if newer is not None else sub


def history(session: Session, sub: Submission) -> list[Submission]:
    """Every grading attempt of this submission (the original and its regrades), oldest first."""
    root = sub.regrade_of or sub.id
    return list(session.scalars(select(Submission).where(chain_of() == root).order_by(
        Submission.finished_at.is_(None), Submission.finished_at, Submission.id)))


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
