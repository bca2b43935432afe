"""Intake of a student's source: a notebook, a .py file or a cloned fork."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import celltrace, discover, magics

MAX_FILE_BYTES = 20 * 1024 * 1024  # notebooks carry outputs (plots), so allow some room
MAX_CODE_BYTES = 1024 * 1024
MAX_CELLS = 1000
MAX_MAGICS = 1000  # IPython constructs rewritten per submission (each costs a pass over its cell)
MAX_MAGIC_CELL_BYTES = 128 * 1024  # a cell IPython must transform (its tokenizer is slow)
LABEL_CHARS = 60
MAX_EXTRA_BYTES = 20 * 1024 * 1024  # week 6 capstone/data.txt
EXTRA_FILES = {6: ("capstone/data.txt",)}


class SourceError(ValueError):
    """A submission we cannot accept; the message is shown to the student."""


@dataclass(frozen=True)
class Source:
    """One week's submission: its code cells as plain Python (IPython syntax rewritten).

    cell_numbers[i] is the number the student sees for cells[i] (its 1-based position among
    ALL the notebook's cells, markdown and empty ones included; for a .py file, among its
    `# In[ ]:` / `# %%` cells); cell_labels[i] is its first non-blank line as written (at most
    LABEL_CHARS); cell_lines[i] is, for a .py file, the file line that cell line 1 maps to
    (empty for notebooks). The three are empty for a Source built without them.
    """

    week: int
    cells: tuple[str, ...]
    origin: str
    sha256: str
    extra_files: dict[str, bytes] = field(default_factory=dict)
    cell_numbers: tuple[int, ...] = ()
    cell_labels: tuple[str, ...] = ()
    cell_lines: tuple[int, ...] = ()

    def cell_name(self, index: int) -> str:
        """How feedback names the runner's cell `index` (1-based): cell 7 (`import torch`)."""
        return celltrace.Numbering(self.cell_numbers, self.cell_labels).name(index)


@dataclass(frozen=True)
class RawCell:
    """A code cell as the student wrote it, with its number as they see it."""

    number: int
    text: str
    line: int = 0  # .py files: the file line that the cell's line 1 maps to


def label_of(text: str) -> str:
    """A cell's first non-blank line, shortened to LABEL_CHARS."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= LABEL_CHARS else first[:LABEL_CHARS - 1] + "…"


def notebook_cells(data: bytes) -> list[RawCell]:
    """Code cells of an nbformat-4 notebook, numbered as Jupyter/Colab show them."""
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(
            f"not a valid notebook: the file is not JSON ({e.__class__.__name__})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SourceError("not a valid notebook: no 'cells' list")
    if nb.get("nbformat") != 4:
        raise SourceError(f"unsupported notebook format {nb.get('nbformat')!r}; save as nbformat 4")
    if len(nb["cells"]) > MAX_CELLS:
        raise SourceError(f"too many cells ({len(nb['cells'])} > {MAX_CELLS})")
    cells = []
    for i, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise SourceError(f"not a valid notebook: cell {i} has no cell_type")
        if cell["cell_type"] != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise SourceError(f"not a valid notebook: cell {i} source is not text")
        cells.append(RawCell(i, src))
    return cells


def cells_from_notebook(data: bytes) -> list[str]:
    """Code cells of an nbformat-4 notebook, with clear errors for anything else."""
    return [c.text for c in notebook_cells(data)]


# Jupyter/Colab "Download as .py" (nbconvert): `# In[3]:` or `# In[ ]:` before each code cell
_IN_MARKER = re.compile(r"(?m)^# In\[[ \d]*\]:[ \t]*\r?$")
# jupytext percent format / VS Code / Spyder: `# %%`, `# %% [markdown]`, `# %% title`
_PERCENT_MARKER = re.compile(r"(?m)^# %%(?:[ \t].*)?\r?$")
_TEXT_CELL = re.compile(r"^# %%.*\[(?:markdown|md|raw)\]")


def py_cells(text: str) -> list[RawCell]:
    """Split a .py file at `# In[n]:` markers (nbconvert), else at `# %%` (jupytext)."""
    marker = _IN_MARKER if _IN_MARKER.search(text) else _PERCENT_MARKER
    starts = [m.start() for m in marker.finditer(text)]
    if not starts:
        return [RawCell(1, text, 1)]
    cells, number = [], 0
    head = text[:starts[0]]
    if _has_code(head):  # code before the first marker (not just a shebang or jupytext header)
        number += 1
        cells.append(RawCell(number, head, 1))
    for begin, end in zip(starts, starts[1:] + [len(text)], strict=True):
        number += 1
        chunk = text[begin:end]
        marker_line, _, body = chunk.partition("\n")
        if _TEXT_CELL.match(marker_line):
            continue
        cells.append(RawCell(number, "\n" + body, text.count("\n", 0, begin) + 1))
    return cells


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def cells_from_py(text: str) -> list[str]:
    """Split a .py file into cells (`# In[n]:` or `# %%` markers), else one cell."""
    return [c.text for c in py_cells(text) if c.text.strip()] or [text]


def from_bytes(data: bytes, filename: str, week: int) -> Source:
    """Parse an uploaded .ipynb or .py."""
    _check_week(week)
    if len(data) > MAX_FILE_BYTES:
        raise SourceError(
            f"file too large ({len(data) // 1024} KiB > {MAX_FILE_BYTES // 1024} KiB)")
    name = os.path.basename(filename)
    is_py = name.lower().endswith(".py")
    if name.lower().endswith(".ipynb"):
        raw = notebook_cells(data)
    elif is_py:
        try:
            raw = py_cells(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise SourceError("the .py file is not UTF-8 text") from None
        if len(raw) > MAX_CELLS:
            raise SourceError(f"too many cells ({len(raw)} > {MAX_CELLS})")
    else:
        raise SourceError(f"unsupported file type {name!r}: upload a .ipynb or .py")
    raw = [c for c in raw if c.text.strip()]
    if sum(len(c.text) for c in raw) > MAX_CODE_BYTES:
        raise SourceError(f"too much code (> {MAX_CODE_BYTES // 1024} KiB in code cells)")
    if not raw:
        raise SourceError("the notebook has no code cells")
    return Source(week, tuple(_plain_python(raw)), name, hashlib.sha256(data).hexdigest(),
                  cell_numbers=tuple(c.number for c in raw),
                  cell_labels=tuple(label_of(c.text) for c in raw),
                  cell_lines=tuple(c.line for c in raw) if is_py else ())


def _plain_python(raw: list[RawCell]) -> list[str]:
    """Each cell through IPython's input transformer (grader/magics.py), within MAX_MAGICS."""
    out, budget = [], MAX_MAGICS
    for c in raw:
        if len(c.text) > MAX_MAGIC_CELL_BYTES and magics.needs_ipython(c.text):
            raise SourceError(
                f"cell {c.number} is too large for IPython syntax (magics, `!` lines) "
                f"({len(c.text) // 1024} KiB > {MAX_MAGIC_CELL_BYTES // 1024} KiB); split it")
        try:
            code, used = magics.to_python(c.text, budget)
        except magics.MagicLimitError:
            raise SourceError(f"too many IPython magics and `!` lines (> {MAX_MAGICS}); "
                              f"cell {c.number} goes over") from None
        budget -= used
        out.append("\n".join(code.splitlines()))
    return out


