"""The vanilla baseline: trusted reference code in its own sandbox job, same limits and device.

Why a separate job: the baseline's numbers go on the leaderboard as the denominator of the
speed ratio, so no student code may share its process (it could patch torch or the clock).
It runs right after the student's job, through the same sandbox, limits, GPU binding,
progress pipe and training loop (grader/probes/capstone_common.train_runs), with
reference/gpt.py copied in as zgprobes/refgpt.py; the inputs are the very same arrays.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import grade, sandbox
from grader.checks import Ctx
from grader.source import Source

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "gpt.py"


@dataclass
class Baseline:
    """What the trusted vanilla job produced."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    progress: list[tuple[float, str]] = field(default_factory=list)
    error: str = ""


class _Week:
    """Just enough of a week module for grade.prepare_job."""

    WEEK, ITERATION_CAP = 6, 1
    HYPERPARAMS: dict[str, Any] = {}
    SNAPSHOTS: dict[str, list[str]] = {}


def run_vanilla(inputs: dict[str, np.ndarray], runtime: dict[str, Any],
                data_dir: Path) -> Baseline:
    """Train the reference GPT through the sandboxed loop; never raises for timing trouble."""
    limits: sandbox.Limits = runtime["limits"]
    with tempfile.TemporaryDirectory(prefix="zg-vanilla-") as tmp:
        job = sandbox.Job(Path(tmp))
        src = Source(week=6, cells=(), origin="trusted vanilla baseline", sha256="")
        grade.prepare_job(job, src, _Week, inputs, data_dir)  # type: ignore[arg-type]
        spec = json.loads((job.runner / "job.json").read_text())
        spec["probe_module"] = "capstone_vanilla"
        (job.runner / "job.json").write_text(json.dumps(spec))
        shutil.copyfile(REFERENCE, job.runner / "zgprobes" / "refgpt.py")
        argv = [os.path.realpath(sys.executable), "-I", "-S", "/zg/runner/runner.py", "/zg/out"]
        res = sandbox.run(job, argv, limits, runtime["backend"], runtime["gpu"], progress=True)
        _, outputs, errors = grade.collect(job.out, ["bench"], res, limits)
    if "bench" not in outputs:
        return Baseline(error=errors.get("bench", "no result") + "\n" + res.stderr[-2000:])
    return Baseline(outputs["bench"], res.progress)


def baseline(ctx: Ctx) -> Baseline:
    """The vanilla run for this grading, run once (lazily, only when a benchmark is due)."""
    return ctx.memo("vanilla", lambda: run_vanilla(ctx.inputs, ctx.cache["runtime"],
                                                  Path(ctx.data_dir)))
