"""Loop caps: training loops in every common spelling are shortened, with a note; passes over
data keep their full length (issue 11)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader import grade, sandbox, transform, weeks

CAP = 20
NOTE = f"loop(s) shortened to {CAP} steps"

SHORTENED = {  # cell: each counts its steps into n and prints them
    "range": "n = 0\nfor i in range(1000):\n    n += 1\n",
    "tqdm(range)": "from tqdm import tqdm\nn = 0\nfor i in tqdm(range(1000)):\n    n += 1\n",
    "tqdm.tqdm(range, desc)": ("import tqdm\nn = 0\n"
                              "for i in tqdm.tqdm(range(0, 1000), desc='train'):\n    n += 1\n"),
    "enumerate(range)": "n = 0\nfor j, i in enumerate(range(1000), start=1):\n    n += 1\n",
    "trange": "from tqdm import trange\nn = 0\nfor i in trange(1000, desc='x'):\n    n += 1\n",
    "trange rebound to an endless one": (
        "import itertools\ntrange = lambda *a, **k: itertools.count()\nn = 0\n"
        "for i in trange(1000):\n    n += 1\n"),
    "tqdm and enumerate rebound to endless ones": (
        "import itertools\ntqdm = enumerate = lambda *a, **k: itertools.count()\nn = 0\n"
        "for i in tqdm(range(1000)):\n    n += 1\nfor i in enumerate(range(1000)):\n"
        "    n += 1\nn = n // 2\n"),
    "while True": "n = 0\nwhile True:\n    n += 1\n",
    "while cond": "n = 0\nwhile n < 10**9:\n    n += 1\n",
    "while in a with": ("import contextlib\nn = 0\nwith contextlib.nullcontext():\n"
                        "    while n < 10**9:\n        n += 1\n"),
}
FULL = {  # cell: (code, the steps n must reach)
    "loop over X.shape[0]": ("import torch\nX = torch.zeros(64, 3)\nn = 0\n"
                             "for k in range(X.shape[0]):\n    n += 1\n", 64),
    "loop over len(words)": ("words = ['a'] * 70\nn = 0\n"
                             "for i in range(len(words)):\n    n += 1\n", 70),
    "tqdm over a size": ("from tqdm import tqdm\nX = [0] * 90\nn = 0\n"
                         "for i in tqdm(range(len(X))):\n    n += 1\n", 90),
    "while that ends by itself": ("n = 0\nwhile n < 7:\n    n += 1\nelse:\n    n += 100\n", 107),
    "while of exactly the cap": (f"n = 0\nwhile n < {CAP}:\n    n += 1\n", CAP),
    "while that breaks": "n = 0\nwhile True:\n    n += 1\n    if n == 5:\n        break\n"
                         "else:\n    n = -1\n",
    "while with continue": ("n, odd = 0, 0\nwhile n < 9:\n    n += 1\n    if n % 2:\n"
                            "        continue\n    odd += 1\nn = n + 100 * odd\n", 409),
    "nested loop": "n = 0\nfor i in range(2):\n    for j in range(300):\n        n += 1\n",
}
FULL_N = {"while that breaks": 5, "nested loop": 600}


def _run(tmp_path: Path, cells: list[str], data_dir: Path) -> tuple[str, dict]:
    job = sandbox.Job(tmp_path)
    token = grade.prepare_job(job, cells, weeks.JobSpec("week1", CAP),
                              weeks.Inputs(sandbox={}), data_dir)
    lim = sandbox.Limits(wall_s=30, memory_mb=1024)
    res = sandbox.run(job, grade.runner_argv(), lim, "bwrap", [])
    status, _, _ = grade.collect(job.out, [], res, lim, token)
    assert status, res.stderr
    return res.stdout, status


@pytest.fixture(scope="module")
def shortened(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[str, dict]:
    cells = [c + f"print('{name}:', n)\n" for name, c in SHORTENED.items()]
    return _run(tmp_path_factory.mktemp("caps"), cells, data_dir)


@pytest.mark.parametrize("name", list(SHORTENED))
def test_training_loops_are_shortened_with_a_note(shortened: tuple[str, dict],
                                                  name: str) -> None:
    out, status = shortened
    assert f"{name}: {CAP}\n" in out, out
    i = list(SHORTENED).index(name) + 1
    cell = status["cells"][i - 1]
    k = 2 if "rebound" in name and "enumerate" in name else 1
    assert cell["error"] is None and cell["shortened_loops"] == k
    assert f"[grader] cell {i}: {k} {NOTE}" in out


def test_loops_that_walk_data_or_end_keep_their_length(tmp_path: Path, data_dir: Path) -> None:
    cells = [(v if isinstance(v, str) else v[0]) + f"print('{k}:', n)\n" for k, v in FULL.items()]
    out, status = _run(tmp_path, cells, data_dir)
    for name, v in FULL.items():
        want = FULL_N.get(name) if isinstance(v, str) else v[1]
        assert f"{name}: {want}\n" in out, out
    assert all(c["error"] is None and c["shortened_loops"] == 0 for c in status["cells"])
    assert "[grader]" not in out


def test_data_sized_ranges() -> None:
    def call(src: str) -> ast.Call:
        node = ast.parse(src, mode="eval").body
        assert isinstance(node, ast.Call)
        return node

    for src in ("range(Xb.shape[0])", "range(len(X))", "range(0, x.size(0), 2)",
                "range(t.numel())", "range(t.nelement())"):
        assert transform.data_sized(call(src)), src
    for src in ("range(max_steps)", "range(200000)", "range(n)", "range(batch_size)"):
        assert not transform.data_sized(call(src)), src


def test_fills_are_subscript_stores_and_inplace_methods() -> None:
    tree = ast.parse("for k in range(3):\n    dC[ix] += demb[k]\nW.add_(1)\nx = y[0]\n"
                     "W.data += 1\nz.__setitem__(0, 1)\n")
    assert transform.fills(tree) == {"dC", "W"}
