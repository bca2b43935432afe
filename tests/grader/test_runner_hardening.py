"""The runner's probes, caps and pins are out of the student's reach; results need its record."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import grade, sandbox, source, weeks
from grader.report import STATUS_STUDENT_ERROR
from tests.grader.forge import SEND_LIB
from tests.grader.test_cheating import correct_cells, notebook

PARAMS = "MLP parameter counts"
FORGED_PARAMS = "{'count': [4, 16, 41, 337]}"  # the lecture's public counts

# each tries to make the grader's own `params` probe return the public answer without an MLP
PROBE_ATTACKS = {
    "import the probe package": (
        "import zgprobes.week1 as p\n"
        f"p.PROBES['params'] = (None, lambda ns, inputs: {FORGED_PARAMS})\n"),
    "patch sys.modules": (
        "import sys\n"
        "p = sys.modules.get('zgprobes.week1') or __import__('zgprobes.week1').week1\n"
        f"p.PROBES['params'] = (None, lambda ns, inputs: {FORGED_PARAMS})\n"),
    "put the runner back on sys.path": (
        "import sys\nsys.path.insert(0, '/zg/runner')\n"
        "import zgprobes.week1 as p\n"
        f"p.PROBES['params'] = (None, lambda ns, inputs: {FORGED_PARAMS})\n"
        "p._need = lambda ns, name: (lambda *a, **k: None)\n"),
    "patch the runner module": (
        "import __main__, sys\n"
        "for m in (__main__, sys.modules.get('runner')):\n"
        "    if m is not None and hasattr(m, 'run_probes'):\n"
        "        m.run_probes = lambda *a, **k: {}\n"
        "import transform\n"),
    "patch numpy.savez": (  # the runner took its own numpy.savez before the first cell
        "import numpy\n_real = numpy.savez\n"
        "numpy.savez = lambda f, *a, **k: _real(f, count=[4, 16, 41, 337])\n"),
}


def grade_cells(cells: list[str], data_dir: Path, seed: int = 7):
    return grade.grade(source.from_bytes(notebook(cells), "week1.ipynb", 1), data_dir, seed=seed)


def check(report, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.checks if c.name == name)


@pytest.mark.parametrize("attack", list(PROBE_ATTACKS))
def test_replacing_the_probes_earns_nothing(attack: str, data_dir: Path) -> None:
    r = grade_cells([PROBE_ATTACKS[attack]], data_dir)
    assert r.score == 0, [(c.name, c.message) for c in r.checks if c.passed]
    assert not check(r, PARAMS).passed


@pytest.mark.parametrize("attack", list(PROBE_ATTACKS))
def test_replacing_the_probes_does_not_change_a_correct_score(attack: str,
                                                              data_dir: Path) -> None:
    r = grade_cells([*correct_cells(), PROBE_ATTACKS[attack]], data_dir)
    assert r.score == r.max_score == 100, [(c.name, c.message) for c in r.checks if not c.passed]


def test_the_runner_is_not_importable_from_the_notebook(data_dir: Path) -> None:
    probe = ("import sys, importlib\n"
             "for name in ('zgprobes', 'zgprobes.week1', 'transform', 'snapshots', 'runner'):\n"
             "    try:\n        importlib.import_module(name)\n        print('IMPORTED', name)\n"
             "    except ImportError:\n        print('hidden', name)\n"
             "own = ('transform', 'snapshots')\n"
             "print('modules', sorted(m for m in sys.modules if 'zg' in m or m in own))\n"
             "print('path', [p for p in sys.path if p.rstrip('/').endswith('runner')])\n"
             "print('names', sorted(k for k in globals() if k.startswith('__zg')))\n")
    r = grade_cells([probe], data_dir)
    assert "IMPORTED" not in r.stdout, r.stdout
    assert "modules []" in r.stdout and "path []" in r.stdout and "names []" in r.stdout


CAP_ATTACK = (
    "__zg_cap__ = lambda r: r\n"
    "globals()['__zg_cap__'] = lambda r: r\n"
    "import builtins\nbuiltins.__zg_cap__ = lambda r: r\n"
    "n = 0\n"
    "for i in range(1000):\n"
    "    n += 1\n"
    "print('loops', n)\n")
RANGE_ATTACK = (  # a `range` of the student's own, and a try at the cap inside the code object
    "import builtins, sys\n_real = builtins.range\n"
    "class Forever:\n    def __init__(self, *a): pass\n"
    "    def __getitem__(self, s): return iter(int, 1)\n"
    "    def __iter__(self): return iter(int, 1)\n"
    "builtins.range = range = Forever\n"
    "for c in sys._getframe().f_code.co_consts:\n"
    "    try:\n        type(c).__getitem__ = lambda self, s: iter(int, 1)\n"
    "    except TypeError:\n        pass\n"
    "n = 0\n"
    "for i in range(1000):\n"
    "    n += 1\n"
    "    if n > 5000:\n        break\n"
    "builtins.range = _real\n"
    "print('loops', n)\n")


def test_rebinding_the_cap_does_not_undo_it(data_dir: Path) -> None:
    r = grade_cells([CAP_ATTACK, CAP_ATTACK, RANGE_ATTACK], data_dir)  # the 2nd starts rebound
    cap = weeks.get(1).job.iteration_cap
    assert r.stdout.count(f"loops {cap}\n") == 3, r.stdout + r.stderr
    assert "loops 1000" not in r.stdout


def _run_job(tmp_path: Path, cells: list[str], spec: weeks.JobSpec, data_dir: Path
             ) -> tuple[sandbox.SandboxResult, dict]:
    job = sandbox.Job(tmp_path)
    token = grade.prepare_job(job, cells, spec, weeks.Inputs(sandbox={}), data_dir)
    lim = sandbox.Limits(wall_s=20, memory_mb=1024)
    res = sandbox.run(job, grade.runner_argv(), lim, "bwrap", [])
    status, _, _ = grade.collect(job.out, [], res, lim, token)
    return res, status


def test_rebinding_the_pins_does_not_undo_them(tmp_path: Path, data_dir: Path) -> None:
    cells = ["n_embd = 64\nprint('a', n_embd)\n",
             "__zg_hp__ = {'n_embd': 999}\nglobals()['__zg_hp__'] = {'n_embd': 999}\n"
             "n_embd = 64\nprint('b', n_embd)\n",
             "for i in range(3):\n    n_embd = 128\nprint('c', n_embd)\n"]
    res, status = _run_job(tmp_path, cells, weeks.JobSpec("week1", 2, {"n_embd": 32}), data_dir)
    assert status, res.stderr
    assert "a 32\nb 32\nc 32\n" in res.stdout, res.stdout + res.stderr


def test_a_syntax_error_in_a_later_cell_does_not_stop_earlier_ones(tmp_path: Path,
                                                                   data_dir: Path) -> None:
    res, status = _run_job(tmp_path, ["print('first')\n", "def f(:\n", "print('third')\n"],
                           weeks.JobSpec("week1", 2), data_dir)
    assert "first\nthird\n" in res.stdout
    errs = [c["error"] for c in status["cells"]]
    assert errs[0] is None and "SyntaxError" in errs[1] and errs[2] is None


def test_a_forged_result_for_a_failed_probe_is_ignored(data_dir: Path) -> None:
    """The student writes the real keys of a probe that then fails: no digest, no result."""
    forge = SEND_LIB + ("import numpy as np\n"
                        "zg_send('params', count=np.array([4, 16, 41, 337]))\n")
    r = grade_cells([forge], data_dir)
    assert not check(r, PARAMS).passed and r.score == 0


def test_a_forged_completion_record_without_the_token_is_ignored(data_dir: Path) -> None:
    forge = ("import numpy as np, json, hashlib, io, os\n"
             "fd = int(os.environ['ZG_RESULT_FD'])\n"
             "b = io.BytesIO(); np.savez(b, count=np.array([4, 16, 41, 337])); d = b.getvalue()\n"
             "os.write(fd, f'params.npz {len(d)}\\n'.encode() + d)\n"
             "rec = json.dumps({'token': 'guess', 'cells': [], 'probes': {'params': {'ok': True, "
             "'sha256': hashlib.sha256(d).hexdigest()}}}).encode()\n"
             "os.write(fd, f'status.json {len(rec)}\\n'.encode() + rec)\n"
             "os._exit(0)\n")
    r = grade_cells([*correct_cells(), forge], data_dir)
    assert r.score == 0 and r.status == STATUS_STUDENT_ERROR
    assert "ended before the checks" in r.message


def test_results_of_an_unfinished_job_are_not_graded(data_dir: Path) -> None:
    """Every probe but the last wrote a valid result; the job died before its record."""
    die = ("import os, signal\n_init, _made = MLP.__init__, [0]\n"
           "def _dying(self, *a, **k):\n    _made[0] += 1\n"
           "    if _made[0] == 3:  # the `train` probe's model (params builds two MLPs first)\n"
           "        os.kill(os.getpid(), signal.SIGKILL)\n"
           "    _init(self, *a, **k)\n"
           "MLP.__init__ = _dying\n")
    r = grade_cells([*correct_cells(), die], data_dir)
    assert r.score == 0 and r.status == STATUS_STUDENT_ERROR
    assert "ended before the checks" in r.message


def test_a_runner_that_cannot_load_its_probes_is_a_grader_fault(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = grade.prepare_job

    def without_probes(job, *a, **k):  # type: ignore[no-untyped-def]
        token = real(job, *a, **k)
        (job.runner / "zgprobes" / "week1.py").write_text("raise ImportError('probe bug')\n")
        return token

    monkeypatch.setattr(grade, "prepare_job", without_probes)
    r = grade_cells(correct_cells(), data_dir)
    assert r.status == "grader_error" and "probe bug" in (r.staff_traceback or "")


def test_cells_that_do_not_compile_are_cell_errors(tmp_path: Path, data_dir: Path) -> None:
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    res, status = _run_job(tmp_path, [deep, "print('next')\n"], weeks.JobSpec("week1", 2),
                           data_dir)
    assert status and status["cells"][0]["error"] and "next" in res.stdout
