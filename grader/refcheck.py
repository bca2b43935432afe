"""`zerograd reference-check`: each reference implementation against autograd or known facts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import torch


def _micrograd() -> str:
    from reference import micrograd as mg

    g = mg.random_graph(random.Random(0), n_leaves=12, n_ops=300)
    nodes = mg.graph_values(g, mg.Value)
    nodes[-1].backward()
    want_vals, want_grads = mg.graph_torch(g)
    n_leaf = len(g["leaf"])
    err = max(abs(v.data - w) for v, w in zip(nodes, want_vals, strict=True))
    err = max([err] + [abs(nodes[i].grad - want_grads[i]) for i in range(n_leaf)])
    assert err < 1e-9, f"max diff {err:g}"
    n41, n337 = len(mg.MLP(3, [4, 4, 1]).parameters()), len(mg.MLP(2, [16, 16, 1]).parameters())
    assert (n41, n337) == (41, 337), (n41, n337)
    return f"{len(nodes)}-node graph equals torch float64 (max diff {err:.1e}); MLP params 41/337"


def _bigram(data_dir: Path | None) -> str:
    from reference import bigram

    if data_dir is None:
        return "skipped (no data dir)"
    words = bigram.load_words(data_dir / "names.txt")
    stoi, _ = bigram.build_vocab(words)
    xs, ys = bigram.bigrams(words, stoi)
    N = bigram.count_matrix(xs, ys)
    assert int(N.sum()) == 228146 and int(N[0, 1]) == 4410, (int(N.sum()), int(N[0, 1]))
    nll = bigram.count_nll(bigram.probs_from_counts(N), N)
    assert abs(nll - 2.4546) < 1e-4, nll
    return f"N.sum()={int(N.sum())}, N[0,1]={int(N[0, 1])}, NLL(P)={nll:.4f}"


def _mlp(data_dir: Path | None) -> str:
    from reference import mlp

    counts = (mlp.count_params(*mlp.bengio_mlp()), mlp.count_params(*mlp.bn_mlp()))
    assert counts == (11897, 12097), counts
    msg = f"params {counts[0]:,} / {counts[1]:,}"
    if data_dir is not None:
        words = (data_dir / "names.txt").read_text().splitlines()
        sizes = tuple(s[0].shape[0] for s in mlp.lecture_splits(words).values())
        assert sizes == (182625, 22655, 22866), sizes
        msg += f"; split {sizes}"
    return msg


def _backprop() -> str:
    from reference import backprop as bp

    g = torch.Generator().manual_seed(42)
    p = bp.init_params(generator=g, dtype=torch.float64)
    Xb = torch.randint(0, 27, (32, 3), generator=g)
    Yb = torch.randint(0, 27, (32,), generator=g)
    f = bp.forward(p, Xb, Yb)
    manual, auto = bp.backward(p, f, Xb, Yb), bp.autograd(p, Xb, Yb)
    worst = max((manual[k] - auto[k]).abs().max().item() for k in bp.GRAD_NAMES)
    assert worst < 1e-8, worst
    return f"{len(bp.GRAD_NAMES)} manual gradients equal autograd (max diff {worst:.1e})"


def _wavenet() -> str:
    from reference import wavenet

    n = sum(p.nelement() for p in wavenet.hierarchical().parameters())
    assert n == 76579, n
    return f"lecture WaveNet has {n:,} params"


def _gpt() -> str:
    from reference import gpt

    n = gpt.num_params(gpt.GPTLanguageModel(gpt.GPTConfig()))
    assert n == 10_788_929, n
    return f"lecture GPT has {n:,} params"


def checks(data_dir: Path | None) -> list[tuple[str, Callable[[], str]]]:
    """Every reference self-check, named."""
    return [
        ("micrograd", _micrograd), ("bigram", lambda: _bigram(data_dir)),
        ("mlp", lambda: _mlp(data_dir)), ("backprop", _backprop), ("wavenet", _wavenet),
        ("gpt", _gpt),
    ]


def run(data_dir: Path | None = None, out: Callable[[str], None] = print) -> bool:
    """Run and print every check; True when all pass."""
    torch.backends.cuda.matmul.allow_tf32 = False
    ok = True
    for name, fn in checks(data_dir):
        t0 = time.perf_counter()
        try:
            msg, mark = fn(), "ok  "
        except Exception as e:  # noqa: BLE001 - report every failing check
            msg, mark, ok = f"{e.__class__.__name__}: {e}", "FAIL", False
        out(f"{mark} {name:10s} {msg}  ({time.perf_counter() - t0:.2f} s)")
    return ok
