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
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader import sandbox, weeks
from grader.checks import Ctx, run_check
from grader.report import (
    STATUS_GRADED,
    STATUS_GRADER_ERROR,
    STATUS_STUDENT_ERROR,
    CheckResult,
    GradeReport,
)
from grader.source import Source

HERE = Path(__file__).resolve().parent
DATA_FILES = {"names.txt": "names.txt", "tinyshakespeare.txt": "input.txt"}
MAX_STATUS_BYTES = 1024 * 1024
MAX_OUTPUT_BYTES = 256 * 1024 * 1024


def grade(source: Source, data_dir: Path | str, *, seed: int | None = None,
          limits: sandbox.Limits | None = None, backend: str = "bwrap",
          gpu_devices: list[str] | None = None) -> GradeReport:
    """Run the student's code in the sandbox and judge its outputs against the reference."""
    t0 = time.perf_counter()
    try:
        wk = weeks.get(source.week)
        return _grade(source, wk, Path(data_dir), seed, limits or wk.LIMITS, backend,
                      gpu_devices or [], t0)
    except Exception:
        return GradeReport(
            week=source.week, title="", status=STATUS_GRADER_ERROR, score=0.0, max_score=100.0,
            message="The autograder failed on this submission. This is not your fault; "
                    "the staff have been told.",
            timings={"total": time.perf_counter() - t0}, staff_traceback=traceback.format_exc(),
        )


def _grade(source: Source, wk: ModuleType, data_dir: Path, seed: int | None,
           limits: sandbox.Limits, backend: str, gpu: list[str], t0: float) -> GradeReport:
    rng = np.random.default_rng(secrets.randbits(63) if seed is None else seed)
    if hasattr(wk, "make_job_inputs"):  # week 6: inputs depend on the submission's files
        inputs = wk.make_job_inputs(rng, data_dir, source, bool(gpu))
    else:
        inputs = wk.make_inputs(rng, data_dir)
    probe_names = list(weeks.probes(source.week).PROBES)
    with tempfile.TemporaryDirectory(prefix="zg-job-") as tmp:
        job = sandbox.Job(Path(tmp))
        prepare_job(job, source, wk, inputs, data_dir)
        t1 = time.perf_counter()
        argv = [os.path.realpath(sys.executable), "-I", "-S", "/zg/runner/runner.py", "/zg/out"]
        runtime: dict[str, Any] = {"backend": backend, "gpu": gpu, "limits": limits}
        # week 6: the student's benchmark steps take turns with a trusted baseline job
        paired = wk.pair(inputs, runtime, data_dir) if hasattr(wk, "pair") else None
        res = sandbox.run(job, argv, limits, backend, gpu,
                          progress=paired.student if paired else False)
        t2 = time.perf_counter()
        status, outputs, errors = collect(job.out, probe_names, res, limits)
    ctx = Ctx(inputs, outputs, errors, data_dir)
    ctx.cache["runtime"] = runtime | {"paired": paired, "killed": res.killed}
    specs = wk.checks_for(ctx) if hasattr(wk, "checks_for") else wk.CHECKS
    results = []
    for spec in specs:
        c0 = time.perf_counter()
        o = run_check(spec, ctx)
        results.append(CheckResult(
            spec.name, spec.points if o.passed else 0.0, spec.points, o.passed, o.message,
            time.perf_counter() - c0, spec.description, spec.bonus, o.details))
    benchmarks = wk.benchmarks(ctx, results) if hasattr(wk, "benchmarks") else []
    extras = wk.extras(ctx, results) if hasattr(wk, "extras") else {}
    t3 = time.perf_counter()
    verdict, message = summarize(res, status, limits)
    if res.backend == "fallback":
        message = f"[{sandbox.FALLBACK_WARNING}] {message}".strip()
    return GradeReport(
        week=wk.WEEK, title=wk.TITLE, status=verdict,
        score=round(sum(c.points for c in results), 4),
        max_score=float(sum(s.points for s in specs)), checks=results, message=message,
        benchmarks=benchmarks, extras=extras,
        stdout=res.stdout, stderr=res.stderr,
        cell_errors=[c for c in status.get("cells", []) if c.get("error")],
        timings={"prepare": t1 - t0, "run": t2 - t1, "check": t3 - t2,
                 "total": time.perf_counter() - t0,
                 "exec_cells": float(status.get("exec_seconds", 0.0))},
        sandbox={"backend": res.backend, "killed": res.killed, "returncode": res.returncode,
                 "wall_s": round(res.wall_s, 3), "notes": res.notes},
    )


