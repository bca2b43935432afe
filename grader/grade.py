"""grade(source) -> GradeReport. Never raises for anything the student did."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from grader import celltrace, sandbox, weeks
from grader.checks import Ctx, Runtime, run_check
from grader.report import (
    STATUS_GRADED,
    STATUS_GRADER_ERROR,
    STATUS_STUDENT_ERROR,
    CheckResult,
    GradeReport,
)
from grader.results import read_results
from grader.source import Source

HERE = Path(__file__).resolve().parent
DATA_FILES = {"names.txt": "names.txt", "tinyshakespeare.txt": "input.txt"}


def grade(source: Source, data_dir: Path | str, *, seed: int | None = None,
          limits: sandbox.Limits | None = None, backend: str = "bwrap",
          gpu_devices: list[str] | None = None) -> GradeReport:
    """Run the student's code in the sandbox and judge its outputs against the reference."""
    t0 = time.perf_counter()
    try:
        wk = weeks.get(source.week)
        runtime = Runtime(backend, tuple(gpu_devices or ()), limits or wk.limits)
        return _grade(source, wk, Path(data_dir), seed, runtime, t0)
    except Exception:
        return GradeReport(
            week=source.week, title="", status=STATUS_GRADER_ERROR, score=0.0, max_score=100.0,
            message="The autograder failed on this submission. This is not your fault; "
                    "the staff have been told.",
            timings={"total": time.perf_counter() - t0}, staff_traceback=traceback.format_exc(),
        )


def runner_argv() -> list[str]:
    """The job's command line: the runner, isolated from the environment and site-packages."""
    return [os.path.realpath(sys.executable), "-I", "-S", "/zg/runner/runner.py", "/zg/out"]


def _grade(source: Source, wk: weeks.Week, data_dir: Path, seed: int | None,
           runtime: Runtime, t0: float) -> GradeReport:
    missing = [f for f in wk.job.data if not (data_dir / f).is_file()]
    if missing:  # the grader's fault, never the student's 0
        raise FileNotFoundError(f"course data {', '.join(missing)} missing in {data_dir} "
                                "(run `zerograd data fetch`)")
    rng = np.random.default_rng(secrets.randbits(63) if seed is None else seed)
    inputs = wk.make_inputs(weeks.InputRequest(rng, data_dir, source, bool(runtime.gpu)))
    limits = runtime.limits
    with tempfile.TemporaryDirectory(prefix="zg-job-") as tmp:
        job = sandbox.Job(Path(tmp))
        token = prepare_job(job, source.cells, wk.job, inputs, data_dir, source.extra_files)
        t1 = time.perf_counter()
        # week 6: the student's benchmark steps take turns with a trusted baseline job
        paired = wk.pair(inputs.sandbox, runtime, data_dir) if wk.pair else None
        res = sandbox.run(job, runner_argv(), limits, runtime.backend, list(runtime.gpu),
                          progress=paired.student if paired else False)
        t2 = time.perf_counter()
        status, outputs, errors = collect(job.out, wk.job.probe_names(), res, limits, token)
    if status.get("runner_error"):  # it failed before the first cell: not the student's doing
        raise RuntimeError(f"the runner failed to start:\n{status['runner_error']}")
    ctx = Ctx(inputs.sandbox, outputs, errors, data_dir, inputs.trusted,
              replace(runtime, paired=paired, killed=res.killed))
    specs = wk.select(ctx)
    numbering = numbering_of(source)
    results = []
    for spec in specs:
        c0 = time.perf_counter()
        o = run_check(spec, ctx)  # GraderFault propagates: the whole report is our fault
        results.append(CheckResult(
            spec.name, spec.points if o.passed else 0.0, spec.points, o.passed,
            numbering.renumber(o.message),
            time.perf_counter() - c0, spec.description, spec.bonus, o.details))
    benchmarks, extras = wk.benchmarks(ctx, results), wk.extras(ctx, results)
    t3 = time.perf_counter()
    verdict, message = summarize(res, status, limits)
    if res.backend == "fallback":
        message = f"[{sandbox.FALLBACK_WARNING}] {message}".strip()
    return GradeReport(
        week=wk.week, title=wk.title, status=verdict,
        score=round(sum(c.points for c in results), 4),
        max_score=float(sum(s.points for s in specs)), checks=results, message=message,
        benchmarks=benchmarks, extras=extras,
        stdout=numbering.renumber_notes(res.stdout), stderr=res.stderr,
        cell_errors=celltrace.cell_errors(status.get("cells", []), numbering),
        timings={"prepare": t1 - t0, "run": t2 - t1, "check": t3 - t2,
                 "total": time.perf_counter() - t0,
                 "exec_cells": float(status.get("exec_seconds", 0.0))},
        sandbox={"backend": res.backend, "killed": res.killed, "returncode": res.returncode,
                 "wall_s": round(res.wall_s, 3), "notes": res.notes},
    )


