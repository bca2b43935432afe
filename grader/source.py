"""Intake of a student's source: a notebook, a .py file or a cloned fork."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 20 * 1024 * 1024  # notebooks carry outputs (plots), so allow some room
MAX_CODE_BYTES = 1024 * 1024
MAX_CELLS = 1000
MAX_EXTRA_BYTES = 20 * 1024 * 1024  # week 6 capstone/data.txt
EXTRA_FILES = {6: ("capstone/data.txt",)}


class SourceError(ValueError):
    """A submission we cannot accept; the message is shown to the student."""


@dataclass(frozen=True)
class Source:
    """The code cells of one week's submission, magics stripped."""

    week: int
    cells: tuple[str, ...]
    origin: str
    sha256: str
    extra_files: dict[str, bytes] = field(default_factory=dict)


_MAGIC = re.compile(r"^(\s*)[%!]")


def strip_magics(code: str) -> str:
    """Drop `%%` cells; replace `%…` and `!…` lines with `pass` at the same indent."""
    if code.lstrip().startswith("%%"):
        return ""
    lines = []
    for line in code.splitlines():
        m = _MAGIC.match(line)
        lines.append(f"{m.group(1)}pass" if m else line)
    return "\n".join(lines)


def cells_from_notebook(data: bytes) -> list[str]:
    """Code cells of an nbformat-4 notebook, with clear errors for anything else."""
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
        cells.append(src)
    return cells


def cells_from_py(text: str) -> list[str]:
    """Split a .py file on `# %%` markers (jupytext percent format), else one cell."""
    parts = re.split(r"(?m)^# %%.*$", text)
    return [p for p in parts if p.strip()] or [text]


def from_bytes(data: bytes, filename: str, week: int) -> Source:
    """Parse an uploaded .ipynb or .py."""
    _check_week(week)
    if len(data) > MAX_FILE_BYTES:
        raise SourceError(
            f"file too large ({len(data) // 1024} KiB > {MAX_FILE_BYTES // 1024} KiB)")
    name = os.path.basename(filename)
    if name.endswith(".ipynb"):
        raw = cells_from_notebook(data)
    elif name.endswith(".py"):
        try:
            raw = cells_from_py(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise SourceError("the .py file is not UTF-8 text") from None
        if len(raw) > MAX_CELLS:
            raise SourceError(f"too many cells ({len(raw)} > {MAX_CELLS})")
    else:
        raise SourceError(f"unsupported file type {name!r}: upload a .ipynb or .py")
    cells = tuple(c for c in (strip_magics(c) for c in raw) if c.strip())
    if sum(len(c) for c in cells) > MAX_CODE_BYTES:
        raise SourceError(f"too much code (> {MAX_CODE_BYTES // 1024} KiB in code cells)")
    if not cells:
        raise SourceError("the notebook has no code cells")
    return Source(week, cells, name, hashlib.sha256(data).hexdigest())


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


def candidates(week: int) -> list[str]:
    """Where a fork may keep week N, in order of preference."""
    return [f"weeks/week{week}.ipynb", f"week{week}.ipynb", f"week{week}.py",
            f"submissions/week{week}.ipynb", f"submissions/week{week}.py", f"weeks/week{week}.py"]


def from_directory(root: Path, week: int) -> Source:
    """Find and parse week N in a cloned fork."""
    _check_week(week)
    root = Path(root)
    for rel in candidates(week):
        p = root / rel
        if os.path.lexists(p):
            src = from_bytes(_regular_file(p, root, MAX_FILE_BYTES), p.name, week)
            extra = {r: _regular_file(root / r, root, MAX_EXTRA_BYTES)
                     for r in EXTRA_FILES.get(week, ()) if os.path.lexists(root / r)}
            return Source(week, src.cells, rel, src.sha256, extra)
    raise SourceError(
        f"no week {week} notebook found; expected one of: " + ", ".join(candidates(week)))


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
