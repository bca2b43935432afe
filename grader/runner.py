"""Runs INSIDE the sandbox: execute the student's cells, call the probes, write raw arrays.

Nothing here is trusted. It only produces numbers (.npz, no pickles) and a status file;
every judgement is made by the checker outside the sandbox.
"""

from __future__ import annotations

import builtins
import copy
import importlib
import json
import linecache
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


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


def _freeze(value: Any) -> Any:
    """A snapshot copy: tensors/arrays cloned so later in-place training can't change them."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _take_snapshots(ns: dict[str, Any], wanted: dict[str, list[str]],
                    snaps: dict[str, dict[str, Any]], cell: int, log: dict[str, int]) -> None:
    for part, names in wanted.items():
        if part not in snaps and all(n in ns for n in names):
            snap = dict(ns)
            for n in names:
                snap[n] = _freeze(ns[n])
            snaps[part] = snap
            log[part] = cell


def run_cells(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[dict]]:
    """Execute every cell in order; a failing cell is recorded and the next one runs."""
    import ast

    from transform import CAP_FN, HP_VAR, rewrite

    cap = int(job.get("iteration_cap", 100))
    hp = dict(job.get("hyperparams", {}))
    shortened = [0]  # loops cut to the cap in the current cell

    def cap_range(r: range) -> range:
        shortened[0] += len(r) > cap
        return r[:cap]

    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins,
                          CAP_FN: cap_range, HP_VAR: hp}
    snaps: dict[str, dict[str, Any]] = {}
    snap_cells: dict[str, int] = {}
    cells: list[dict] = []
    for i, code in enumerate(job["cells"], start=1):
        t0 = time.perf_counter()
        err = None
        shortened[0] = 0
        try:
            linecache.cache[f"<cell {i}>"] = (len(code), None, code.splitlines(True), "")
            tree = rewrite(ast.parse(code, filename=f"<cell {i}>"), set(hp))
            exec(compile(tree, f"<cell {i}>", "exec"), ns)
        except SystemExit as e:
            err = f"SystemExit({e.code!r}): the notebook called exit(); the next cells still ran"
        except BaseException as e:  # noqa: BLE001 - the student's code may raise anything
            err = _short_tb(e)
        cells.append({"cell": i, "seconds": time.perf_counter() - t0, "error": err,
                      "shortened_loops": shortened[0]})
        _take_snapshots(ns, job.get("snapshots", {}), snaps, i, snap_cells)
    job["_snapshot_cells"] = snap_cells
    return ns, snaps, cells


def _write_result(out: Path, name: str, data: bytes) -> None:
    """Hand one result to the grader: a record on the result pipe (a file when run bare)."""
    fd = os.environ.get("ZG_RESULT_FD")
    if fd is None:
        (out / name).write_bytes(data)
        return
    os.write(int(fd), f"{name} {len(data)}\n".encode())
    view = memoryview(data)
    while view:
        view = view[os.write(int(fd), view):]


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _to_array(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"expected numbers, got {type(value).__name__}")
    return arr


def run_probes(job: dict[str, Any], ns: dict[str, Any], snaps: dict[str, dict[str, Any]],
               out: Path) -> dict[str, dict]:
    """Call each probe of the week on the grader's inputs; save its arrays."""
    import numpy as np

    probes = importlib.import_module(f"zgprobes.{job['probe_module']}")
    with np.load(HERE / "inputs.npz", allow_pickle=False) as f:
        inputs = {k: f[k] for k in f.files}
    status: dict[str, dict] = {}
    for name, (part, fn) in probes.PROBES.items():
        t0 = time.perf_counter()
        where = snaps.get(part, ns) if part else ns
        try:
            arrays = {k: _to_array(v) for k, v in fn(where, inputs).items()}
            _write_result(out, f"{name}.npz", _npz_bytes(arrays))
            status[name] = {"ok": True, "error": None}
        except BaseException as e:  # noqa: BLE001
            status[name] = {"ok": False, "error": _short_tb(e)}
        status[name]["seconds"] = time.perf_counter() - t0
    return status


def main() -> None:
    """Entry point: runner.py OUT_DIR (job.json and inputs.npz sit beside this file)."""
    _setup_path()
    out = Path(sys.argv[1])
    job = json.loads((HERE / "job.json").read_text())
    t0 = time.perf_counter()
    ns, snaps, cells = run_cells(job)
    t1 = time.perf_counter()
    probes = run_probes(job, ns, snaps, out)
    status = {"cells": cells, "probes": probes, "snapshots": job["_snapshot_cells"],
              "exec_seconds": t1 - t0, "probe_seconds": time.perf_counter() - t1}
    _write_result(out, "status.json", json.dumps(status).encode())
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of whatever the student left running


if __name__ == "__main__":
    main()
