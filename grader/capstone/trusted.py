"""The vanilla baseline: trusted reference code in its own sandbox job, trained step for step
in turn with the student's variant.

Why a separate job: the baseline's numbers go on the leaderboard as the denominator of the
speed ratio, so no student code may share its process (it could patch torch or the clock).
It runs through the same sandbox, limits, GPU binding and training loop
(grader/probes/capstone_common.train_runs), with reference/gpt.py copied in as
zgprobes/refgpt.py, on the very same input arrays. It is launched when the student's
benchmark says it is ready, and a grader.turns.Referee then alternates single steps of the
two jobs (the student's frozen during the baseline's turns), so both are timed on the same
machine at the same moment: the speed ratio does not drift with the machine's load.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import grade, sandbox
from grader.checks import Runtime
from grader.turns import ProgressChannel, Referee, shared_cpu
from grader.weeks import Inputs, JobSpec

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "gpt.py"


@dataclass
class Baseline:
    """What the trusted vanilla job produced."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str = ""


VANILLA_JOB = JobSpec("capstone_vanilla", iteration_cap=1)  # no cells: the probe does it all


def run_vanilla(inputs: dict[str, np.ndarray], runtime: Runtime, data_dir: Path,
                chan: ProgressChannel) -> Baseline:
    """Train the reference GPT through the sandboxed, gated loop; never raises."""
    with tempfile.TemporaryDirectory(prefix="zg-vanilla-") as tmp:
        job = sandbox.Job(Path(tmp))
        # the baseline reads no data files: its work/ folder stays empty
        token = grade.prepare_job(job, (), VANILLA_JOB, Inputs(sandbox=inputs, files={}),
                                  data_dir)
        shutil.copyfile(REFERENCE, job.runner / "zgprobes" / "refgpt.py")
        res = sandbox.run(job, grade.runner_argv(), runtime.limits, runtime.backend,
                          list(runtime.gpu), progress=chan)
        _, outputs, errors = grade.collect(job.out, ["bench"], res, runtime.limits, token)
    if "bench" not in outputs:
        return Baseline(error=errors.get("bench", "no result") + "\n" + res.stderr[-2000:])
    return Baseline(outputs["bench"])


@dataclass
class Pairing:
    """The student's gated channel, the referee, and (once it ran) the vanilla baseline."""

    student: ProgressChannel
    referee: Referee
    box: dict[str, Baseline]

    def baseline(self) -> Baseline | None:
        """The vanilla job's result after the referee is done (None if it never ran)."""
        self.referee.result()
        return self.box.get("vanilla")


def pair(inputs: dict[str, np.ndarray], runtime: Runtime, data_dir: Path) -> Pairing:
    """A started referee waiting for the student's "zg bench"; pass .student to the sandbox."""
    cpu = shared_cpu()
    box: dict[str, Baseline] = {}

    def launch() -> tuple[ProgressChannel, threading.Thread]:
        b = ProgressChannel(gated=True, cpu=cpu)
        t = threading.Thread(target=lambda: box.update(
            vanilla=run_vanilla(inputs, runtime, data_dir, b)), daemon=True)
        t.start()
        return b, t

    a = ProgressChannel(gated=True, cpu=cpu)
    runs, steps = len(inputs["b_seeds"]), int(inputs["b_train_x"].shape[0])
    return Pairing(a, Referee(a, launch, runs, steps).start(), box)
