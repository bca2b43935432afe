"""Week registry. Each grader/weeks/weekN.py is a trusted module with this interface:

WEEK, TITLE                      ints/str
ITERATION_CAP                    top-level `for … in range(…)` loops are cut to this many steps
HYPERPARAMS: dict[str, object]   top-level assignments to these names are pinned (weeks 5–6)
SNAPSHOTS: dict[str, list[str]]  part -> names; the namespace is frozen after the first cell
                                 where all of them exist, and probes of that part see it
LIMITS: grader.sandbox.Limits    wall clock, memory, …
make_inputs(rng, data_dir) -> dict[str, np.ndarray]   fresh grader-chosen inputs (trusted)
CHECKS: list[grader.checks.CheckSpec]                  points sum to 100

Optional hooks (week 6): make_job_inputs(rng, data_dir, source, on_gpu) replaces make_inputs;
pair(inputs, runtime, data_dir) -> a grader.capstone.trusted.Pairing whose gated channel the
job gets, and whose referee times the benchmark against a trusted job
(ctx.cache["runtime"]["paired"]);
checks_for(ctx) -> the CheckSpecs that apply (points sum to 100); benchmarks(ctx, results)
-> list[dict] for GradeReport.benchmarks; extras(ctx, results) -> dict for GradeReport.extras.

Its probes (what the sandbox calls) live in grader/probes/weekN.py: PROBES = {name: (part, fn)},
fn(namespace, inputs) -> dict[str, array-like]. Probes import only numpy/torch/stdlib and
sibling probe modules (relative imports); they are copied into the sandbox.
"""

from __future__ import annotations

import importlib
from types import ModuleType

WEEKS = (1, 2, 3, 4, 5, 6)


def get(week: int) -> ModuleType:
    """The trusted check module of a week."""
    if week not in WEEKS:
        raise KeyError(f"week {week} has no autograder yet")
    return importlib.import_module(f"grader.weeks.week{week}")


def probes(week: int) -> ModuleType:
    """The (untrusted-side) probe module of a week, imported here only to list names."""
    return importlib.import_module(f"grader.probes.week{week}")
