"""The sandbox's stand-ins (grader/stubs): get_ipython(), google.colab, ipywidgets, tqdm.

Each test runs intake's cells the way the runner does: a fresh `python -I -S` with stubs/ first
on sys.path and every cell exec'd in one namespace dict (so `sys._getframe(1).f_globals` of a
shell call is the notebook namespace).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader import source

STUBS = Path(source.__file__).resolve().parent / "stubs"
DRIVER = """
import builtins, json, sys, traceback
sys.path.insert(0, {stubs!r})
sys.path += {extra!r}
ns = {{"__name__": "__main__", "__builtins__": builtins}}
errors = []
for i, code in enumerate(json.loads(sys.stdin.read()), start=1):
    try:
        exec(compile(code, f"<cell {{i}}>", "exec"), ns)
    except BaseException as e:
        errors.append(f"cell {{i}}: {{type(e).__name__}}: {{e}}")
print("\\n@@" + json.dumps({{"errors": errors, "out": ns.get("OUT")}}, default=repr))
"""


def run(cells: list[str], cwd: Path, extra: list[str] | None = None,
        filename: str = "w.ipynb") -> tuple[dict[str, Any], str]:
    """Intake the cells as a notebook (or .py), run them like the runner; (result, stdout)."""
    if filename.endswith(".py"):
        data = "\n".join(f"# %%\n{c}" for c in cells).encode()
    else:
        data = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "source": c, "metadata": {}, "outputs": [],
             "execution_count": None} for c in cells]}).encode()
    src = source.from_bytes(data, filename, 1)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", DRIVER.format(stubs=str(STUBS), extra=extra or [])],
        input=json.dumps(list(src.cells)), capture_output=True, text=True, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out, _, result = proc.stdout.rpartition("\n@@")
    return json.loads(result), out


def test_colab_drive_and_files(tmp_path: Path) -> None:
    res, out = run(["import math\nfrom google.colab import drive, files\n"
                    "drive.mount('/content/drive')\nOUT = math.pi",
                    "files.upload()", "from google.colab import output, userdata\n"
                    "output.enable_custom_widget_manager()\nOUT = 1"], tmp_path)
    assert "drive.mount('/content/drive') does nothing here" in out
    assert res["errors"] == ["cell 2: RuntimeError: file uploads don't work in the autograder; "
                             "read the course data from the working directory "
                             "(e.g. open('names.txt'))"]
    assert res["out"] == 1


def test_time_magics_assign_and_return_in_the_notebook_namespace(tmp_path: Path) -> None:
    res, _ = run(["def f():\n    return 21\n%time x = f()",
                  "%timeit -n 3 -r 1 y = x * 2\nz = %time y + 1",
                  "if True:\n    w = 1; get_ipython().run_line_magic('time', 'v = w + z')",
                  "%%time\nacc = 0\nfor i in range(4):\n    acc += i",
                  "%%timeit -n 1 base = 100\nt = base + acc",
                  "OUT = [x, y, z, v, acc, t]"], tmp_path)
    assert res == {"errors": [], "out": [21, 42, 43, 44, 6, 106]}


def test_capture_binds_its_output_and_runs_the_body(tmp_path: Path) -> None:
    res, out = run(["%%capture cap\nprint('hidden')\nq = 5",
                    "if True:\n    get_ipython().run_cell_magic('capture', 'c2', 'print(7)\\n')",
                    "OUT = [q, cap.stdout, c2.stdout]"], tmp_path)
    assert res == {"errors": [], "out": [5, "", "7\n"]}
    assert "7" not in out


def test_shell_escapes_never_run(tmp_path: Path) -> None:
    """`!cmd`, `x = !cmd`, %%bash and %system do nothing at all: no process is started."""
    marker = tmp_path / "ran"
    res, _ = run([f"!touch {marker}\nlisting = !touch {marker}; ls",
                  f"%%bash\ntouch {marker}", f"%system touch {marker}",
                  f"get_ipython().system('touch {marker}')",
                  "text = get_ipython().getoutput('ls', split=False)\n"
                  "OUT = [listing, listing.s, listing.n, text]"],
                 tmp_path)
    assert res == {"errors": [], "out": [[], "", "", ""]}
    assert not marker.exists()


def test_other_magics_and_help_are_no_ops(tmp_path: Path) -> None:
    res, _ = run(["%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n%pip install x\n"
                  "len?\nlen??\nimport math\n%config InlineBackend.figure_format = 'retina'",
                  "%%html\n<b>hi</b>", "IN_COLAB = 'google.colab' in str(get_ipython())\n"
                  "get_ipython().kernel.do_shutdown(True)\nOUT = IN_COLAB"], tmp_path)
    assert res == {"errors": [], "out": False}


def test_writefile_writes_inside_the_job(tmp_path: Path) -> None:
    res, _ = run(["%%writefile helper.py\nVALUE = 9\n", "%%writefile -a helper.py\nW = 1\n",
                  "OUT = open('helper.py').read()"], tmp_path)
    assert res == {"errors": [], "out": "VALUE = 9\nW = 1\n"}
    assert (tmp_path / "helper.py").read_text() == "VALUE = 9\nW = 1\n"


@pytest.mark.parametrize("filename", ["w.ipynb", "w.py"])
def test_tqdm_passes_items_through(tmp_path: Path, filename: str) -> None:
    res, _ = run(["from tqdm import tqdm, trange\nfrom tqdm.auto import tqdm as ta\n"
                  "from tqdm.notebook import tqdm as tn, tnrange",
                  "a = [i for i in tqdm(range(3), desc='x')]\nb = list(trange(2))\n"
                  "c = list(ta([5, 6])) + list(tn('ab')) + list(tnrange(1))\n"
                  "with tqdm(total=4) as bar:\n    bar.update(2)\n    bar.set_postfix(loss=1)\n"
                  "bar.unpause()\ntqdm.write('note')\nOUT = [a, b, c, bar.n, len(tqdm([1, 2]))]"],
                 tmp_path, filename=filename)
    assert res == {"errors": [], "out": [[0, 1, 2], [0, 1], [5, 6, "a", "b", 0], 2, 2]}


def test_ipywidgets_are_inert(tmp_path: Path) -> None:
    res, _ = run(["import ipywidgets as widgets\nfrom ipywidgets import interact, IntSlider",
                  "s = widgets.IntSlider(value=3, min=0)\ns.observe(print, names='value')\n"
                  "box = widgets.HBox([s, widgets.Button(description='go')])\n"
                  "@interact(k=(0, 5))\ndef show(k=2):\n    return k * 10\n"
                  "def g(a):\n    return a + 1\nh = interact(g, a=widgets.fixed(1))\n"
                  "from ipywidgets import widgets as w2\n"
                  "OUT = [s.value, len(box.children), show(), h(1), w2 is widgets]"], tmp_path)
    assert res == {"errors": [], "out": [3, 2, 20, 2, True]}


def test_an_installed_package_wins_over_its_stub(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "tqdm").mkdir(parents=True)
    (site / "tqdm" / "__init__.py").write_text("REAL = True\n")
    (site / "tqdm" / "auto.py").write_text("from tqdm import REAL\n")
    (site / "google" / "protobuf").mkdir(parents=True)  # another google.* package still imports
    (site / "google" / "protobuf" / "__init__.py").write_text("PB = 1\n")
    (site / "ipywidgets").mkdir()
    (site / "ipywidgets" / "__init__.py").write_text("raise ImportError('broken install')\n")
    res, _ = run(["import tqdm, tqdm.auto, ipywidgets, google.protobuf\n"
                  "from google.colab import drive\n"
                  "OUT = [tqdm.REAL, tqdm.auto.REAL, ipywidgets.IntSlider(value=1).value, "
                  "google.protobuf.PB, drive.__name__]"],
                 tmp_path, extra=[str(site)])
    # a broken install (ipywidgets here) falls back to the stub
    assert res == {"errors": [], "out": [True, True, 1, 1, "google.colab.drive"]}