def numbering_of(source: Source) -> celltrace.Numbering:
    """How feedback names the runner's cells: as the student's notebook (or .py) numbers them."""
    py = source.origin.endswith(".py")
    return celltrace.Numbering(source.cell_numbers, source.cell_labels, source.cell_lines,
                              Path(source.origin).name if py else "", source.cells)


def prepare_job(job: sandbox.Job, cells: Sequence[str], spec: weeks.JobSpec,
                inputs: weeks.Inputs, data_dir: Path,
                extra_files: Mapping[str, bytes] | None = None) -> str:
    """Lay out runner/ (code, job.json, inputs.npz) and work/ (the course data and the fork's
    extra files, or exactly inputs.files when the week sets them).

    Returns the job's fresh token: its completion record must carry it (see collect).
    """
    job.make_dirs()
    os.chmod(job.root, 0o711)
    for name in ("runner.py", "transform.py", "snapshots.py"):
        shutil.copy(HERE / name, job.runner / name)
    shutil.copytree(HERE / "stubs", job.runner / "stubs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(HERE / "probes", job.runner / "zgprobes",
                    ignore=shutil.ignore_patterns("__pycache__"))
    token = secrets.token_hex(16)
    (job.runner / "job.json").write_text(json.dumps(
        {"cells": list(cells), "token": token, **spec.to_json(inputs.pins)}))
    np.savez(job.runner / "inputs.npz", **inputs.sandbox)  # type: ignore[arg-type]
    if inputs.files is not None:  # week 6: the corpora minus the held-out text, nothing else
        _write_files(job.work, inputs.files)
        return token
    for src, dst in DATA_FILES.items():  # (the week's required files were checked in _grade)
        if (data_dir / src).is_file():
            shutil.copyfile(data_dir / src, job.work / dst)
    _write_files(job.work, extra_files or {})  # fixed names (source.EXTRA_FILES), e.g.
    return token  # capstone/data.txt, readable at that relative path


def _write_files(work: Path, files: Mapping[str, bytes]) -> None:
    for rel, data in files.items():
        dst = work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)


def collect(out: Path, probe_names: list[str], res: sandbox.SandboxResult,
            limits: sandbox.Limits, token: str
            ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """The completion record, outputs and errors; nothing counts unless the runner finished."""
    return read_results(out, probe_names, token, _no_result_reason(res, limits))


def _no_result_reason(res: sandbox.SandboxResult, limits: sandbox.Limits) -> str:
    return summarize(res, {}, limits)[1] or "no result was produced"


def summarize(res: sandbox.SandboxResult, status: dict[str, Any],
              limits: sandbox.Limits) -> tuple[str, str]:
    """The outcome kind and the student-facing headline."""
    if res.killed == "timeout":
        return STATUS_STUDENT_ERROR, (
            f"Your notebook did not finish within {limits.wall_s:g} s and was stopped. "
            "Look for a loop that never ends or training that runs too long.")
    if res.killed == "memory":
        return STATUS_STUDENT_ERROR, (
            f"Your notebook used more than {limits.memory_mb} MB of memory and was stopped.")
    if res.killed == "output":
        return STATUS_STUDENT_ERROR, (
            f"Your notebook printed more than {limits.output_bytes // (1024 * 1024)} MB "
            "and was stopped. Print less (e.g. not inside the training loop).")
    if not status:
        return STATUS_STUDENT_ERROR, (
            f"Your notebook's process ended before the checks could run (exit code "
            f"{res.returncode}). Did it call os._exit(), kill itself or crash the interpreter?")
    errs = [c for c in status.get("cells", []) if isinstance(c, dict) and c.get("error")]
    if any("MemoryError" in str(c["error"]) for c in errs):
        return STATUS_GRADED, (f"A cell ran out of memory (limit {limits.memory_mb} MB); "
                               "checks that need its names failed.")
    if errs:
        msg = f"{len(errs)} cell(s) raised an error; see the cell errors below."
        cells = [c for c in status.get("cells", []) if isinstance(c, dict)]
        first_cut = next((c.get("cell", 0) for c in cells if c.get("shortened_loops")), None)
        if first_cut is not None and any(  # only errors a shortened loop can cause
                c.get("cell", 0) >= first_cut and celltrace.Numbering().locate(
                    str(c["error"])).type in celltrace.FROM_LOOPS for c in errs):
            msg += " " + celltrace.LOOP_NOTE
        return STATUS_GRADED, msg
    return STATUS_GRADED, ""
