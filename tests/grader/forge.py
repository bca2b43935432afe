"""Helpers for cheat tests: capture a genuine run's result files and replay them as a forgery."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import grade, source


def notebook(cells: list[str]) -> bytes:
    """nbformat-4 bytes from code cells."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
        for c in cells]}).encode()


def code_cells(path: Path) -> list[str]:
    """The code cells of a fixture notebook."""
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def grade_cells(cells: list[str], week: int, data_dir: Path, seed: int) -> grade.GradeReport:
    """Grade code cells as a week's notebook."""
    return grade.grade(source.from_bytes(notebook(cells), f"week{week}.ipynb", week), data_dir,
                       seed=seed)


def capture(monkeypatch: pytest.MonkeyPatch, cells: list[str], week: int, data_dir: Path,
            seed: int) -> tuple[grade.GradeReport, dict[str, dict[str, np.ndarray]]]:
    """Grade genuine cells and keep the result arrays the sandbox sent back (the real keys)."""
    seen: dict[str, dict[str, np.ndarray]] = {}
    real = grade.collect

    def spy(*args: Any, **kwargs: Any) -> Any:
        status, outputs, errors = real(*args, **kwargs)
        seen.update(outputs)
        return status, outputs, errors

    monkeypatch.setattr(grade, "collect", spy)
    report = grade_cells(cells, week, data_dir, seed)
    monkeypatch.setattr(grade, "collect", real)
    return report, seen


def blobs_of(outputs: dict[str, dict[str, np.ndarray]]) -> dict[str, str]:
    """Each probe's arrays as base64 .npz bytes."""
    blobs = {}
    for name, arrays in outputs.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        blobs[name] = base64.b64encode(buf.getvalue()).decode()
    return blobs


def replay_cell(outputs: dict[str, dict[str, np.ndarray]]) -> str:
    """A cell that sends these results itself, the strongest forgery the job can make: framed
    records on the result pipe ($ZG_RESULT_FD) with the real names and keys, then a completion
    record carrying this job's token (read from job.json) and the right digests, then an exit
    before the runner can send its own. Only the fresh inputs stand between it and the points."""
    return FORGE_RECORDS.replace("BLOBS", repr(blobs_of(outputs)))


def replay_file_cell(path: str) -> str:
    """The same forgery, reading the blobs from a file in the job's folder (results too big
    for a notebook's code)."""
    return FORGE_RECORDS.replace("BLOBS", f"json.load(open({path!r}))")


FORGE_RECORDS = """import base64, hashlib, json, os
_fd = int(os.environ['ZG_RESULT_FD'])
_job = json.load(open('/zg/runner/job.json'))
_probes = {}
def _send(name, data):
    os.write(_fd, f'{name} {len(data)}\\n'.encode() + data)
for _name, _blob in BLOBS.items():
    _data = base64.b64decode(_blob)
    _send(_name + '.npz', _data)
    _probes[_name] = {'ok': True, 'error': None, 'seconds': 0.0,
                      'sha256': hashlib.sha256(_data).hexdigest()}
_send('status.json', json.dumps({'token': _job['token'], 'cells': [], 'probes': _probes,
                                 'snapshots': {}, 'exec_seconds': 0.0,
                                 'probe_seconds': 0.0}).encode())
os._exit(0)
"""


def earned(report: grade.GradeReport) -> dict[str, float]:
    """Points per graded check that passed."""
    return {c.name: c.points for c in report.checks if c.passed and not c.bonus}


# In-notebook forging on the real channel: zg_send(name, **arrays) sends one framed result
# record; zg_finish() sends a completion record with this job's token and the digests of what
# was sent, then exits before the runner can send its own (a duplicate name stops the job).
SEND_LIB = """import hashlib as _zh, io as _zio, json as _zj, os as _zo, numpy as _znp
_zfd, _zsent = int(_zo.environ['ZG_RESULT_FD']), {}
def zg_send(name, **arrays):
    _b = _zio.BytesIO(); _znp.savez(_b, **arrays); _d = _b.getvalue()
    _zo.write(_zfd, f'{name}.npz {len(_d)}\\\\n'.encode() + _d)
    _zsent[name] = {'ok': True, 'error': None, 'seconds': 0.0,
                    'sha256': _zh.sha256(_d).hexdigest()}
def zg_finish():
    _t = _zj.load(open('/zg/runner/job.json'))['token']
    _d = _zj.dumps({'token': _t, 'cells': [], 'probes': _zsent, 'snapshots': {},
                    'exec_seconds': 0.0, 'probe_seconds': 0.0}).encode()
    _zo.write(_zfd, f'status.json {len(_d)}\\\\n'.encode() + _d)
    _zo._exit(0)
"""


def forged_replay(monkeypatch: pytest.MonkeyPatch, cells: list[str], week: int,
                  data_dir: Path, seed: int, edit: Any) -> grade.GradeReport:
    """An oracle forger: the genuine results of these very inputs (same seed), with `edit`
    applied to them, sent as the job's own. What the checks reject is what `edit` forged."""
    _, outputs = capture(monkeypatch, cells, week, data_dir, seed)
    edit(outputs)
    cell = replay_file_cell("zg_forged.json")
    src = dataclasses.replace(source.from_bytes(notebook([cell]), f"week{week}.ipynb", week),
                              extra_files={"zg_forged.json": json.dumps(blobs_of(outputs))
                                           .encode()})
    return grade.grade(src, data_dir, seed=seed)
