"""Runs INSIDE the sandbox: execute the student's cells, call the probes, write raw arrays.

Nothing here is trusted. It only produces numbers (.npz, no pickles) and a completion record
(status.json, written last, carrying the job's token and each result's digest); every
judgement is made by the checker outside the sandbox. Before the first cell runs, the runner
holds everything it needs (probes, inputs, the compiled cells with their caps and pins) and
takes its own modules off sys.path and sys.modules: what the student's code can still reach
of it, only introspection of this one interpreter can. Where the week takes snapshots, each
top-level statement is compiled and run on its own and the parts are watched between
statements (snapshots.py); loops are capped by the rewrite in transform.py, with a note in
the notebook's output for each cell whose loops were shortened.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import io
import json
import linecache
import os
import secrets
import sys
import time
import traceback
import types
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapshots import Snapshots

HERE = Path(__file__).resolve().parent
# the runner's own references, taken before any student code can patch the modules
_open, _fdopen, _unlink, _exit = os.open, os.fdopen, os.unlink, os._exit
_write = os.write
_RESULT_FD = os.environ.get("ZG_RESULT_FD")  # the sandbox's capped result pipe
_exec = builtins.exec
_sha256 = hashlib.sha256


def _setup_path() -> None:
    sys.path.insert(0, str(HERE / "stubs"))
    sys.path.insert(0, str(HERE))
    for site in os.environ.get("ZG_SITE", "").split(os.pathsep):
        if site:
            sys.path.append(site)


def _short_tb(exc: BaseException, limit: int = 4000) -> str:
    """The student-facing tail of a traceback: their own frames, not the grader's."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(str(HERE))]
    lines = traceback.format_list(frames[-6:]) + traceback.format_exception_only(exc)
    return "".join(lines)[-limit:]


Compiled = tuple[list[tuple[CodeType, frozenset[str]]] | None, str | None]
# a cell: its statements' code and the names each fills in place, or why it does not compile


def compile_cells(job: dict[str, Any], log: list[range]) -> list[Compiled]:
    """Every cell rewritten and compiled before any of them runs (their code can't change it).

    With snapshots to take, each top-level statement is its own code object (same rewrite,
    same line numbers), so the parts can be watched between statements; without, one per cell.
    """
    from transform import Markers, bind, compile_cell, fills, rewrite

    m = Markers(secrets.token_hex(16))
    cap, pins = int(job.get("iteration_cap", 100)), dict(job.get("hyperparams", {}))
    split = bool(job.get("snapshots"))
    compiled: list[Compiled] = []
    for i, code in enumerate(job["cells"], start=1):
        name = f"<cell {i}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), "")
        try:
            tree = rewrite(ast.parse(code, filename=name), pins, m, cap)
            parts = [ast.Module([st], []) for st in tree.body] if split else [tree]
            compiled.append(([(bind(compile_cell(t, name), m, log.append), fills(t))
                              for t in parts], None))
        except Exception as e:  # noqa: BLE001 - SyntaxError, null bytes, nesting too deep
            compiled.append((None, _short_tb(e)))
    return compiled


def _note(text: str) -> None:
    """A grader's line in the notebook's output, from the runner's own stdout descriptor."""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001, S110 - the student's stdout; the note goes out anyway
        pass
    _write(1, f"\n[grader] {text}\n".encode())


def _shortened_note(cell: int, n: int, cap: int) -> None:
    _note(f"cell {cell}: {n} loop(s) shortened to {cap} steps to keep grading fast (training "
          "loops: for … in range/tqdm/enumerate/trange, while); this costs no points.")


def run_cells(job: dict[str, Any], compiled: list[Compiled], ns: dict[str, Any],
              log: list[range], snapshots: Snapshots) -> list[dict]:
    """Execute every cell in order; a failing cell is recorded and the next one runs."""
    cells: list[dict] = []
    cap = int(job.get("iteration_cap", 100))
    for i, (stmts, err) in enumerate(compiled, start=1):
        t0 = time.perf_counter()
        log.clear()
        try:
            for code, filled in stmts or []:
                _exec(code, ns)
                if snapshots.wanted:
                    snapshots.after(ns, filled, i)
        except SystemExit as e:
            err = f"SystemExit({e.code!r}): the notebook called exit(); the next cells still ran"
        except BaseException as e:  # noqa: BLE001 - the student's code may raise anything
            err = _short_tb(e)
        short = sum(bool(r[cap:]) for r in log)
        cells.append({"cell": i, "seconds": time.perf_counter() - t0, "error": err,
                      "shortened_loops": short})
        if short:
            _shortened_note(i, short, cap)
        for name in [k for k in ns if isinstance(k, str) and k.startswith("__zg_r_")]:
            del ns[name]  # the capped loops' range variable
    return cells


