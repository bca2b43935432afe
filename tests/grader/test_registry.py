"""Every registered week declares itself through the one typed interface (grader.weeks.Week)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import uuid
from pathlib import Path

import numpy as np
import pytest

from grader import grade, weeks
from grader.capstone import trusted
from grader.sandbox import Limits

GRADER = Path(grade.__file__).resolve().parent


@pytest.mark.parametrize("week", weeks.WEEKS)
def test_week_declares_a_week_spec(week: int) -> None:
    wk = weeks.get(week)
    assert isinstance(wk, weeks.Week) and dataclasses.is_dataclass(wk)
    assert wk.week == week and wk.title
    assert isinstance(wk.limits, Limits) and wk.job.iteration_cap > 0
    assert isinstance(wk.job, weeks.JobSpec) and wk.job.probe_module == f"week{week}"
    names = [c.name for c in wk.checks]
    assert len(names) == len(set(names)), "check names must be unique (they key check_result)"
    assert all(c.points == 0 for c in wk.checks if c.bonus), "bonus checks are worth 0"
    if wk.checks_for is None:  # week 6 picks its checks per track
        assert sum(c.points for c in wk.checks) == 100
    probes = weeks.probes(week).PROBES
    assert probes and all(callable(fn) for _, fn in probes.values())
    assert wk.job.probe_names() == list(probes)
    assert all(isinstance(n, str) for names in wk.job.snapshots.values() for n in names)


@pytest.mark.parametrize("week", weeks.WEEKS)
def test_inputs_are_split_and_only_the_sandbox_part_enters_the_job(
        week: int, data_dir: Path, tmp_path: Path) -> None:
    wk = weeks.get(week)
    inputs = wk.make_inputs(weeks.InputRequest(np.random.default_rng(0), data_dir))
    assert isinstance(inputs, weeks.Inputs)
    assert not set(inputs.sandbox) & set(inputs.trusted)
    job = grade.sandbox.Job(tmp_path)
    grade.prepare_job(job, ("x = 1",), wk.job, inputs, data_dir)
    with np.load(job.runner / "inputs.npz") as f:
        assert set(f.files) == set(inputs.sandbox)


def test_trusted_inputs_never_reach_the_job(tmp_path: Path, data_dir: Path) -> None:
    key, value = f"held_out_{uuid.uuid4().hex}", np.random.default_rng().random(4)
    secret = weeks.Inputs(sandbox={"x": np.arange(3)}, trusted={key: value})
    job = grade.sandbox.Job(tmp_path)
    grade.prepare_job(job, ("x = 1",), weeks.JobSpec("week1", 1), secret, data_dir)
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert value.tobytes() not in blob and key.encode() not in blob
    with pytest.raises(ValueError, match="both"):
        weeks.Inputs(sandbox={"a": np.zeros(1)}, trusted={"a": np.zeros(1)})


def test_job_spec_is_plain_data() -> None:
    spec = weeks.JobSpec("week5", 3, {"n_embd": 32, "lr": 1e-3}, {"init": ["W"]})
    assert spec.to_json() == {"probe_module": "week5", "iteration_cap": 3,
                              "hyperparams": {"n_embd": 32, "lr": 1e-3},
                              "snapshots": {"init": ["W"]}}
    with pytest.raises(TypeError):
        weeks.JobSpec("week5", 3, {"model": object()})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.iteration_cap = 10**9  # type: ignore[misc]


def test_grade_reads_weeks_only_through_the_interface() -> None:
    """No hasattr probing of week modules, no untyped cache, no fake week module."""
    for path in (GRADER / "grade.py", GRADER / "capstone" / "trusted.py"):
        tree = ast.parse(path.read_text())
        calls = {n.func.id for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "hasattr" not in calls and "getattr" not in calls, path
        assert "ModuleType" not in path.read_text(), path
    assert "cache" not in {f.name for f in dataclasses.fields(grade.Ctx)}
    assert isinstance(trusted.VANILLA_JOB, weeks.JobSpec)
    sig = inspect.signature(weeks.Week)
    assert {"make_inputs", "checks", "job", "limits"} <= set(sig.parameters)


def test_unknown_week_is_refused() -> None:
    with pytest.raises(KeyError):
        weeks.get(9)
