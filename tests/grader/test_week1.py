"""Week 1 (micrograd): the lecture notebook scores 100; planted bugs fail exactly their checks."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.probes import week1 as probes
from grader.weeks import week1

NOTEBOOK = Path(__file__).resolve().parent.parent / "fixtures" / "week1" / "week1.ipynb"
POINTS = {c.name: c.points for c in week1.CHECKS}
BONUS = {c.name for c in week1.CHECKS if c.bonus}
GRADED = set(POINTS) - BONUS
ALL_OPS = {"add", "mul", "pow", "div", "neg and sub", "tanh forward/backward",
           "exp forward/backward", "reflected add/mul", "gradient accumulation", "random graphs",
           "micrograd sanity graphs", "lecture neuron", "MLP training"}

# name -> (replacements in the notebook JSON text, the graded checks that must fail)
BUGS: dict[str, tuple[list[tuple[str, str]], set[str]]] = {
    "grad assigned, not accumulated": (
        [(".grad += ", ".grad = ")],
        {"gradient accumulation", "random graphs", "micrograd sanity graphs"}),
    "tanh derivative 1 - t": (
        [("(1 - t**2) * out.grad", "(1 - t) * out.grad")],
        {"tanh forward/backward", "random graphs", "lecture neuron"}),
    "pow backward misses the -1": (
        [("(self.data ** (other - 1))", "(self.data ** other)")],
        {"pow", "div", "random graphs", "micrograd sanity graphs"}),  # the lecture's / uses **-1
    "no __rmul__": (
        [("def __rmul__(self, other)", "def rmul(self, other)")],
        {"reflected add/mul"}),
    "topological sort without visited set": (
        [('      if v not in visited:\\n",\n    "        visited.add(v)\\n', '      if True:\\n')],
        {"gradient accumulation", "random graphs", "micrograd sanity graphs"}),
    "backward does not seed grad = 1": (
        [('    self.grad = 1.0\\n', '\\n')],
        ALL_OPS),
    "neuron without bias": (
        [("return self.w + [self.b]", "return self.w")],
        {"MLP parameter counts"}),
    "exp backward uses x, not exp(x)": (
        [("self.grad += out.data * out.grad", "self.grad += x * out.grad")],
        {"exp forward/backward", "random graphs"}),
    "sub computes other - self": (
        [("return self + (-other)", "return other + (-self)")],
        {"neg and sub", "random graphs"}),
}


def _text() -> str:
    return NOTEBOOK.read_text()


def _grade(text: str, data_dir: Path, seed: int, name: str = "week1.ipynb") -> grade.GradeReport:
    return grade.grade(source.from_bytes(text.encode(), name, 1), data_dir, seed=seed)


# Two bugs make the gradients depend on traversal order (`set(_children)` is ordered by object
# ids). The training check no longer hangs on them: it verifies the forward pass and each update
# against the student's own gradients, and judges the loss itself (see test_integrity_w1.py).


def _failed(report: grade.GradeReport) -> set[str]:
    return {c.name for c in report.checks if not c.passed and not c.bonus}


def test_points_sum_to_100() -> None:
    assert sum(POINTS.values()) == 100 and all(POINTS[b] == 0 for b in BONUS)
    assert BONUS == {"reflected sub/div", "relu"}


@pytest.mark.parametrize("seed", [1, 2024])
def test_lecture_notebook_scores_full_marks(data_dir: Path, seed: int) -> None:
    report = _grade(_text(), data_dir, seed)
    assert report.status == "graded", report.message
    assert _failed(report) == set(), [(c.name, c.message) for c in report.checks]
    assert report.score == 100.0 == report.max_score
    bonus = {c.name: c.passed for c in report.checks if c.bonus}
    assert bonus == {"reflected sub/div": True, "relu": False}  # the lecture's Value has no relu
    assert report.cell_errors == []
    assert report.timings["total"] < 10


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_fails_exactly_its_checks(data_dir: Path, bug: str) -> None:
    replacements, expected = BUGS[bug]
    text = _text()
    for old, new in replacements:
        assert old in text, f"{bug}: {old!r} not in the notebook"
        text = text.replace(old, new)
    report = _grade(text, data_dir, seed=3)
    assert report.status == "graded", report.message
    failed = _failed(report)
    assert failed == expected, \
        {c.name: c.message for c in report.checks if not c.passed}
    assert report.score == pytest.approx(100 - sum(POINTS[n] for n in failed))
    for c in report.checks:  # each failure says what was expected, or shows the student's error
        if not c.passed and not c.bonus:
            assert "expected" in c.message or "Error:" in c.message, (c.name, c.message)


def test_missing_bonus_ops_cost_nothing(data_dir: Path) -> None:
    text = _text().replace("def __rsub__(self, other)", "def rsub(self, other)")
    report = _grade(text, data_dir, seed=5)
    assert report.score == 100.0
    assert {c.name for c in report.checks if not c.passed} == {"reflected sub/div", "relu"}


def test_missing_value_scores_zero_and_names_it(data_dir: Path) -> None:
    report = _grade(_text().replace("class Value:", "class Valu:"), data_dir, seed=4)
    assert report.status == "graded" and report.score == 0.0
    assert _failed(report) == GRADED
    add = next(c for c in report.checks if c.name == "add")
    assert add.message == "the notebook does not define `Value` (week 1 needs Value)"


def test_missing_mlp_fails_only_the_mlp_checks(data_dir: Path) -> None:
    cells = [c for c in source.load(NOTEBOOK, 1).cells if "class Neuron" not in c]
    report = _grade("\n# %%\n".join(cells), data_dir, seed=4, name="week1.py")
    assert _failed(report) == {"MLP parameter counts", "MLP training"}
    msgs = [c.message for c in report.checks if not c.passed and not c.bonus]
    assert all("Neuron" in m or "MLP" in m for m in msgs), msgs


def test_make_inputs_are_fresh_and_bounded() -> None:
    a = week1.make_inputs(np.random.default_rng(1), None)
    b = week1.make_inputs(np.random.default_rng(2), None)
    assert not np.array_equal(a["add_v"], b["add_v"])
    assert not np.array_equal(a["train_init"], b["train_init"])
    assert not np.array_equal(a["sanity_v"], b["sanity_v"])
    assert not np.array_equal(a["neuron_v"], b["neuron_v"])
    for name in probes.GRAPHS:
        n = len(a[f"graph_{name}_leaf"]) + len(a[f"graph_{name}_op"])
        assert n <= week1.MAX_NODES
        assert np.all(a[f"graph_{name}_a"] < np.arange(len(a[f"graph_{name}_op"])) + n - len(
            a[f"graph_{name}_op"]))  # operands come before the node
    assert a["neuron_v"][0, 1] == 0.0  # the lecture's neuron has x2 = 0, so w2.grad = 0
    assert a["neuron_v"][0].tolist() != week1.LECTURE_NEURON


def test_runaway_probe_is_stopped() -> None:
    class Spin:
        def __init__(self, data: float) -> None:
            while True:
                pass

    inputs = week1.make_inputs(np.random.default_rng(0), None)
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError, match="stopped after 1 s"):
        probes.PROBES["add"][1]({"Value": Spin}, inputs)
    assert time.perf_counter() - t0 < 3


def test_probes_import_no_torch() -> None:
    tree = ast.parse(Path(probes.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"__future__", "random", "signal", "sys", "collections", "contextlib", "typing"}


def test_failure_message_names_expression_values_and_diff() -> None:
    from grader.checks import Ctx, run_check

    inputs = week1.make_inputs(np.random.default_rng(0), None)
    out, grad = week1._want_cases(inputs, "pow")
    grad[1, 1] += 0.5  # d(b**3)/db off by 0.5
    spec = next(c for c in week1.CHECKS if c.name == "pow")
    outcome = run_check(spec, Ctx(inputs, {"pow": {"out": out, "grad": grad}}, {}))
    b = inputs["pow_v"][1, 1]
    assert not outcome.passed
    assert outcome.message.startswith(f"b ** 3 with b={b:.6g}: after backward() got b.grad=")
    assert f"expected b.grad={3 * b * b:.8g}" in outcome.message
    assert outcome.message.endswith("max abs diff 0.5")
