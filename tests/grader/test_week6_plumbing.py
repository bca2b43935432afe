"""Week-6 plumbing: the GPU bwrap arguments, the timestamped progress pipe, step-time parsing,
MFU table, and storing report.benchmarks as `benchmark` rows (turn-taking: test_turns.py)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Benchmark
from grader import sandbox
from grader.capstone import measure
from grader.capstone.inputs import CUDA, make_job_inputs
from grader.probes.capstone_common import Quiet, train_runs
from grader.sandbox import Job, Limits
from grader.turns import PROGRESS_ENV
from reference.gpt_variants import GPTVariant, VariantConfig
from tests.factories import make_submission
from tests.grader.jobs import job_for, python
from workers.benchmarks import record_benchmarks

PY = os.path.realpath(sys.executable)


def _job(tmp_path: Path) -> Job:
    job = Job(tmp_path / "j")
    job.make_dirs()
    os.chmod(job.root, 0o711)
    return job


def test_gpu_job_binds_only_its_nodes_plus_the_driver_control_nodes(tmp_path: Path) -> None:
    job = _job(tmp_path)
    cmd = sandbox.bwrap_command(job, ["python"], Limits(), ["/dev/nvidia1"])
    joined = " ".join(cmd)
    assert "--dev-bind /dev/nvidia1 /dev/nvidia1" in joined
    assert "/dev/nvidia0" not in joined
    for node in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"):
        assert f"--dev-bind-try {node} {node}" in joined
    assert cmd.index("--dev") < cmd.index("/dev/nvidia1")  # bound over the fresh /dev
    cpu = " ".join(sandbox.bwrap_command(job, ["python"], Limits(), []))
    assert "nvidia" not in cpu


def test_progress_env_reaches_the_sandbox_only_when_asked(tmp_path: Path) -> None:
    job = _job(tmp_path)
    cmd = sandbox.bwrap_command(job, ["python"], Limits(), [], {PROGRESS_ENV: "7"})
    assert f"--setenv {PROGRESS_ENV} 7" in " ".join(cmd)
    assert PROGRESS_ENV not in " ".join(sandbox.bwrap_command(job, ["p"], Limits(), []))


def test_gpu_jobs_run_without_rlimit_as(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """...so their memory is capped by the cgroup (without one they are refused)."""
    seen: list[Limits] = []

    class Group:
        kind, dirs = "v2", []

        def destroy(self) -> None:
            pass

    def supervise(cmd: list[str], env: dict, cwd: str, lim: Limits, *a: object
                  ) -> sandbox.SandboxResult:
        seen.append(lim)
        return sandbox.SandboxResult(0, "", "", 0.0)

    monkeypatch.setattr(sandbox, "_supervise", supervise)
    monkeypatch.setattr(sandbox.cgroups, "create", lambda *a: Group())
    sandbox.run(_job(tmp_path), ["python"], Limits(), "bwrap", ["/dev/nvidia0"])
    sandbox.run(_job(tmp_path), ["python"], Limits(), "bwrap", [])
    assert [lim.address_space for lim in seen] == [False, True]


@pytest.mark.parametrize("backend", ["bwrap", "fallback"])
def test_progress_lines_are_timestamped_on_arrival(tmp_path: Path, backend: str) -> None:
    with job_for(backend, tmp_path) as job:
        _progress_lines(job, backend)


def _progress_lines(job: Job, backend: str) -> None:
    (job.runner / "s.py").write_text(
        "import os, time\nfd = int(os.environ['ZG_PROGRESS_FD'])\n"
        "for i in range(4):\n    os.write(fd, f'zg 0 {i}\\n'.encode())\n    time.sleep(0.05)\n"
        "print('zg 0 99')\n")
    r = sandbox.run(job, [python(backend), "-I", "-S", "/zg/runner/s.py"], Limits(wall_s=20),
                    backend,
                    progress=True)
    assert r.ok, r.stderr
    assert [t for _, t in r.progress] == [f"zg 0 {i}" for i in range(4)]  # stdout never counts
    gaps = [b[0] - a[0] for a, b in zip(r.progress, r.progress[1:], strict=False)]
    assert all(0.04 < g < 0.5 for g in gaps), gaps


def test_step_times_demand_exactly_the_expected_reports() -> None:
    good = [(float(i), f"zg {r} {s}") for i, (r, s) in enumerate((r, s) for r in range(2)
                                                                  for s in range(3))]
    assert measure.step_times(good, 2, 3).shape == (2, 3)
    for bad in (good + [(9.0, "zg 0 0")], good[:-1], [good[1], good[0], *good[2:]]):
        with pytest.raises(measure.ChannelError, match="timing channel"):
            measure.step_times(bad, 2, 3)


def test_run_stats_use_the_mean_after_warmup() -> None:
    """The mean: a job that moves work between its turns (fast, fast, slow) gains nothing."""
    d = torch.tensor([[1.0, 0.5, 0.001, 0.001, 0.028]]).numpy()  # two warm-up steps
    (s,) = measure.run_stats(d, warmup=2, tokens_per_step=100)
    assert s.ms_per_iter == pytest.approx(10.0) and s.tokens_per_s == pytest.approx(1e4)
    assert measure.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)


def test_peak_table_by_device_name() -> None:
    assert measure.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert measure.peak_flops("Tesla T4") == 65e12
    assert measure.peak_flops("NVIDIA L4") == 121e12
    assert measure.peak_flops("cpu") is None and measure.mfu(1e9, 1e3, "cpu") is None
    assert measure.mfu(1e9, 1e3, "NVIDIA A100-SXM4-40GB") == pytest.approx(1e12 / 312e12)


def test_record_benchmarks_replaces_rows_and_drops_bad_ones(db_session: Session) -> None:
    sub = make_submission(db_session, week=6)
    rows = [{"track": "architect", "metric": "tokens_per_s", "value": 1234.5, "unit": "tok/s",
             "device": "cpu", "seed": 3},
            {"track": "architect", "metric": "speed_ratio", "value": 0.9, "unit": "x",
             "device": "cpu", "seed": None},
            {"track": "architect", "metric": "val_loss", "value": math.nan},
            {"metric": "no track", "value": 1.0}, "junk"]
    assert record_benchmarks(db_session, sub.id, {"benchmarks": rows}) == 2
    assert record_benchmarks(db_session, sub.id, {"benchmarks": rows[:1]}) == 1
    db_session.flush()
    got = db_session.execute(select(Benchmark).where(Benchmark.submission_id == sub.id)).scalars()
    assert [(b.metric, b.value, b.seed, b.unit) for b in got] == [
        ("tokens_per_s", 1234.5, 3, "tok/s")]
    assert record_benchmarks(db_session, sub.id, {}) == 0


@pytest.mark.gpu
def test_gpu_sandbox_sees_cuda(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    nodes = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))[:1]
    job = _job(tmp_path)
    (job.runner / "s.py").write_text(
        "import os, sys\nsys.path += os.environ['ZG_SITE'].split(':')\n"
        "import torch\nprint(torch.cuda.is_available(), torch.cuda.device_count())\n")
    r = sandbox.run(job, [PY, "-I", "-S", "/zg/runner/s.py"], Limits(wall_s=120), "bwrap", nodes)
    assert r.ok and r.stdout.split() == ["True", "1"], r.stderr


def test_the_cuda_profile_builds_and_trains_on_cpu(data_dir: Path) -> None:
    """The GPU profile's inputs are consistent and its loop runs (two steps, one seed, on the
    CPU), so a config mistake shows up here and not first on a GPU worker."""
    inputs = make_job_inputs(np.random.default_rng(0), data_dir, None, on_gpu=True)
    V, T, C, H, L = (int(v) for v in inputs["cfg"])
    assert (T, C, H, L) == (CUDA.block_size, CUDA.n_embd, CUDA.n_head, CUDA.n_layer)
    assert inputs["b_train_x"].shape == (CUDA.steps, CUDA.batch, T)
    assert CUDA.warmup < CUDA.steps and C % H == 0
    small = inputs | {"b_train_x": inputs["b_train_x"][:2], "b_train_y": inputs["b_train_y"][:2],
                      "b_seeds": inputs["b_seeds"][:1]}
    cfg = VariantConfig(vocab_size=V, block_size=T, n_embd=C, n_head=H, n_layer=L, dropout=0.0,
                        rope=True, swiglu=True)
    arrays, _ = train_runs(lambda: GPTVariant(cfg), small, Quiet())
    assert tuple(arrays["val_logits"].shape) == (1, CUDA.n_val, T, V)
    assert torch.isfinite(arrays["losses"]).all()
