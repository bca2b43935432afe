"""What a report tells the student, built once and rendered by the CLI, the web page and the
Gradescope export: cell errors named as the notebook numbers them, the root cause first,
tracebacks shown once, optional checks shown as optional."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

RUNNER_FILE = re.compile(r'File "<cell (\d+)>", line (\d+)')
SHOWN_FILE = re.compile(r'File "([^"]+)", line (\d+)')
NAME_ERROR = re.compile(r"NameError: name '([^']+)' is not defined")
EXC_LINE = re.compile(r"[A-Za-z_][\w.]*(\(.*?\))?(:|$)")
# errors a shortened loop can cause (a length, shape or value the full loop would have made)
FROM_LOOPS = ("AssertionError", "RuntimeError", "ValueError", "IndexError", "KeyError",
              "ZeroDivisionError", "StopIteration")
LOOP_NOTE = ("The grader shortens top-level `for … in range(…)` loops to keep grading fast, so "
             "a cell that relies on a loop's full length (e.g. `lossi.view(-1, 1000)`) can fail "
             "here; that alone costs no points.")


@dataclass(frozen=True)
class Located:
    """A traceback split into its frames and its exception, with where it happened."""

    frames: str
    exception: str  # "Type: message", possibly several lines
    where: str  # e.g. "cell 12 (`class Value:`), line 69: `t = math.exp(2*x)`", or ""

    @property
    def type(self) -> str:
        """The exception's class name."""
        m = re.match(r"[A-Za-z_][\w.]*", self.exception)
        return m.group(0) if m else ""

    @property
    def message(self) -> str:
        """The exception's message (all its lines)."""
        return self.exception.partition(":")[2].strip() if ":" in self.exception else ""


def split_traceback(tb: str) -> tuple[str, str]:
    """(frames, exception): the exception starts at the first unindented line after the
    last `File "…"` line (so multi-line messages stay whole)."""
    lines = tb.rstrip().splitlines()
    last_file = max((i for i, ln in enumerate(lines) if ln.lstrip().startswith('File "')),
                    default=-1)
    for i in range(last_file + 1, len(lines)):
        if lines[i] and not lines[i][0].isspace() and EXC_LINE.match(lines[i]):
            return "\n".join(lines[:i]), "\n".join(lines[i:]).strip()
    return "\n".join(lines[:last_file + 1]), "\n".join(lines[last_file + 1:]).strip()


def defined_names(code: str) -> list[str]:
    """Names a cell binds at its top level (imports, assignments, defs, classes, loops)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return sorted(names)


@dataclass(frozen=True)
class Numbering:
    """The runner's 1-based cell indices mapped to what the student sees."""

    numbers: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()  # .py: the file line of each cell's line 1
    filename: str = ""
    cells: tuple[str, ...] = ()

    def name(self, index: int) -> str:
        """cell 7 (`import torch`)."""
        if not 1 <= index <= len(self.numbers):
            return f"cell {index}"
        label = self.labels[index - 1] if index <= len(self.labels) else ""
        return f"cell {self.numbers[index - 1]}" + (f" (`{label}`)" if label else "")

    def number(self, index: int) -> int:
        """The cell's number as the student sees it."""
        return self.numbers[index - 1] if 1 <= index <= len(self.numbers) else index

    def file_line(self, index: int, line: int) -> int | None:
        """For a .py file: the file line of the cell's line `line`."""
        if self.lines and 1 <= index <= len(self.lines):
            return self.lines[index - 1] + line - 1
        return None

    def source_line(self, index: int, line: int) -> str:
        """The cell's line as written (stripped), or ""."""
        if not 1 <= index <= len(self.cells):
            return ""
        rows = self.cells[index - 1].splitlines()
        return rows[line - 1].strip() if 1 <= line <= len(rows) else ""

    def renumber(self, text: str) -> str:
        """`File "<cell 9>", line 69` -> `File "cell 12", line 69` (or the .py file's line)."""
        def sub(m: re.Match[str]) -> str:
            i, ln = int(m.group(1)), int(m.group(2))
            fl = self.file_line(i, ln)
            if fl is not None and self.filename:
                return f'File "{self.filename}", line {fl} (cell {self.number(i)})'
            return f'File "cell {self.number(i)}", line {ln}'
        return RUNNER_FILE.sub(sub, text)

    def locate(self, tb: str) -> Located:
        """Split a runner traceback and say where its last student frame is."""
        frames, exc = split_traceback(tb)
        hits = list(RUNNER_FILE.finditer(tb))
        where = ""
        if hits:
            i, ln = int(hits[-1].group(1)), int(hits[-1].group(2))
            fl = self.file_line(i, ln)
            where = f"cell {self.number(i)}, line {ln}" + (f" ({self.filename} line {fl})"
                                                    if fl is not None and self.filename else "")
            src = self.source_line(i, ln)
            where += f": `{src}`" if src else ""
        return Located(self.renumber(frames), exc, where)


def cell_errors(cells: list[dict[str, Any]], num: Numbering) -> list[dict[str, Any]]:
    """The runner's failing cell records, told as the student sees their notebook."""
    recs = [c for c in cells if isinstance(c, dict)]
    first_cut = next((c.get("cell", 0) for c in recs if c.get("shortened_loops")), None)
    out = []
    for c in recs:
        if not c.get("error"):
            continue
        i = int(c.get("cell", 0))
        loc = num.locate(str(c["error"]))
        note = LOOP_NOTE if (first_cut is not None and i >= first_cut
                             and loc.type in FROM_LOOPS) else ""
        out.append({**c, "number": num.number(i), "name": num.name(i), "type": loc.type,
                    "message": loc.message, "where": loc.where,
                    "traceback": num.renumber(str(c["error"])).rstrip(), "note": note,
                    "defines": defined_names(num.cells[i - 1]) if i <= len(num.cells) else []})
    return out


# ---------------------------------------------------------------- the rendered structure


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
