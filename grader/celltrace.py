"""A runner traceback told as the student sees their notebook: the cell numbers Jupyter/Colab
show, the line and source line, the exception's type and whole message, and the names each cell
defines (so feedback can say which failed cell caused a later NameError)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

GRADER_NOTE = re.compile(r"^\[grader\] cell (\d+):", re.MULTILINE)
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

    def renumber_notes(self, text: str) -> str:
        """The runner's `[grader] cell 23: …` output lines, in the notebook's numbering."""
        return GRADER_NOTE.sub(lambda m: f"[grader] {self.name(int(m.group(1)))}:", text)

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
