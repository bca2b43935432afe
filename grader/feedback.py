"""What a report tells the student, built once and rendered by the CLI, the web page and the
Gradescope export: cell errors named as the notebook numbers them, the root cause first,
tracebacks shown once, optional checks shown as optional."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.celltrace import NAME_ERROR, SHOWN_FILE, split_traceback


@dataclass(frozen=True)
class CellError:
    """One failing cell."""

    name: str
    exception: str
    where: str
    traceback: str
    note: str = ""
    caused_by: str = ""  # the root cell's name when a name it defines is what is missing

    def headline(self) -> str:
        """cell 2 (`import x`) raised ModuleNotFoundError: … at line 1: `import x`."""
        own = self.name.split(" (")[0] + ", "
        where = self.where.removeprefix(own)
        first = self.exception.splitlines()[0] if self.exception else "an error"
        text = f"{self.name} raised {first}" + (f" at {where}" if where else "")
        return text + (f"; because {self.caused_by} failed" if self.caused_by else "")

    def text(self) -> str:
        """The headline, the traceback (unless the root cause explains it) and any note."""
        out = [self.headline()]
        more = self.exception.splitlines()[1:]
        if not self.caused_by and (self.traceback.strip() or more):
            frames, _ = split_traceback(self.traceback)
            out += ["    " + ln for ln in frames.splitlines() + more if ln.strip()]
        if self.note:
            out.append("    Note: " + self.note)
        return "\n".join(out)


@dataclass(frozen=True)
class CheckView:
    """One check as shown."""

    name: str
    points: float
    max_points: float
    passed: bool
    optional: bool
    bonus: bool
    summary: str  # what went wrong, without the traceback
    traceback: str = ""  # shown only the first time this traceback appears
    same_as: str = ""  # where the same traceback was shown

    def detail(self) -> str:
        """What went wrong: the summary, then the traceback or where it was shown."""
        if self.passed:
            return ""
        text = ("Optional, no points: " if self.optional else "") + self.summary
        if self.traceback:
            text += "\n" + self.traceback.rstrip()
        elif self.same_as:
            text += f" (same error as {self.same_as}, traceback shown there)"
        return text

    @property
    def mark(self) -> str:
        """PASS, FAIL, or OPT (an optional or bonus check not done: no points lost)."""
        return "PASS" if self.passed else ("OPT" if self.optional or self.bonus else "FAIL")

    @property
    def points_text(self) -> str:
        """`7/7`, `optional`, `+2/2 bonus`."""
        if self.optional:
            return "optional"
        pts = f"{self.points:g}/{self.max_points:g}"
        return f"+{pts} bonus" if self.bonus else pts


@dataclass
class Feedback:
    """Everything the student reads, in the order they should read it."""

    message: str
    root_cause: str
    cell_errors: list[CellError] = field(default_factory=list)
    checks: list[CheckView] = field(default_factory=list)


def _missing_name(text: str) -> str | None:
    m = NAME_ERROR.search(text)
    return m.group(1) if m else None


def _root_of(name: str | None, errs: list[dict[str, Any]], before: int | None) -> dict | None:
    """The earliest failing cell (before `before`) that would have defined `name`, followed
    to its own root."""
    if name is None:
        return None
    for e in errs:
        if before is not None and int(e.get("cell", 0)) >= before:
            break
        if name in e.get("defines", []):
            return _root_of(_missing_name(str(e.get("error", ""))), errs,
                            int(e.get("cell", 0))) or e
    return None


def build(report: dict[str, Any]) -> Feedback:
    """The feedback of a report dict (GradeReport.to_dict, as stored)."""
    errs = [e for e in report.get("cell_errors") or [] if isinstance(e, dict)]
    shown: dict[str, str] = {}
    first = str(errs[0].get("name", "")) if errs else ""
    cells, blamed = [], 0
    for e in errs:
        tb = str(e.get("traceback") or e.get("error") or "")
        frames, exc = split_traceback(tb)
        root = _root_of(_missing_name(exc), errs, int(e.get("cell", 0)))
        name = str(e.get("name") or f"cell {e.get('cell')}")
        shown.setdefault(tb, name)
        blamed += root is not None and root.get("name") == first
        cells.append(CellError(name, exc, str(e.get("where", "")), tb, str(e.get("note", "")),
                               f"cell {root.get('number', root.get('cell'))}" if root else ""))
    checks, blamed_checks = [], 0
    for c in report.get("checks") or []:
        view, root = _check_view(c, errs, shown)
        blamed_checks += root is not None and root.get("name") == first
        checks.append(view)
    return Feedback(str(report.get("message", "")), _root_cause(errs, blamed, blamed_checks),
                    cells, checks)


def _check_view(c: dict[str, Any], errs: list[dict[str, Any]], shown: dict[str, str]
                ) -> tuple[CheckView, dict | None]:
    msg, name = str(c.get("message", "")), str(c.get("name", ""))
    summary, tb, same_as, root = msg, "", "", None
    if not c.get("passed") and 'File "' in msg:
        head, _, rest = msg.partition('  File "')
        tb = '  File "' + rest if head.strip() else msg
        _, exc = split_traceback(tb)
        root = _root_of(_missing_name(exc), errs, None)
        hits = list(SHOWN_FILE.finditer(tb))
        where = f" (at {hits[-1].group(1)}, line {hits[-1].group(2)})" if hits else ""
        summary = " ".join(p for p in (head.strip(), exc.splitlines()[0] if exc else "") if p)
        summary += where
        if root is not None:  # the root cell's error explains it: no traceback here
            summary += (f"; because cell {root.get('number', root.get('cell'))} failed "
                        "(see the cell errors)")
            tb = ""
        elif tb in shown:
            same_as, tb = shown[tb], ""
        else:
            shown[tb] = f"check {name!r}"
    view = CheckView(name, float(c.get("points", 0)), float(c.get("max_points", 0)),
                     bool(c.get("passed")), bool(c.get("bonus")) and not c.get("max_points"),
                     bool(c.get("bonus")), summary, tb, same_as)
    return view, root


def _root_cause(errs: list[dict[str, Any]], cells: int, checks: int) -> str:
    if not errs:
        return ""
    first = errs[0]
    frames, exc = split_traceback(str(first.get("traceback") or first.get("error") or ""))
    own = str(first.get("name", "")).split(" (")[0] + ", "
    where = f" at {str(first['where']).removeprefix(own)}" if first.get("where") else ""
    text = f"{first.get('name', 'a cell')} failed first: {exc.splitlines()[0] if exc else ''}" \
           f"{where}."
    blamed = [f"{n} later cell(s)" for n in (cells,) if n] + \
             [f"{n} check(s) below" for n in (checks,) if n]
    if blamed:
        text += (f" {' and '.join(blamed)} failed because names it defines are missing; "
                 "fix it first.")
    return text


def text_blocks(fb: Feedback) -> list[str]:
    """The headline, the root cause and the cell errors as plain-text paragraphs."""
    out = [p for p in (fb.message, fb.root_cause) if p]
    if fb.cell_errors:
        out.append("Cell errors (cells numbered as in your notebook):\n"
                   + "\n".join("  " + ln for e in fb.cell_errors for ln in e.text().splitlines()))
    return out