def prepare_job(job: sandbox.Job, source: Source, wk: ModuleType,
                inputs: dict[str, np.ndarray], data_dir: Path) -> None:
    """Lay out runner/ (code, job.json, inputs.npz) and work/ (course data, extra files)."""
    job.make_dirs()
    os.chmod(job.root, 0o711)
    for name in ("runner.py", "transform.py"):
        shutil.copy(HERE / name, job.runner / name)
    shutil.copytree(HERE / "stubs", job.runner / "stubs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(HERE / "probes", job.runner / "zgprobes",
                    ignore=shutil.ignore_patterns("__pycache__"))
    spec = {"cells": list(source.cells), "probe_module": f"week{wk.WEEK}",
            "iteration_cap": wk.ITERATION_CAP, "hyperparams": wk.HYPERPARAMS,
            "snapshots": wk.SNAPSHOTS}
    (job.runner / "job.json").write_text(json.dumps(spec))
    np.savez(job.runner / "inputs.npz", **inputs)  # type: ignore[arg-type]
    for src, dst in DATA_FILES.items():
        if not (data_dir / src).is_file():  # the grader's fault, never the student's 0
            raise FileNotFoundError(f"course data {src} missing in {data_dir} "
                                    "(run `zerograd data fetch`)")
        shutil.copyfile(data_dir / src, job.work / dst)
    for rel, data in source.extra_files.items():  # fixed names (source.EXTRA_FILES), e.g.
        extra = job.work / rel  # capstone/data.txt, readable at that relative path
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_bytes(data)


def collect(out: Path, probe_names: list[str], res: sandbox.SandboxResult,
            limits: sandbox.Limits) -> tuple[dict[str, Any], dict[str, dict], dict[str, str]]:
    """Load status.json and each probe's .npz (no pickles), validating sizes and dtypes."""
    status: dict[str, Any] = {}
    sp = out / "status.json"
    if sp.is_file() and not sp.is_symlink() and sp.stat().st_size <= MAX_STATUS_BYTES:
        try:
            loaded = json.loads(sp.read_text())
            status = loaded if isinstance(loaded, dict) else {}
        except (ValueError, UnicodeDecodeError):
            status = {}
    probe_status = status.get("probes") if isinstance(status.get("probes"), dict) else {}
    outputs: dict[str, dict] = {}
    errors: dict[str, str] = {}
    budget = MAX_OUTPUT_BYTES
    for name in probe_names:
        path = out / f"{name}.npz"
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= budget:
            budget -= path.stat().st_size
            try:
                outputs[name] = _load_npz(path)
                continue
            except (ValueError, OSError, KeyError) as e:
                errors[name] = f"{name}: unreadable result ({e.__class__.__name__})"
                continue
        ps = probe_status.get(name) if isinstance(probe_status, dict) else None
        err = ps.get("error") if isinstance(ps, dict) else None
        errors[name] = str(err)[:4000] if err else _no_result_reason(res, limits)
    return status, outputs, errors


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{k} has dtype {a.dtype}")
    return arrays


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
        if first_cut is not None and any(c.get("cell", 0) >= first_cut for c in errs):
            msg += (" The grader shortens top-level `for … in range(…)` loops to keep grading "
                    "fast, so a cell that relies on a loop's full length (e.g. "
                    "`lossi.view(-1, 1000)`) can fail here; that alone costs no points.")
        return STATUS_GRADED, msg
    return STATUS_GRADED, ""
