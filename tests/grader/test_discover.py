"""Issue 11, fork discovery: the names Colab and students produce, content as tie-breaker."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from grader import discover, source
from grader.source import SourceError

FIXTURES = Path(__file__).parent.parent / "fixtures"
WEEK1 = FIXTURES / "week1" / "week1.ipynb"
WEEK2 = FIXTURES / "week2" / "week2.ipynb"
COLAB1 = FIXTURES / "colab" / "week1_colab.ipynb"


def nb(*cells: str) -> bytes:
    """A minimal nbformat-4 notebook with the given code cells."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
        for c in cells]}).encode()


def put(root: Path, rel: str, data: bytes | Path) -> None:
    """Write one file of a fork."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, Path):
        shutil.copyfile(data, p)
    else:
        p.write_bytes(data)


VARIANTS = [
    ("Copy_of_week1.ipynb", 1),              # Colab "Save a copy in GitHub", default path
    ("weeks/Copy of week1.ipynb", 1),        # Drive copy committed by hand
    ("notebooks/Week01.ipynb", 1),
    ("week_1 (1).ipynb", 1),
    ("Week1.ipynb", 1),
    ("week01.ipynb", 1),
    ("week1 (1).ipynb", 1),
    ("deep/er/folder/WEEK-3.IPYNB", 3),
    ("Copy of Copy of week5.ipynb", 5),
    ("week2-Copy1.ipynb", 2),                # Jupyter's "Make a copy"
    ("week4 copy 2.ipynb", 4),               # macOS Finder duplicate
    ("Copy_of_week1_(1).ipynb", 1),
    ("submissions/week3.py", 3),
    ("weeks/week6.ipynb", 6),
]


@pytest.mark.parametrize("rel, week", VARIANTS)
def test_name_variants_are_found(tmp_path: Path, rel: str, week: int) -> None:
    put(tmp_path, rel, b"x = 1" if rel.endswith(".py") else nb("x = 1"))
    put(tmp_path, "README.md", b"hi\n")
    src = source.load(tmp_path, week)
    assert src.origin == rel and src.cells == ("x = 1",)
    assert discover.week_of_path(rel) == week


@pytest.mark.parametrize("rel", [
    "week10.ipynb", "week7.ipynb", "week1.txt", "lecture1.ipynb", "week1_solution.ipynb",
    "draft_week1.ipynb", "week1copyright.ipynb", "week1-notes.ipynb",
    ".ipynb_checkpoints/week1-checkpoint.ipynb",
    ".ipynb_checkpoints/week1.ipynb", ".git/week1.py", "__pycache__/week1.py", "weeks1.ipynb",
])
def test_names_that_are_not_a_week(rel: str) -> None:
    assert discover.week_of_path(rel) is None


def test_colab_saved_fork_grades_the_same_code(tmp_path: Path) -> None:
    """A real Colab save at Colab's default path is the notebook itself, byte for byte."""
    put(tmp_path, "Copy_of_week1.ipynb", COLAB1)
    put(tmp_path, "notebooks/Week02.ipynb", WEEK2)
    assert source.load(tmp_path, 1).cells == source.load(COLAB1, 1).cells
    assert source.load(tmp_path, 2).cells == source.load(WEEK2, 2).cells


def test_two_names_content_breaks_the_tie(tmp_path: Path) -> None:
    """The untouched course skeleton and the student's Colab copy: the copy defines week 1."""
    put(tmp_path, "weeks/week1.ipynb", nb("# TODO: write Value here\nimport math"))
    put(tmp_path, "Copy_of_week1.ipynb", WEEK1)
    assert source.load(tmp_path, 1).origin == "Copy_of_week1.ipynb"
    # and the other way round: the documented name holds the work, a stray copy is empty
    other = tmp_path / "other"
    put(other, "weeks/week1.ipynb", WEEK1)
    put(other, "Copy of week1 (1).ipynb", nb("print('hello')"))
    assert source.load(other, 1).origin == "weeks/week1.ipynb"


def test_week_two_markers_break_a_tie(tmp_path: Path) -> None:
    put(tmp_path, "week2.ipynb", nb("stoi = {}\nitos = {}", "N = torch.zeros(27, 27)"))
    put(tmp_path, "Week_2.ipynb", nb("stoi = {}"))
    assert source.load(tmp_path, 2).origin == "week2.ipynb"


