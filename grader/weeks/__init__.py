"""Week registry and the one interface a week declares (`WEEK_SPEC = Week(...)` in weekN.py).

The boundary, by type: the student's process ever touches only `JobSpec` (written to
job.json: probe module, loop cap, pinned hyper-parameters, snapshot names), the cells,
`Inputs.sandbox` (inputs.npz), `Inputs.pins` (this submission's pinned values, e.g. week 2's
fresh `words`) and `Inputs.files` (when set, the job's whole working folder: week 6 gives the
corpora minus the held-out text). `Inputs.trusted` and every check stay in the grader's
process; checks read the job's results only as claims (`grader.checks.Ctx.outputs`).

Probes (what the sandbox calls) live in grader/probes/<JobSpec.probe_module>.py:
PROBES = {name: (part, fn)}, fn(namespace, inputs) -> dict[str, array-like]. They import only
numpy/torch/stdlib and sibling probe modules (imported when the module loads, before the
student's first cell); they are copied into the sandbox.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the app imports WEEKS from here and stays light
    import numpy as np

    from grader.capstone.trusted import Pairing
    from grader.checks import CheckSpec, Ctx, Runtime
    from grader.report import CheckResult
    from grader.sandbox import Limits
    from grader.source import Source

WEEKS = (1, 2, 3, 4, 5, 6)

Arrays = dict[str, "np.ndarray"]
HyperValue = int | float | str | bool


def is_hyper_value(v: object) -> bool:
    """A value a pin can hold as a literal: a plain number or string, or a list of strings."""
    if isinstance(v, list | tuple):
        return all(isinstance(x, str) for x in v)
    return isinstance(v, HyperValue)


@dataclass(frozen=True)
class Inputs:
    """One grading's grader-chosen inputs, split by who may read them."""

    sandbox: Arrays  # inputs.npz: the only inputs the student's process ever gets
    trusted: Mapping[str, Any] = field(default_factory=dict)  # checks only (targets, flags)
    pins: Mapping[str, object] = field(default_factory=dict)  # this job's pinned globals
    files: Mapping[str, bytes] | None = None  # the job's work/ folder; None: the course data

    def __post_init__(self) -> None:
        both = set(self.sandbox) & set(self.trusted)
        if both:
            raise ValueError(f"inputs both sandboxed and trusted: {sorted(both)}")
        bad = [k for k, v in self.pins.items() if not is_hyper_value(v)]
        if bad:
            raise TypeError(f"pins must be plain numbers, strings or string lists: {bad}")


@dataclass(frozen=True)
class InputRequest:
    """What make_inputs may draw on: a fresh rng, the course data, the submission."""

    rng: np.random.Generator
    data_dir: Path
    source: Source | None = None  # week 6: the fork's capstone/data.txt
    on_gpu: bool = False


@dataclass(frozen=True)
class JobSpec:
    """What the runner inside the sandbox is told (job.json), besides the cells."""

    probe_module: str  # grader/probes/<name>.py, run after the cells
    iteration_cap: int  # top-level `for … in range(…)` loops are cut to this many steps
    hyperparams: Mapping[str, object] = field(default_factory=dict)  # pinned: int/float/str/bool
    # part -> names: the namespace is frozen after the first cell where all of them exist,
    # and probes of that part see it
    snapshots: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # course files the job cannot do without (missing: a grader fault, never the student's 0)
    data: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [k for k, v in self.hyperparams.items() if not is_hyper_value(v)]
        if bad:
            raise TypeError(f"hyper-parameters must be plain numbers or strings: {bad}")

    def to_json(self, pins: Mapping[str, object] | None = None) -> dict[str, Any]:
        """The job.json fields (pins: this submission's values, over the week's own)."""
        return {"probe_module": self.probe_module, "iteration_cap": self.iteration_cap,
                "hyperparams": {**self.hyperparams, **(pins or {})},
                "snapshots": {k: list(v) for k, v in self.snapshots.items()}}

    def probe_names(self) -> list[str]:
        """The probes the runner calls, in order (their result files are all collect reads)."""
        mod = importlib.import_module(f"grader.probes.{self.probe_module}")
        return list(mod.PROBES)


def _no_benchmarks(ctx: Ctx, results: list[CheckResult]) -> list[dict[str, Any]]:
    return []


def _no_extras(ctx: Ctx, results: list[CheckResult]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Week:
    """A week's autograder: what the job gets, what only the grader holds, and the checks."""

    week: int
    title: str
    limits: Limits
    job: JobSpec
    make_inputs: Callable[[InputRequest], Inputs]
    checks: Sequence[CheckSpec]  # every check (week 6: the union over tracks)
    # the checks that apply to this submission (points sum to 100); default: all of them
    checks_for: Callable[[Ctx], Sequence[CheckSpec]] | None = None
    # week 6: a trusted job paired with the student's (gets only the sandbox inputs)
    pair: Callable[[Arrays, Runtime, Path], Pairing] | None = None
    benchmarks: Callable[[Ctx, list[CheckResult]], list[dict[str, Any]]] = _no_benchmarks
    extras: Callable[[Ctx, list[CheckResult]], dict[str, Any]] = _no_extras

    def select(self, ctx: Ctx) -> list[CheckSpec]:
        """The checks to run on this submission."""
        return list(self.checks_for(ctx) if self.checks_for else self.checks)


def sandbox_only(make: Callable[[np.random.Generator, Path], Arrays]
                 ) -> Callable[[InputRequest], Inputs]:
    """make_inputs for a week whose every input is given to the job."""
    return lambda req: Inputs(sandbox=make(req.rng, req.data_dir))


def get(week: int) -> Week:
    """The trusted declaration of a week."""
    if week not in WEEKS:
        raise KeyError(f"week {week} has no autograder yet")
    spec = importlib.import_module(f"grader.weeks.week{week}").WEEK_SPEC
    if not isinstance(spec, Week):
        raise TypeError(f"grader.weeks.week{week}.WEEK_SPEC is not a Week")
    return spec


def probes(week: int) -> Any:
    """The (untrusted-side) probe module of a week, imported here only to list names."""
    return importlib.import_module(f"grader.probes.{get(week).job.probe_module}")
