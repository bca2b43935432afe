"""Week-6 Architect benchmark figures: reference RoPE and SwiGLU variants vs the vanilla GPT.

    .venv/bin/python bench/capstone_bench.py              # CPU (and CUDA when present)
    .venv/bin/python bench/capstone_bench.py --grade 3    # + grade the fixture notebook 3 times

Prints, per variant: tokens/s (mean ± std over seeds), its ratio to vanilla (mean ± std over
seeds), held-out loss at the step budget, and the run-to-run spread (CV of the seed-median
tokens/s over --repeats repeats). Same loop as grading (grader/probes/capstone_common.py),
timed in-process here (trusted reference code only); --grade times through the sandbox.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.capstone import inputs as capinputs  # noqa: E402
from grader.capstone import measure  # noqa: E402
from grader.probes.capstone_common import train_runs  # noqa: E402
from reference.capstone import cross_entropy  # noqa: E402
from reference.gpt_variants import GPTVariant, VariantConfig  # noqa: E402

VARIANTS = {"vanilla": {}, "rope": {"rope": True}, "swiglu": {"swiglu": True},
            "rope+swiglu": {"rope": True, "swiglu": True}}


class Clock:
    """A progress channel that records perf_counter per step (in-process, trusted code)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def step(self, run: int, step: int) -> None:
        self.lines.append((time.perf_counter(), f"zg {run} {step}"))


def one(inputs: dict[str, np.ndarray], flags: dict[str, bool]) -> tuple[list[float], list[float]]:
    """(tokens/s per seed, val loss per seed) of one variant."""
    V, T, C, H, L = (int(v) for v in inputs["cfg"])
    cfg = VariantConfig(vocab_size=V, block_size=T, n_embd=C, n_head=H, n_layer=L, dropout=0.0,
                        **flags)
    clock = Clock()
    arrays, _ = train_runs(lambda: GPTVariant(cfg), inputs, clock)
    steps, B = inputs["b_train_x"].shape[:2]
    times = measure.step_times(clock.lines, len(inputs["b_seeds"]), steps)
    stats = measure.run_stats(times, int(inputs["b_warmup"][0]), B * T)
    y = torch.from_numpy(inputs["b_val_y"])
    val = [cross_entropy(lg, y) for lg in arrays["val_logits"]]
    return [s.tokens_per_s for s in stats], val


def fmt(xs: list[float], f: str = ".4f") -> str:
    m, s = measure.mean_std(xs)
    return f"{m:{f}} ± {s:{f}}"


def report(on_gpu: bool, repeats: int, data_dir: Path) -> None:
    """Print the table for one device."""
    inputs = capinputs.make_job_inputs(np.random.default_rng(0), data_dir, None, on_gpu)
    dev = "cuda" if on_gpu else "cpu"
    print(f"\n== {dev}: config {inputs['cfg'].tolist()} (V,T,C,H,L), batch "
          f"{inputs['b_train_x'].shape[1]}, {inputs['b_train_x'].shape[0]} steps "
          f"({int(inputs['b_warmup'][0])} warm-up), {len(inputs['b_seeds'])} seeds, "
          f"{repeats} repeats")
    runs: dict[str, list[tuple[list[float], list[float]]]] = {k: [] for k in VARIANTS}
    for _ in range(repeats):  # interleave variants so machine load hits all alike
        for name, flags in VARIANTS.items():
            runs[name].append(one(inputs, flags))
    print(f"{'variant':12s} {'tokens/s':>20s} {'ratio vs vanilla':>18s} {'val loss':>18s} "
          f"{'CV repeats':>10s}")
    for name in VARIANTS:
        tps = [x for r in runs[name] for x in r[0]]
        ratio = [a / b for r, v in zip(runs[name], runs["vanilla"], strict=True)
                 for a, b in zip(r[0], v[0], strict=True)]
        val = [x for r in runs[name] for x in r[1]]
        per_repeat = [statistics.median(r[0]) for r in runs[name]]
        print(f"{name:12s} {fmt(tps, ',.0f'):>20s} {fmt(ratio, '.3f'):>18s} "
              f"{fmt(val):>18s} {measure.cv(per_repeat):>9.1%}")


def grade_repeats(n: int, data_dir: Path) -> None:
    """Grade the Architect fixture n times through the sandbox; CV of its tokens/s."""
    from grader import grade, source

    nb = (ROOT / "tests" / "fixtures" / "week6" / "week6_architect.ipynb").read_bytes()
    tps, ratio = [], []
    for i in range(n):
        r = grade.grade(source.from_bytes(nb, "week6.ipynb", 6), data_dir, seed=1)
        rows = {(b["metric"], b["seed"]): b["value"] for b in r.benchmarks}
        tps.append(rows[("tokens_per_s", None)])
        ratio.append(rows[("speed_ratio", None)])
        print(f"grade {i + 1}: score {r.score:g}, tokens/s {tps[-1]:,.0f} ± "
              f"{rows[('tokens_per_s_std', None)]:,.0f}, ratio {ratio[-1]:.3f} ± "
              f"{rows[('speed_ratio_std', None)]:.3f}, {r.timings['total']:.1f} s")
    cv = measure.cv(tps)
    print(f"tokens/s over {n} gradings: {fmt(tps, ',.0f')}, CV {cv:.1%} "
          f"({'within' if cv <= 0.05 else 'OVER'} 5%); ratio {fmt(ratio, '.3f')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grade", type=int, default=0, help="also grade the fixture N times")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    torch.set_num_threads(1)
    report(False, args.repeats, args.data_dir)
    if torch.cuda.is_available():
        report(True, args.repeats, args.data_dir)
    if args.grade:
        grade_repeats(args.grade, args.data_dir)


if __name__ == "__main__":
    main()
