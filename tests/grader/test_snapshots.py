"""Snapshots at statement granularity: a part is read as it was when its names were all fresh,
wherever the student's cell boundaries fall (issue 11)."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from grader import grade, sandbox, source, weeks
from grader.weeks import week4

FIX = Path(__file__).resolve().parent.parent / "fixtures"
W2, W4 = FIX / "week2" / "week2.ipynb", FIX / "week4" / "week4.ipynb"
CE, L2, BN, L1 = list(week4.GROUPS)
Edit = Callable[[list[str]], list[str]]


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _notebook(cells: list[str]) -> bytes:
    return json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {},
                                  "outputs": [], "execution_count": None} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 4}).encode()


def _statements(code: str) -> list[str]:
    """A cell's top-level statements, each as its own source text."""
    return [ast.get_source_segment(code, st) or "" for st in ast.parse(code).body]


def _index(cells: list[str], marker: str) -> int:
    return next(i for i, c in enumerate(cells) if marker in c)


# ---------------------------------------------------------------------------- week 2

def w2_trained_in_one_cell(cells: list[str]) -> list[str]:
    """The lecture's cells 'W = randn(…, requires_grad=True)' … 'W.data += -0.1 * W.grad' as one."""
    i = _index(cells, "W = torch.randn((27, 27), generator=g, requires_grad=True)")
    j = _index(cells, "W.data += -0.1 * W.grad")
    return [*cells[:i], "\n".join(cells[i:j + 1]), *cells[j + 1:]]


@pytest.fixture(scope="module")
def small_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """names.txt's first 2000 names (words[0] is still 'emma') and the rest of the data."""
    d = tmp_path_factory.mktemp("snapdata")
    for f in data_dir.iterdir():
        if f.is_file():
            (d / f.name).write_bytes(f.read_bytes())
    words = (data_dir / "names.txt").read_text().splitlines()
    (d / "names.txt").write_text("\n".join(words[:2000]))
    return d


def test_w_created_and_trained_in_one_cell_scores_100(small_data: Path) -> None:
    cells = w2_trained_in_one_cell(_code_cells(W2))
    r = grade.grade(source.from_bytes(_notebook(cells), "week2.ipynb", 2), small_data, seed=3)
    assert r.score == r.max_score == 100, [(c.name, c.message) for c in r.checks if not c.passed]
    assert {"seeded W init", "one-hot forward"} <= {c.name for c in r.checks if c.passed}


def test_w_trained_before_the_loss_is_still_caught(small_data: Path) -> None:
    """The cheat-side: the snapshot is W of the loss's moment, so a W changed before loss fails."""
    cells = w2_trained_in_one_cell(_code_cells(W2))
    i = _index(cells, "W = torch.randn((27, 27), generator=g, requires_grad=True)")
    cells[i] = cells[i].replace("requires_grad=True)\n",
                                "requires_grad=True)\nW.data += 0.5\n", 1)
    r = grade.grade(source.from_bytes(_notebook(cells), "week2.ipynb", 2), small_data, seed=3)
    assert {c.name for c in r.checks if not c.passed} == {"seeded W init"}


# ---------------------------------------------------------------------------- week 4

def w4_one_gradient_per_cell(cells: list[str]) -> list[str]:
    """Exercise 1 written one statement per cell (so `dC = zeros` and its loop are apart)."""
    i = _index(cells, "dlogprobs = torch.zeros_like(logprobs)")
    return [*cells[:i], *_statements(cells[i]), *cells[i + 1:]]


def w4_dc_loop_in_next_cell(cells: list[str]) -> list[str]:
    i = _index(cells, "dlogprobs = torch.zeros_like(logprobs)")
    head, loop = cells[i].split("for k in range(Xb.shape[0]):", 1)
    return [*cells[:i], head, "for k in range(Xb.shape[0]):" + loop, *cells[i + 1:]]


def w4_forgotten_db1(cells: list[str]) -> list[str]:
    i = _index(cells, "dlogprobs = torch.zeros_like(logprobs)")
    assert "db1 = dhprebn.sum(0)\n" in cells[i]
    cells = list(cells)
    cells[i] = cells[i].replace("db1 = dhprebn.sum(0)\n", "", 1)
    return cells


def w4_batch_64(cells: list[str]) -> list[str]:
    i = _index(cells, "Xb, Yb = Xtr[ix], Ytr[ix]")
    cells = list(cells)
    cells[i] = cells[i].replace("batch_size = 32", "batch_size = 64", 1)
    assert "64" in cells[i]
    return cells


