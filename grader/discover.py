"""Which file in a fork is week N: one tolerant name rule, shared by intake and the webhook.

The rule (case-insensitive, in any folder except hidden ones): an optional `Copy of ` /
`Copy_of_` prefix (Colab's "Save a copy"), `week`, an optional separator, the week number
(leading zeros allowed), optional duplicate suffixes (` (1)` from browsers, `-Copy1` from
Jupyter, ` copy 2` from macOS), then `.ipynb` or `.py`.
So `weeks/week1.ipynb` (the documented name), `Copy_of_week1.ipynb`, `weeks/Copy of
week1.ipynb`, `Week1.ipynb`, `notebooks/week01.ipynb`, `week_1.ipynb`, `week1 (1).ipynb` are
all week 1. Several matches: the one whose code defines most of the week's names wins; a tie
(or no match) is an error that lists what the fork contains and how to name the file.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

DOCUMENTED = "weeks/week{week}.ipynb"
_NAME = re.compile(
    r"^(?:copy[ _-]*of[ _-]*)*week[ _-]*0*([1-6])"
    r"(?:[ _-]*(?:\(\d{1,3}\)|copy(?:[ _-]*\d{1,3})?))*\.(?:ipynb|py)$",
    re.IGNORECASE)
_SKIP_DIRS = {"__pycache__", "__macosx", "node_modules", "site-packages"}
MAX_WALK_ENTRIES = 20_000  # a fork is at most fork_max_bytes, but may hold many tiny files
MAX_LISTED = 12
MAX_LIST_CHARS = 1200  # the whole message must fit a submission's error (2000 characters)

# Names each week's contract defines (COURSE_CONTRACT.md): the content tie-breaker.
MARKERS: dict[int, tuple[str, ...]] = {
    1: ("Value", "Neuron", "Layer", "MLP"),
    2: ("stoi", "itos", "N", "P", "W"),
    3: ("build_dataset", "Linear", "BatchNorm1d", "Tanh"),
    4: ("dlogprobs", "dlogits", "dC", "FlattenConsecutive", "Embedding", "Sequential"),
    5: ("Head", "MultiHeadAttention", "FeedFoward", "FeedForward", "Block", "GPTLanguageModel"),
    6: ("CAPSTONE_TRACK", "get_attention_maps", "apply_rope", "SwiGLU"),
}


class DiscoveryError(ValueError):
    """No single file is week N; the message lists what was found and how to name it."""


def hidden(path: str) -> bool:
    """A path inside a hidden or tool folder (`.git`, `.ipynb_checkpoints`, `__pycache__`)."""
    parts = PurePosixPath(path).parts[:-1]
    return any(p.startswith(".") or p.lower() in _SKIP_DIRS for p in parts)


def week_of_path(path: str) -> int | None:
    """The week a repository path names by the rule above, else None."""
    if not isinstance(path, str) or hidden(path):
        return None
    m = _NAME.match(PurePosixPath(path).name)
    return int(m.group(1)) if m else None


def weeks_of_paths(paths: Iterable[str]) -> list[int]:
    """The sorted weeks that any of `paths` names."""
    return sorted({w for p in paths if (w := week_of_path(p)) is not None})


def notebook_like(path: str) -> bool:
    """An .ipynb or .py file outside hidden folders (what the 'found' lists show)."""
    return not hidden(path) and path.lower().endswith((".ipynb", ".py"))


def walk(root: str | os.PathLike[str]) -> list[str]:
    """Every file path (posix, relative) under root, symlinks listed but never followed."""
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and d.lower() not in _SKIP_DIRS)
        for name in sorted(filenames) + [d for d in dirnames
                                         if os.path.islink(os.path.join(dirpath, d))]:
            seen += 1
            if seen > MAX_WALK_ENTRIES:
                return found
            found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return found


def defined_names(cells: Iterable[str]) -> set[str]:
    """Names a notebook's code binds anywhere (classes, functions, assignment targets)."""
    names: set[str] = set()
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def marker_hits(week: int, names: set[str]) -> list[str]:
    """Week `week`'s contract names among `names`, in contract order."""
    return [n for n in MARKERS[week] if n in names]


def weeks_defined(names: set[str]) -> list[int]:
    """Weeks whose names a notebook defines (at least half of the week's markers)."""
    return [w for w, m in MARKERS.items() if len(marker_hits(w, names)) * 2 >= len(m)]


@dataclass(frozen=True)
class Candidate:
    """A file considered for week N: its path and what its code defines."""

    path: str
    names: frozenset[str]
    code_key: tuple[str, ...]  # its code cells, stripped: equal keys are the same notebook
    error: str = ""  # why it could not be read


def how_to_name(week: int) -> str:
    """The naming advice every discovery message ends with."""
    return (f"name the notebook {DOCUMENTED.format(week=week)} (also accepted, in any folder: "
            f"Copy_of_week{week}.ipynb, 'Copy of week{week}.ipynb', Week{week}.ipynb, "
            f"week0{week}.ipynb, week_{week}.ipynb, 'week{week} (1).ipynb', or .py)")


def _describe(c: Candidate, week: int | None = None) -> str:
    if c.error:
        return f"{c.path} (unreadable: {c.error})"
    if week is not None:
        hits = marker_hits(week, set(c.names))
        return f"{c.path} (defines {', '.join(hits)})" if hits else \
            f"{c.path} (defines none of week {week}'s names)"
    weeks = weeks_defined(set(c.names))
    return f"{c.path} (looks like week {', '.join(map(str, weeks))})" if weeks else c.path


def _join(items: list[str], total: int) -> str:
    """Items joined by commas within MAX_LIST_CHARS, then "and N more" (of `total`)."""
    shown: list[str] = []
    for item in items:
        if sum(len(x) + 2 for x in shown) + len(item) > MAX_LIST_CHARS:
            break
        shown.append(item if len(item) <= 200 else item[:199] + "…")
    more = total - len(shown)
    return ", ".join(shown) + (f", and {more} more" if more > 0 else "")


def choose(week: int, paths: list[str], read: Callable[[str], Candidate]) -> str:
    """The one path that is week `week` among a fork's `paths`, else DiscoveryError."""
    named = sorted((p for p in paths if week_of_path(p) == week),
                   key=lambda p: (p != DOCUMENTED.format(week=week), p.count("/"), p))
    if len(named) == 1:
        return named[0]
    if not named:
        others = [p for p in paths if notebook_like(p)]
        listed = [_describe(read(p)) for p in others[:MAX_LISTED]]
        found = ("the notebooks and .py files in your repository: " + _join(listed, len(others))
                 if listed else "your repository has no .ipynb or .py file")
        raise DiscoveryError(f"no week {week} notebook found; {found}. To fix it, "
                             f"{how_to_name(week)}")
    cands = [read(p) for p in named]
    score = {c.path: len(marker_hits(week, set(c.names))) for c in cands if not c.error}
    best = max(score.values(), default=-1)
    top = [c for c in cands if not c.error and score[c.path] == best]
    if len(top) == 1 or (top and len({c.code_key for c in top}) == 1):
        return top[0].path  # one defines most of the week's names, or all are the same code
    raise DiscoveryError(
        f"several week {week} notebooks found and their code does not tell which to grade: "
        + _join([_describe(c, week) for c in cands[:MAX_LISTED]], len(cands))
        + f". Keep one: move or rename the others so their names no longer look like week "
        f"{week} (e.g. draft_week{week}.ipynb); {how_to_name(week)}")