def _check_week(week: int) -> None:
    if week not in range(1, 7):
        raise SourceError(f"week must be 1–6, got {week}")


def _regular_file(path: Path, root: Path, limit: int) -> bytes:
    """Read a file that is a real file inside root (no symlinks anywhere on its path)."""
    rel = path.relative_to(root)
    cur = root
    for part in rel.parts:
        cur = cur / part
        st = os.lstat(cur)
        if stat.S_ISLNK(st.st_mode):
            raise SourceError(f"{rel} is (or is inside) a symbolic link; submit real files")
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{rel} is not a regular file")
    if st.st_size > limit:
        raise SourceError(f"{rel} is too large ({st.st_size // 1024} KiB > {limit // 1024} KiB)")
    return path.read_bytes()


def _candidate(root: Path, rel: str) -> discover.Candidate:
    """What discovery needs to know about one file: the names its code defines."""
    try:
        src = from_bytes(_regular_file(root / rel, root, MAX_FILE_BYTES), rel, 1)
    except (SourceError, OSError) as e:
        return discover.Candidate(rel, frozenset(), (), str(e)[:120])
    key = tuple(c.strip() for c in src.cells if c.strip())
    return discover.Candidate(rel, frozenset(discover.defined_names(src.cells)), key)


def find_in_directory(root: Path, week: int) -> str:
    """The fork-relative path of week N by the discovery rule, else SourceError listing why."""
    root = Path(root)
    try:
        return discover.choose(week, discover.walk(root), lambda rel: _candidate(root, rel))
    except discover.DiscoveryError as e:
        raise SourceError(str(e)) from None


def from_directory(root: Path, week: int) -> Source:
    """Find and parse week N in a cloned fork."""
    _check_week(week)
    root = Path(root)
    rel = find_in_directory(root, week)
    p = root / rel
    src = from_bytes(_regular_file(p, root, MAX_FILE_BYTES), p.name, week)
    extra = {r: _regular_file(root / r, root, MAX_EXTRA_BYTES)
             for r in EXTRA_FILES.get(week, ()) if os.path.lexists(root / r)}
    return replace(src, origin=rel, extra_files=extra)


def load(path: Path | str, week: int) -> Source:
    """A file or a fork directory."""
    p = Path(path)
    if p.is_dir():
        return from_directory(p, week)
    if not p.exists():
        raise SourceError(f"{p} does not exist")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise SourceError(f"file too large ({p.stat().st_size // 1024} KiB)")
    return from_bytes(p.read_bytes(), p.name, week)