def test_identical_copies_are_not_ambiguous(tmp_path: Path) -> None:
    put(tmp_path, "weeks/week1.ipynb", WEEK1)
    put(tmp_path, "backup/Week1.ipynb", WEEK1)
    assert source.load(tmp_path, 1).origin == "weeks/week1.ipynb"


def test_still_ambiguous_lists_the_candidates(tmp_path: Path) -> None:
    put(tmp_path, "Copy_of_week1.ipynb", nb("class Value: pass", "class MLP: pass"))
    put(tmp_path, "weeks/week1.ipynb", nb("class Value:\n    x = 1", "class MLP: pass"))
    with pytest.raises(SourceError) as e:
        source.load(tmp_path, 1)
    msg = str(e.value)
    assert msg.startswith("several week 1 notebooks found")
    assert "Copy_of_week1.ipynb (defines Value, MLP)" in msg
    assert "weeks/week1.ipynb (defines Value, MLP)" in msg
    assert "draft_week1.ipynb" in msg and "weeks/week1.ipynb (also accepted" in msg


def test_nothing_found_lists_what_the_fork_holds(tmp_path: Path) -> None:
    put(tmp_path, "Untitled0.ipynb", WEEK1)
    put(tmp_path, "notes/bigrams.ipynb", WEEK2)
    put(tmp_path, "broken.ipynb", b"{not json")
    put(tmp_path, ".ipynb_checkpoints/week1-checkpoint.ipynb", WEEK1)
    with pytest.raises(SourceError) as e:
        source.load(tmp_path, 1)
    msg = str(e.value)
    assert msg.startswith("no week 1 notebook found; the notebooks and .py files in your "
                          "repository: ")
    assert "Untitled0.ipynb (looks like week 1)" in msg
    assert "notes/bigrams.ipynb (looks like week 2)" in msg
    assert "broken.ipynb (unreadable: not a valid notebook" in msg
    assert "checkpoint" not in msg
    assert "name the notebook weeks/week1.ipynb" in msg and "Copy_of_week1.ipynb" in msg


def test_empty_fork_says_so(tmp_path: Path) -> None:
    put(tmp_path, "README.md", b"hi\n")
    with pytest.raises(SourceError, match="no week 3 notebook found; your repository has no "
                                          r"\.ipynb or \.py file\. To fix it, name the notebook "
                                          "weeks/week3.ipynb"):
        source.load(tmp_path, 3)


def test_an_unreadable_copy_loses_to_a_readable_one(tmp_path: Path) -> None:
    put(tmp_path, "week1.ipynb", b"{oops")
    put(tmp_path, "Copy_of_week1.ipynb", WEEK1)
    assert source.load(tmp_path, 1).origin == "Copy_of_week1.ipynb"


def test_symlinked_candidates_are_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.ipynb"
    outside.write_bytes(WEEK1.read_bytes())
    fork = tmp_path / "fork"
    put(fork, "Copy_of_week1.ipynb", nb("print(1)"))
    os.symlink(outside, fork / "week1.ipynb")  # would win on content if it were read
    os.symlink(tmp_path, fork / "notebooks")
    assert source.load(fork, 1).origin == "Copy_of_week1.ipynb"
    os.unlink(fork / "Copy_of_week1.ipynb")
    with pytest.raises(SourceError, match="symbolic link"):
        source.load(fork, 1)


def test_many_files_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discover, "MAX_WALK_ENTRIES", 5)
    for i in range(10):
        put(tmp_path, f"a{i}.txt", b"")
    assert len(discover.walk(tmp_path)) == 5


def test_weeks_of_paths() -> None:
    paths = ["Copy_of_week1.ipynb", "weeks/week2.ipynb", "README.md", "notes/Week 3 (2).py",
             ".ipynb_checkpoints/week4.ipynb", "week4.txt"]
    assert discover.weeks_of_paths(paths) == [1, 2, 3]


def test_long_listings_fit_a_submission_error(tmp_path: Path) -> None:
    for i in range(40):
        put(tmp_path, f"{'deep/' * 30}notebook_{i:02d}_{'x' * 60}.py", b"x = 1\n")
    with pytest.raises(SourceError) as e:
        source.load(tmp_path, 1)
    msg = str(e.value)
    assert len(msg) < 2000 and "more. To fix it, name the notebook weeks/week1.ipynb" in msg
