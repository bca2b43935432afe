"""Week 2 integrity: the notebook's words are fresh, so no published or replayed number scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.weeks import InputRequest, week2, week2_words
from tests.grader.forge import capture, earned, grade_cells, replay_cell

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "week2"
# answers the contract itself fixes for everyone: stoi ('.' -> 0, a..z -> 1..26) and the seeded W
CONTRACT_FIXED = {"vocabulary", "seeded W init"}


def _cells() -> list[str]:
    nb = json.loads((FIX / "week2.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def small_data_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 2000 names of names.txt (the grader samples its words from them)."""
    d = tmp_path_factory.mktemp("names2k-integrity")
    names = (data_dir / "names.txt").read_text().splitlines()
    (d / "names.txt").write_text("\n".join(names[:2000]))
    return d


def _py(name: str, data_dir: Path, seed: int) -> grade.GradeReport:
    code = (FIX / name).read_text()
    return grade.grade(source.from_bytes(code.encode(), "week2.py", 2), data_dir, seed=seed)


def test_no_work_notebook_scores_zero_on_every_check(small_data_dir: Path) -> None:
    r = _py("nowork.py", small_data_dir, seed=2)
    assert r.status == "graded" and r.cell_errors == []
    assert earned(r) == {}, earned(r)


def test_published_numbers_earn_only_what_the_contract_fixes(data_dir: Path) -> None:
    # names.txt's own N and P, W = log P (no training) and the printed 3.7693 for "emma"
    r = _py("public.py", data_dir, seed=3)
    assert r.status == "graded" and r.cell_errors == []
    # normalising its own (names.txt) counts is the one piece of real work this notebook does
    assert set(earned(r)) <= CONTRACT_FIXED | {"P rows sum to 1"}, \
        {c.name: c.message for c in r.checks if c.passed}
    assert {"bigram counts N", "dataset NLL under P", "one-hot forward", "trained W",
            "samples"}.isdisjoint(earned(r))


def test_replayed_result_files_with_the_real_keys(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    honest, outputs = capture(monkeypatch, _cells(), 2, data_dir, seed=41)
    assert honest.score == 100
    assert set(outputs) == {"vocab", "counts", "probs", "init", "trained", "samples"}
    r = grade_cells([replay_cell(outputs)], 2, data_dir, seed=42)
    assert set(earned(r)) <= CONTRACT_FIXED, earned(r)


def test_the_notebooks_words_are_the_graders(small_data_dir: Path) -> None:
    a = week2.make_inputs(np.random.default_rng(1), small_data_dir)
    words = week2_words.decode(a["words"])
    req = InputRequest(np.random.default_rng(1), small_data_dir)
    assert week2.WEEK_SPEC.make_inputs(req).pins["words"] == words  # the sandbox's `words`
    assert "words" not in week2.HYPERPARAMS  # per submission, never a shared module global
    b = week2_words.decode(week2.make_inputs(np.random.default_rng(2), small_data_dir)["words"])
    names = set((small_data_dir / "names.txt").read_text().splitlines())
    assert words != b and len(words[0]) == 4
    assert len(set(words) & names) < len(words) / 5  # ciphered: mostly not names any more
    assert set("".join(words)) == set(week2_words.LETTERS)


def test_planted_bug_scores_the_same_every_time(small_data_dir: Path) -> None:
    nb = (FIX / "week2.ipynb").read_text().replace("W.data += -50 * W.grad",
                                                   "W.data += 50 * W.grad")
    scores = {grade.grade(source.from_bytes(nb.encode(), "week2.ipynb", 2), small_data_dir,
                          seed=seed).score for seed in range(4)}
    assert scores == {85.0}
