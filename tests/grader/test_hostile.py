"""Hostile or broken notebooks: each is stopped with a clear message; the grader survives."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import grade, source
from grader.report import STATUS_GRADED, STATUS_STUDENT_ERROR
from grader.sandbox import Limits

FAST = Limits(wall_s=4.0, memory_mb=512, max_procs=32, output_bytes=2 * 1024 * 1024)


def grade_code(code: str, data_dir: Path, limits: Limits = FAST):
    """Grade a one-file week-1 submission."""
    return grade.grade(source.from_bytes(code.encode(), "week1.py", 1), data_dir, seed=3,
                       limits=limits)


# inside a function: top-level loops are shortened by the grader, so these are the loops the
# sandbox's own limits must stop
@pytest.mark.parametrize("code,needle", [
    ("def spin():\n    while True:\n        pass\nspin()\n", "did not finish within 4 s"),
    ("import os\ndef bomb():\n    while True:\n        try:\n            os.fork()\n"
     "        except OSError:\n            pass\nbomb()\n", "did not finish within 4 s"),
    ("import sys\ndef spam():\n    while True:\n        sys.stdout.write('spam' * 10000)\n"
     "spam()\n", "printed more than 2 MB"),
    ("import os\nos._exit(0)\n", "ended before the checks could run"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "ended before the checks"),
])
def test_stopped_with_clear_message(code: str, needle: str, data_dir: Path) -> None:
    r = grade_code(code, data_dir)
    assert r.status == STATUS_STUDENT_ERROR
    assert needle in r.message
    assert r.score == 0
    assert all(not c.passed or c.bonus for c in r.checks)


def test_ten_gigabyte_allocation(data_dir: Path) -> None:
    r = grade_code("big = bytearray(10 * 1024**3)\n", data_dir)
    assert r.score == 0
    assert "memory" in r.message.lower()
    assert any("MemoryError" in str(c["error"]) for c in r.cell_errors) or r.status == \
        STATUS_STUDENT_ERROR


def test_crashing_cells_are_reported_and_later_cells_still_run(data_dir: Path) -> None:
    r = grade_code("# %%\n1 / 0\n# %%\nimport sys\nsys.exit(3)\n# %%\nprint('still here')\n",
                   data_dir)
    assert r.status == STATUS_GRADED
    assert "still here" in r.stdout
    errs = [c["error"] for c in r.cell_errors]
    assert "ZeroDivisionError" in errs[0] and "SystemExit" in errs[1]
    assert "<cell 1>" in errs[0] and "1 / 0" in errs[0]  # the student's own line is shown


def test_syntax_error_is_a_cell_error(data_dir: Path) -> None:
    r = grade_code("def f(:\n    pass\n", data_dir)
    assert r.status == STATUS_GRADED and r.score == 0
    assert "SyntaxError" in r.cell_errors[0]["error"]


def test_grader_fault_is_kept_apart(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import weeks

    def broken(week: int):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in the grader")

    monkeypatch.setattr(weeks, "get", broken)
    r = grade_code("x = 1\n", data_dir)
    assert r.status == "grader_error"
    assert "autograder failed" in r.message
    assert "bug in the grader" in (r.staff_traceback or "")
    assert "staff_traceback" not in r.to_dict(staff=False)


def test_errors_after_a_shortened_loop_are_explained(data_dir: Path) -> None:
    code = ("# %%\nlossi = []\nfor i in range(200000):\n    lossi.append(i)\n"
            "# %%\nassert len(lossi) == 200000, 'needs the full loop'\n")
    r = grade_code(code, data_dir)
    assert "needs the full loop" in r.cell_errors[0]["error"]
    assert "shortens top-level" in r.message
    plain = grade_code("# %%\nfor i in range(3):\n    pass\n# %%\n1 / 0\n", data_dir)
    assert "shortens" not in plain.message  # no loop was cut: no excuse offered
