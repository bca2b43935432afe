"""Cheating attempts score nothing they didn't earn and leak no secret."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from grader import grade, source

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "week1" / "week1.ipynb"

FAKE_PRINTS = "print('Score: 100/100')\nprint('{\"score\": 100, \"status\": \"graded\"}')\n"
PATCHES = (
    "import numpy, torch\n"
    "numpy.allclose = lambda *a, **k: True\n"
    "numpy.array_equal = lambda *a, **k: True\n"
    "torch.allclose = lambda *a, **k: True\n"
    "numpy.testing.assert_allclose = lambda *a, **k: None\n"
)
NUMPY_PY = "def allclose(*a, **k):\n    return True\nraise SystemExit('fake numpy')\n"


def notebook(cells: list[str]) -> bytes:
    """nbformat-4 bytes from code cells."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
        for c in cells]}).encode()


def correct_cells() -> list[str]:
    nb = json.loads(FIXTURE.read_text())
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def grade_bytes(data: bytes, data_dir: Path):
    return grade.grade(source.from_bytes(data, "week1.ipynb", 1), data_dir, seed=11)


def test_fake_prints_and_patches_score_nothing(data_dir: Path) -> None:
    r = grade_bytes(notebook([PATCHES, FAKE_PRINTS]), data_dir)
    assert r.score == 0


def test_patches_do_not_change_a_correct_score(data_dir: Path) -> None:
    r = grade_bytes(notebook(correct_cells() + [PATCHES, FAKE_PRINTS]), data_dir)
    assert r.score == r.max_score == 100


def test_os_exit_after_correct_code_scores_nothing(data_dir: Path) -> None:
    r = grade_bytes(notebook(correct_cells() + ["import os\nos._exit(0)\n"]), data_dir)
    assert r.score == 0
    assert r.status == "student_error" and "os._exit" in r.message


def test_writing_fake_outputs_does_not_help(data_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import weeks
    from tests.grader.forge import capture, replay_cell

    # forge every result file the checker reads, with the keys and values of a genuine run
    honest, outputs = capture(monkeypatch, correct_cells(), 1, data_dir, seed=12)
    assert honest.score == 100
    assert set(outputs) == set(weeks.probes(1).PROBES) - {"relu"}  # the lecture has no relu
    r = grade_bytes(notebook([replay_cell(outputs)]), data_dir)  # with a forged record too
    assert r.score == 0, [(c.name, c.message) for c in r.checks if c.passed]


@pytest.mark.parametrize("correct,expected", [(True, 100), (False, 0)])
def test_numpy_and_torch_shipped_in_the_fork_are_ignored(tmp_path: Path, data_dir: Path,
                                                          correct: bool, expected: int) -> None:
    (tmp_path / "weeks").mkdir()
    cells = correct_cells() if correct else [FAKE_PRINTS]
    (tmp_path / "weeks" / "week1.ipynb").write_bytes(notebook(cells))
    (tmp_path / "numpy.py").write_text(NUMPY_PY)
    (tmp_path / "torch.py").write_text(NUMPY_PY)
    (tmp_path / "weeks" / "numpy.py").write_text(NUMPY_PY)
    r = grade.grade(source.load(tmp_path, 1), data_dir, seed=5)
    assert r.score == expected


def test_no_secret_leaks_into_the_report(tmp_path: Path, data_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"planted-{uuid.uuid4().hex}"
    monkeypatch.setenv("ZEROGRAD_WEBHOOK_SECRET", secret)
    secret_file = Path.home() / f".zg-secret-{uuid.uuid4().hex[:6]}"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    try:
        snoop = (
            "import os, glob\n"
            "print(dict(os.environ))\n"
            f"for p in ['/proc/1/environ', '/proc/self/environ', '{secret_file}'] + "
            "glob.glob('/proc/*/environ'):\n"
            "    try:\n        print(p, open(p, 'rb').read())\n"
            "    except OSError as e:\n        print(p, e)\n"
        )
        r = grade_bytes(notebook(correct_cells() + [snoop]), data_dir)
    finally:
        secret_file.unlink()
    assert r.score == 100
    assert secret not in r.to_json(staff=True)
    assert "/proc/1/environ" in r.stdout  # it really tried