def _to_array(value: Any, asarray: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = asarray(value)
    if arr.dtype == object:
        raise TypeError(f"expected numbers, got {type(value).__name__}")
    return arr


def _write_result(out: Path, name: str, data: bytes) -> None:
    """Hand one result to the grader, the only way anything leaves the job: a framed record on
    the sandbox's result pipe (grader/resultpipe.py), or a file in out/ when run bare."""
    if _RESULT_FD is not None:
        fd = int(_RESULT_FD)
        view = memoryview(f"{name} {len(data)}\n".encode() + data)
        while view:
            view = view[_write(fd, view):]
        return
    path = out / name
    try:
        _unlink(path)
    except FileNotFoundError:
        pass
    fd = _open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with _fdopen(fd, "wb") as f:
        f.write(data)


def run_probes(probes: dict[str, Any], inputs: dict[str, Any], ns: dict[str, Any],
               snaps: Snapshots, out: Path, np: Any) -> dict[str, dict]:
    """Call each probe of the week on the grader's inputs; write its arrays and their digest.

    A probe of a part that never opened reads the final namespace only to say which name is
    missing; if none is, the part's names exist but never all fresh together (stale gradients
    beside re-initialised parameters), and reading them would pair values that don't belong.
    """
    status: dict[str, dict] = {}
    for name, (part, fn) in probes.items():
        t0 = time.perf_counter()
        where = snaps.snaps.get(part, ns) if part else ns
        try:
            if where is ns and part and all(n in ns for n in snaps.wanted.get(part, ())):
                raise NameError(f"the names of snapshot {part!r} were never all defined "
                                "together (each after the last rebinding of those before it)")
            arrays = {k: _to_array(v, np.asarray) for k, v in fn(where, inputs).items()}
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            data = buf.getvalue()
            _write_result(out, f"{name}.npz", data)
            status[name] = {"ok": True, "error": None, "sha256": _sha256(data).hexdigest()}
        except BaseException as e:  # noqa: BLE001
            status[name] = {"ok": False, "error": _short_tb(e)}
        status[name]["seconds"] = time.perf_counter() - t0
    return status


def _hide_runner() -> None:
    """Take the runner's own modules out of the student's reach (import, sys.modules)."""
    sys.path[:] = [p for p in sys.path if Path(p) != HERE]
    for name in list(sys.modules):
        if name in ("transform", "snapshots", "zgprobes") or name.startswith("zgprobes."):
            del sys.modules[name]


def main() -> None:
    """Entry point: runner.py OUT_DIR (job.json and inputs.npz sit beside this file).

    Everything the runner needs is loaded before the first cell: the probes, the inputs, the
    compiled (capped, pinned) cells, and its own references to numpy.savez and json.dumps.
    """
    _setup_path()
    out = Path(sys.argv[1])
    job = json.loads((HERE / "job.json").read_text())
    dumps, token = json.dumps, str(job.get("token", ""))
    log: list[range] = []  # the ranges the current cell's capped loops were given
    try:
        import numpy as np

        probes = dict(importlib.import_module(f"zgprobes.{job['probe_module']}").PROBES)
        with np.load(HERE / "inputs.npz", allow_pickle=False) as f:
            inputs = {k: f[k] for k in f.files}
        own_np = types.SimpleNamespace(asarray=np.asarray, savez=np.savez)  # not patchable later
        compiled = compile_cells(job, log)
        from snapshots import Snapshots

        torch = importlib.import_module("torch") if job.get("snapshots") else None
        snapshots = Snapshots(dict(job.get("snapshots", {})), torch, _note)
    except Exception:  # before any student code: the grader's fault
        failed = {"token": token, "runner_error": traceback.format_exc()[-8000:]}
        _write_result(out, "status.json", dumps(failed).encode())
        _exit(1)
    main_module = types.ModuleType("__main__")  # `import __main__` is the notebook, as in Jupyter
    ns = main_module.__dict__
    ns["__builtins__"] = builtins
    _hide_runner()
    sys.modules["__main__"] = main_module
    t0 = time.perf_counter()
    cells = run_cells(job, compiled, ns, log, snapshots)
    t1 = time.perf_counter()
    probe_status = run_probes(probes, inputs, ns, snapshots, out, own_np)
    record = {"token": token, "cells": cells, "probes": probe_status,
              "snapshots": snapshots.cells, "snapshot_notes": snapshots.notes,
              "exec_seconds": t1 - t0,
              "probe_seconds": time.perf_counter() - t1}
    _write_result(out, "status.json", dumps(record).encode())  # last: the completion record
    sys.stdout.flush()
    _exit(0)  # skip interpreter teardown of whatever the student left running


if __name__ == "__main__":
    main()
