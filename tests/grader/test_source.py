"""Intake: notebooks, .py files and fork folders, with clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grader import source
from grader.source import SourceError


def nb(*cells: str, fmt: int = 4) -> bytes:
    """A minimal notebook with the given code cells."""
    return json.dumps({"nbformat": fmt, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
        for c in cells]}).encode()


SHELL = "__import__('IPython').get_ipython()"


def test_magics_and_shell_lines_become_stub_shell_calls() -> None:
    """Issue 11: IPython's transformer, not line dropping; %%time bodies run (were dropped)."""
    s = source.from_bytes(nb("%matplotlib inline\nimport math", "!wget x\nx = 1",
                             "%%time\nslow()", "if True:\n    !pip install y\n"), "w.ipynb", 1)
    assert s.cells == (f"{SHELL}.run_line_magic('matplotlib', 'inline')\nimport math",
                       f"{SHELL}.system('wget x')\nx = 1", "\nslow()",
                       f"if True:\n    {SHELL}.system('pip install y')")


def test_list_sources_and_markdown() -> None:
    data = json.loads(nb("a = 1"))
    data["cells"].insert(0, {"cell_type": "markdown", "source": ["# hi"], "metadata": {}})
    data["cells"][1]["source"] = ["a = 1\n", "b = 2"]
    s = source.from_bytes(json.dumps(data).encode(), "w.ipynb", 1)
    assert s.cells == ("a = 1\nb = 2",)


@pytest.mark.parametrize("payload,match", [
    (b"\x89PNG\r\n", "not JSON"),
    (b"{}", "no 'cells'"),
    (b'{"cells": [], "nbformat": 3}', "nbformat 4"),
    (b'{"cells": [{"source": "x"}], "nbformat": 4}', "cell_type"),
    (b'{"cells": [{"cell_type": "code", "source": 5}], "nbformat": 4}', "not text"),
    (b'{"cells": [{"cell_type": "markdown", "source": "x"}], "nbformat": 4}', "no code cells"),
])
def test_malformed_notebooks(payload: bytes, match: str) -> None:
    with pytest.raises(SourceError, match=match):
        source.from_bytes(payload, "w.ipynb", 1)


def test_limits_and_types() -> None:
    with pytest.raises(SourceError, match="too large"):
        source.from_bytes(b" " * (source.MAX_FILE_BYTES + 1), "w.ipynb", 1)
    with pytest.raises(SourceError, match="too many cells"):
        source.from_bytes(nb(*["x=1"] * (source.MAX_CELLS + 1)), "w.ipynb", 1)
    with pytest.raises(SourceError, match="unsupported file type"):
        source.from_bytes(b"x", "w.exe", 1)
    with pytest.raises(SourceError, match="week must be"):
        source.from_bytes(nb("x=1"), "w.ipynb", 9)
    with pytest.raises(SourceError, match="UTF-8"):
        source.from_bytes(b"\xff\xfe", "w.py", 1)


def test_py_percent_cells() -> None:
    s = source.from_bytes(b"a = 1\n# %%\nb = 2\n# %% [markdown]\n", "week1.py", 1)
    assert s.cells == ("a = 1", "\nb = 2")


def test_fork_layouts(tmp_path: Path) -> None:
    (tmp_path / "weeks").mkdir()
    (tmp_path / "weeks" / "week2.ipynb").write_bytes(nb("x = 2"))
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / "week3.py").write_text("x = 3\n")
    assert source.load(tmp_path, 2).origin == "weeks/week2.ipynb"
    assert source.load(tmp_path, 3).origin == "submissions/week3.py"
    with pytest.raises(SourceError, match="no week 4 notebook"):
        source.load(tmp_path, 4)


def test_fork_symlinks_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "outside.ipynb"
    secret.write_bytes(nb("x = 1"))
    fork = tmp_path / "fork"
    fork.mkdir()
    os.symlink(secret, fork / "week1.ipynb")
    with pytest.raises(SourceError, match="symbolic link"):
        source.load(fork, 1)
    os.symlink(tmp_path, fork / "weeks")
    with pytest.raises(SourceError, match="symbolic link"):
        source.load(fork, 1)


def test_fork_giant_capstone_file(tmp_path: Path) -> None:
    (tmp_path / "capstone").mkdir()
    (tmp_path / "week6.py").write_text("CAPSTONE_TRACK = 'specialist'\n")
    with open(tmp_path / "capstone" / "data.txt", "wb") as f:
        f.truncate(source.MAX_EXTRA_BYTES + 1)
    with pytest.raises(SourceError, match="too large"):
        source.load(tmp_path, 6)
