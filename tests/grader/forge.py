"""Helpers for cheat tests: capture a genuine run's result files and replay them as a forgery."""

from __future__ import annotations

import base64
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


def replay_cell(outputs: dict[str, dict[str, np.ndarray]]) -> str:
    """A cell that writes these result files itself and makes the runner's own writes no-ops."""
    blobs = {}
    for name, arrays in outputs.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        blobs[name] = base64.b64encode(buf.getvalue()).decode()
    return ("import base64, numpy\n"
            f"for name, blob in {blobs!r}.items():\n"
            "    open(f'/zg/out/{name}.npz', 'wb').write(base64.b64decode(blob))\n"
            "numpy.savez = lambda *a, **k: None\n")


def earned(report: grade.GradeReport) -> dict[str, float]:
    """Points per graded check that passed."""
    return {c.name: c.points for c in report.checks if c.passed and not c.bonus}
