"""Week 6 grade integrity: what the job may see, and the trusted side's judges of its claims.

Fast tests of the split inputs and of grader/capstone/verify.py; the attacks themselves
(graded end to end) are in test_week6_attacks.py.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grader import grade, sandbox, source, weeks
from grader.capstone import architect as A
from grader.capstone import specialist as S
from grader.capstone import trusted, verify
from grader.capstone.inputs import (
    CORPUS,
    JobInputs,
    TrustedInputsMissing,
    hidden,
    make_job_inputs,
)
from grader.checks import CheckFailed, CheckSpec, Ctx, GraderFault, Runtime, run_check
from grader.weeks import week6

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "week6"
TARGETS = ("b_val_y", "s_val_y")


def _inputs(data_dir: Path, seed: int = 0) -> JobInputs:
    src = dataclasses.replace(source.from_bytes((FIX / "week6_specialist.ipynb").read_bytes(),
                                                "week6.ipynb", 6),
                              extra_files={CORPUS: (FIX / "data.txt").read_bytes()})
    return make_job_inputs(np.random.default_rng(seed), data_dir, src, False)


def test_lost_trusted_inputs_are_a_grader_fault_not_a_failed_check(data_dir: Path) -> None:
    inputs = _inputs(data_dir)
    ctx = Ctx(dict(inputs), {"specialist": {"val_logits": np.zeros(1)}}, {})
    with pytest.raises(GraderFault) as e:  # escapes run_check: "autograder failed"
        run_check(CheckSpec(S.HELDOUT, 50, S.heldout), ctx)
    assert isinstance(e.value.__cause__, TrustedInputsMissing)


def _cut(full: str, job: str) -> tuple[int, int]:
    """The one contiguous span [a, b) cut out of full to give job (or fail)."""
    a = next(i for i, (x, y) in enumerate(zip(full, job, strict=False)) if x != y)
    b = a + len(full) - len(job)
    assert full[:a] + full[b:] == job
    return a, b


@pytest.mark.parametrize("seed", [0, 1])
def test_held_out_targets_are_trusted_only(seed: int, data_dir: Path) -> None:
    inputs = _inputs(data_dir, seed)
    assert not set(TARGETS) & set(inputs)
    assert set(inputs.trusted) == set(TARGETS)
    assert inputs.trusted["b_val_y"].shape == inputs["b_val_x"].shape
    assert inputs.trusted["s_val_y"].shape == inputs["s_val_x"].shape


@pytest.mark.parametrize("seed", [0, 1])
def test_job_files_are_the_corpora_without_their_held_out_span(seed: int, data_dir: Path
                                                               ) -> None:
    """Every held-out window (context and targets) lies in the one span cut from the text the
    job may read; the span moves with the grading's seed."""
    inputs = _inputs(data_dir, seed)
    full = (data_dir / "tinyshakespeare.txt").read_text(encoding="utf-8")
    corpus = (FIX / "data.txt").read_text(encoding="utf-8")
    spans = []
    for text, key, files_key, vocab in (
            (full, "b", "input.txt", sorted(set(full))),
            (corpus, "s", CORPUS, [chr(c) for c in inputs["s_vocab"]])):
        a, b = _cut(text, inputs.files[files_key].decode("utf-8"))
        assert b - a >= len(text) // 10
        held = text[a:b]
        x, y = inputs[f"{key}_val_x"], hidden(inputs.trusted, f"{key}_val_y")
        for row_x, row_y in zip(x, y, strict=True):
            window = "".join(vocab[int(t)] for t in row_x) + vocab[int(row_y[-1])]
            assert window in held
        spans.append(a)
    assert (FIX / "data.txt").read_bytes() not in inputs.files.values()
    assert spans != _spans_of(data_dir, seed + 10)


def _spans_of(data_dir: Path, seed: int) -> list[int]:
    inputs = _inputs(data_dir, seed)
    full = (data_dir / "tinyshakespeare.txt").read_text(encoding="utf-8")
    corpus = (FIX / "data.txt").read_text(encoding="utf-8")
    return [_cut(full, inputs.files["input.txt"].decode())[0],
            _cut(corpus, inputs.files[CORPUS].decode())[0]]


def _prepared(tmp_path: Path, data_dir: Path) -> tuple[sandbox.Job, JobInputs]:
    inputs = _inputs(data_dir)
    job = sandbox.Job(tmp_path / "j")
    src = dataclasses.replace(source.from_bytes((FIX / "week6_specialist.ipynb").read_bytes(),
                                                "week6.ipynb", 6),
                              extra_files={CORPUS: (FIX / "data.txt").read_bytes()})
    split = weeks.Inputs(sandbox=dict(inputs), trusted=inputs.trusted, files=inputs.files)
    grade.prepare_job(job, src.cells, week6.WEEK_SPEC.job, split, data_dir, src.extra_files)
    return job, inputs


def test_the_jobs_inputs_file_holds_no_held_out_targets(tmp_path: Path, data_dir: Path
                                                        ) -> None:
    job, inputs = _prepared(tmp_path, data_dir)
    with np.load(job.runner / "inputs.npz") as f:
        assert set(f.files) == set(inputs) and not set(TARGETS) & set(f.files)


