"""Week 2 end to end: the lecture notebook scores 100; planted bugs fail exactly their checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import grade, source
from grader.weeks import week2

NB = Path(__file__).resolve().parent.parent / "fixtures" / "week2" / "week2.ipynb"
POINTS = {c.name: c.points for c in week2.CHECKS}
SOFTMAX = "counts / counts.sum({}, keepdims=True) # probabilities for next character\n  loss"

BUGS = {
    # the dataset NLL cannot see this bug: each symbol's row sum equals its column sum
    # (every character of '.name.' is entered as often as it is left), so the misplaced
    # normalisers cancel in the average log likelihood
    "missing keepdim": ("P /= P.sum(1, keepdims=True)", "P /= P.sum(1)",
                        {"P rows sum to 1", "samples"}),
    "stoi off by one": ("stoi = {s:i+1 for i,s in enumerate(chars)}",
                        "stoi = {s:i for i,s in enumerate(chars)}",
                        {"vocabulary", "bigram counts N", "dataset NLL under P", "one-hot forward",
                         "trained W", "samples"}),
    "no start token in N": ("chs = ['.'] + list(w) + ['.']\n  for ch1, ch2 in zip(chs, chs[1:]):\n"
                            "    ix1 = stoi[ch1]\n    ix2 = stoi[ch2]\n    N[ix1, ix2] += 1",
                            "chs = list(w) + ['.']\n  for ch1, ch2 in zip(chs, chs[1:]):\n"
                            "    ix1 = stoi[ch1]\n    ix2 = stoi[ch2]\n    N[ix1, ix2] += 1",
                            {"bigram counts N", "dataset NLL under P"}),
    "update with the wrong sign": ("W.data += -50 * W.grad", "W.data += 50 * W.grad",
                                   {"trained W"}),
    "softmax over dim 0 in training": (SOFTMAX.format(1), SOFTMAX.format(0), {"trained W"}),
    "W not seeded": ("W = torch.randn((27, 27), generator=g, requires_grad=True)",
                     "W = torch.randn((27, 27), requires_grad=True)", {"seeded W init"}),
}


def _notebook(old: str = "", new: str = "") -> bytes:
    """The correct notebook, with the first occurrence of old (which must occur) replaced."""
    nb = json.loads(NB.read_text())
    if old:
        cells = [c for c in nb["cells"] if c["cell_type"] == "code" and old in "".join(c["source"])]
        assert cells, f"planted bug: {old!r} does not occur in the notebook"
        cells[0]["source"] = "".join(cells[0]["source"]).replace(old, new, 1)
    return json.dumps(nb).encode()


@pytest.fixture(scope="module")
def head_data_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 2000 names of names.txt: words[0] is still 'emma', grading is 10x faster."""
    d = tmp_path_factory.mktemp("names2k")
    words = (data_dir / "names.txt").read_text().splitlines()
    (d / "names.txt").write_text("\n".join(words[:2000]))
    return d


def _grade(data: bytes, data_dir: Path, seed: int = 1):
    return grade.grade(source.from_bytes(data, "week2.ipynb", 2), data_dir, seed=seed)


def _failing(report) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def test_points_sum_to_100() -> None:
    assert sum(POINTS.values()) == 100 and len(POINTS) == len(week2.CHECKS)


def test_lecture_notebook_full_marks(data_dir: Path) -> None:
    r = _grade(_notebook(), data_dir, seed=1)
    assert r.status == "graded" and _failing(r) == set(), [c.message for c in r.checks]
    assert r.score == 100 and r.cell_errors == []
    msgs = {c.name: c.message for c in r.checks}
    # every number is the grader's words' own (fresh), never the lecture's names.txt one
    import numpy as np
    ref = week2._reference(week2.week2_words.decode(
        week2.make_inputs(np.random.default_rng(1), data_dir)["words"]))
    N = ref["N"]
    assert f"N.sum() == {int(N.sum())}, N[0, 1] == {int(N[0, 1])}" in msgs["bigram counts N"]
    assert int(N.sum()) != 228146
    assert f"{ref['nll1']:.4f}" in msgs["dataset NLL under P"] and "2.4546" not in \
        msgs["dataset NLL under P"]
    assert "3.769304991" not in msgs["one-hot forward"]
    # the lecture's loop (lr 50) is the bar's own yardstick: it goes all the way
    trained = float(msgs["trained W"].split("= ")[1].split()[0])
    assert trained == pytest.approx(ref["lecture"], abs=1e-3) and trained < ref["limit"] - 0.1


def test_lecture_notebook_other_seed(head_data_dir: Path) -> None:
    r = _grade(_notebook(), head_data_dir, seed=20240917)
    assert r.score == 100 and r.cell_errors == [], [c.message for c in r.checks if not c.passed]


def test_unsmoothed_p_is_accepted(head_data_dir: Path) -> None:
    r = _grade(_notebook("P = (N+1).float()", "P = N.float()"), head_data_dir)
    assert r.score == 100, [c.message for c in r.checks if not c.passed]
    assert "(unsmoothed counts)" in {c.name: c.message for c in r.checks}["dataset NLL under P"]


def test_tiny_data(tiny_data_dir: Path) -> None:
    # the lecture hard-codes emma's 5 bigrams; on other data words[0] has its own length
    r = _grade(_notebook("torch.arange(5), ys]", "torch.arange(len(ys)), ys]"), tiny_data_dir, 3)
    assert r.score == 100, [c.message for c in r.checks if not c.passed]


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_bug(head_data_dir: Path, bug: str) -> None:
    old, new, failing = BUGS[bug]
    r = _grade(_notebook(old, new), head_data_dir)
    assert r.status == "graded"
    assert _failing(r) == failing, {c.name: c.message for c in r.checks if not c.passed}
    assert r.score == 100 - sum(POINTS[n] for n in failing)
    for c in r.checks:
        if not c.passed:
            assert c.message and "Traceback" not in c.message


def test_missing_names_get_zero(data_dir: Path) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "words = open('names.txt', 'r').read().splitlines()"}]}
    r = _grade(json.dumps(nb).encode(), data_dir)
    assert r.status == "graded" and r.score == 0
    msgs = {c.name: c.message for c in r.checks}
    assert "'stoi'" in msgs["vocabulary"] and "'N'" in msgs["bigram counts N"]
    assert "'P'" in msgs["P rows sum to 1"] and "'W'" in msgs["trained W"]
    assert "'W'" in msgs["seeded W init"]



def test_real_data_gives_the_lecture_numbers(data_dir: Path) -> None:
    # the numbers the messages quote: the same reference on names.txt itself
    ref = week2._reference((data_dir / "names.txt").read_text().splitlines())
    assert int(ref["N"].sum()) == 228146 and int(ref["N"][0, 1]) == 4410
    assert round(ref["nll1"], 4) == 2.4546 and round(ref["untrained"], 2) == 3.76
    assert round(ref["lecture"], 3) == 2.573 and ref["limit"] < 2.85