W4_LAYOUTS: dict[str, Edit] = {"one gradient per cell": w4_one_gradient_per_cell,
                               "dC loop in the next cell": w4_dc_loop_in_next_cell,
                               "forgotten db1": w4_forgotten_db1,
                               "batch 64": w4_batch_64}


@pytest.fixture(scope="module")
def w4_reports(tiny_data_dir: Path) -> Iterator[dict[str, Future]]:
    pool = ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1))
    base = _code_cells(W4)

    def run(edit: Edit) -> grade.GradeReport:
        data = _notebook(edit(base))
        return grade.grade(source.from_bytes(data, "week4.ipynb", 4), tiny_data_dir, seed=5)

    futures = {name: pool.submit(run, edit) for name, edit in W4_LAYOUTS.items()}
    yield futures
    pool.shutdown(wait=True)


def _failed(r: grade.GradeReport) -> dict[str, str]:
    return {c.name: c.message for c in r.checks if not c.passed}


@pytest.mark.parametrize("layout", ["one gradient per cell", "dC loop in the next cell",
                                    "batch 64"])
def test_exercise_1_layouts_score_what_the_code_earns(w4_reports: dict[str, Future],
                                                      layout: str) -> None:
    r = w4_reports[layout].result()
    assert r.status == "graded", r.message
    assert _failed(r) == {}, _failed(r)
    assert r.score == 100


def test_one_forgotten_gradient_costs_its_group_only(w4_reports: dict[str, Future]) -> None:
    r = w4_reports["forgotten db1"].result()
    failed = _failed(r)
    assert set(failed) == {L1}, failed
    backprop = sum(c.points for c in r.checks if c.name in week4.GROUPS and c.passed)
    assert backprop == 44
    assert "db1 is not defined" in failed[L1]
    assert "shape" not in failed[L1], failed[L1]  # no stale-gradient shape mismatch


# ---------------------------------------------------------------------------- runner unit

def _run(tmp_path: Path, cells: list[str], snaps: dict[str, list[str]], data_dir: Path,
         out: list[str] | None = None) -> dict:
    job = sandbox.Job(tmp_path)
    spec = weeks.JobSpec("week1", 20, {}, snaps)
    token = grade.prepare_job(job, cells, spec, weeks.Inputs(sandbox={}), data_dir)
    lim = sandbox.Limits(wall_s=30, memory_mb=2048)
    res = sandbox.run(job, grade.runner_argv(), lim, "bwrap", [])
    status, _, _ = grade.collect(job.out, [], res, lim, token)
    assert status, res.stderr
    if out is not None:
        out.append(res.stdout)
    return status


def test_a_failed_copy_is_a_visible_note(tmp_path: Path, data_dir: Path) -> None:
    cells = ["import torch\n"
             "class NoCopy:\n    def __deepcopy__(self, memo):\n        raise TypeError('nope')\n"
             "x = NoCopy()\n"
             "w = torch.ones(3, requires_grad=True)\nd = w * 2\n"]  # d: a non-leaf tensor
    out: list[str] = []
    status = _run(tmp_path, cells, {"a": ["x"], "b": ["d"]}, data_dir, out)
    notes = status["snapshot_notes"]
    assert len(notes) == 1 and "could not copy x" in notes[0] and "nope" in notes[0], notes
    assert f"[grader] {notes[0]}" in out[0]
    assert set(status["snapshots"]) == {"a", "b"}


def test_a_part_opens_at_its_statement_and_closes_on_a_change(tmp_path: Path,
                                                              data_dir: Path) -> None:
    """The record names the cell each part was last taken in."""
    cells = ["a = [1]\nb = 2\nb = 3\n",  # opens after `b = 2`, closes when b is rebound
             "c = [0, 0]\n", "c[0] = 5\n",  # c opens at zeros and follows the fill
             "c = 9\n"]
    status = _run(tmp_path, cells, {"ab": ["a", "b"], "c": ["c"]}, data_dir)
    assert status["snapshots"] == {"ab": 1, "c": 3}


def test_rebinding_an_earlier_name_makes_later_ones_stale(tmp_path: Path,
                                                          data_dir: Path) -> None:
    """Parameters rebound after gradients were computed: stale gradients never complete a part."""
    cells = ["p = 1\ng1 = 2\n", "p = 5\n", "g2 = 3\n"]
    status = _run(tmp_path, cells, {"all": ["p", "g1", "g2"], "first": ["p", "g1"]}, data_dir)
    assert status["snapshots"] == {"first": 1}