def test_the_jobs_work_dir_holds_only_the_job_files(tmp_path: Path, data_dir: Path) -> None:
    job, inputs = _prepared(tmp_path, data_dir)
    got = {str(p.relative_to(job.work)): p.read_bytes()
           for p in job.work.rglob("*") if p.is_file()}
    assert got == inputs.files


def test_the_vanilla_job_gets_no_data_files(tmp_path: Path, data_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def run(job: sandbox.Job, *a: object, **k: object) -> sandbox.SandboxResult:
        seen.append(sorted(os.listdir(job.work)))
        return sandbox.SandboxResult(1, "", "", 0.0)

    monkeypatch.setattr(sandbox, "run", run)
    rt = Runtime(limits=week6.LIMITS)
    chan = SimpleNamespace()
    out = trusted.run_vanilla(_inputs(data_dir), rt, data_dir, chan)  # type: ignore[arg-type]
    assert seen == [[]] and out.error


# ----------------------------------------------------------------------------- judges


def test_sampling_z_tells_samples_from_their_logits_apart_from_other_tokens() -> None:
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(3, 200, 30, generator=g, dtype=torch.float64)
    drawn = torch.multinomial(torch.softmax(logits, -1).reshape(-1, 30), 1,
                              generator=g).reshape(3, 200)
    prompt = torch.zeros(3, 1, dtype=torch.long)
    sample = torch.cat([prompt, drawn], 1).numpy()
    assert abs(verify.sampling_z(sample, logits.numpy(), 1)) < 4
    uniform = torch.cat([prompt, torch.randint(0, 30, (3, 200), generator=g)], 1).numpy()
    assert verify.sampling_z(uniform, logits.numpy(), 1) > verify.SAMPLE_Z
    other = 3 * torch.randn(3, 200, 30, generator=g, dtype=torch.float64)  # another model
    assert verify.sampling_z(sample, other.numpy(), 1) > verify.SAMPLE_Z


def test_step_losses_must_agree_with_the_trusted_held_out_losses() -> None:
    honest = np.linspace(4.2, 2.6, 40)[None]
    assert "agree" in verify.check_step_losses(honest, [(0, 19, 3.3), (0, 39, 2.7)], "x")
    halved = honest / 2
    with pytest.raises(CheckFailed, match="disagree"):
        verify.check_step_losses(halved, [(0, 19, 3.3), (0, 39, 2.7)], "x")
    untrained = np.full((1, 40), 4.17)  # real losses of steps that did nothing; trained later
    with pytest.raises(CheckFailed, match="outside the grader.s"):
        verify.check_step_losses(untrained, [(0, 39, 2.7)], "x")
    with pytest.raises(CheckFailed, match="finite step losses"):
        verify.committed([1.0, float("nan")], 1, 2, "x")
    verify.check_not_below(honest, 39, 3.4, "x")  # a harder held-out slice is fine
    with pytest.raises(CheckFailed, match="not yours to read"):
        verify.check_not_below(honest, 39, 0.05, "x")  # one-hot logits of the held-out text


def test_untimed_turns_and_the_whole_run_are_bounded_by_the_baselines() -> None:
    base = [(0.004, "zg ready 0"), (0.002, "zg probe 0 12"), (0.002, "zg val 0")]
    steps = np.full((1, 32), 0.005)
    verify.check_untimed([(0.012, w) for _, w in base], base, steps)  # 4 x + 5 steps: fine
    trained_in_val = [base[0], base[1], (0.2, "zg val 0")]
    with pytest.raises(CheckFailed, match="untimed turn 'zg val 0'"):
        verify.check_untimed(trained_in_val, base, steps)
    verify.check_whole_run(1.15, 1.0)
    with pytest.raises(CheckFailed, match="whole run"):
        verify.check_whole_run(1.78, 1.0)  # the deferred-training figure vs honest
    verify.check_plausible(2.7, 3.0)
    with pytest.raises(CheckFailed, match="implausibly"):
        verify.check_plausible(6e-12, 3.0)
    fresh = np.full((3, 40), 4.17)
    verify.check_fresh(fresh + 0.3, fresh)  # a larger init starts higher: fine
    with pytest.raises(CheckFailed, match="trained before its run began"):
        verify.check_fresh(fresh - 1.2, fresh)


def test_a_baseline_failure_after_the_students_bench_began_is_the_students(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. the notebook filled GPU memory before its benchmark: the baseline's job fails;
    the benchmark check fails with a message, the report is not "autograder failed"."""
    inputs = week6.make_inputs(np.random.default_rng(0), data_dir)
    V = int(inputs["cfg"][0])
    logits = np.zeros((3, *inputs["b_val_x"].shape, V))
    ref = SimpleNamespace(violation=None, engaged=True)
    paired = SimpleNamespace(referee=ref, baseline=lambda: trusted.Baseline(
        error="torch.OutOfMemoryError: CUDA out of memory"))
    ctx = Ctx(dict(inputs), {"bench": {"val_logits": logits}}, {}, trusted=inputs.trusted,
              runtime=Runtime(paired=paired))  # type: ignore[arg-type]
    monkeypatch.setattr(A, "_gate", lambda c: None)
    out = run_check(CheckSpec(A.BENCH, 30, A.benchmark), ctx)
    assert not out.passed and "counts as your benchmark failing" in out.message
    assert "out of memory" in out.details["baseline_error"]
    assert week6.benchmarks(ctx, []) == []
