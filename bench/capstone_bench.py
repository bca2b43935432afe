"""Week-6 Architect benchmark figures: reference RoPE and SwiGLU variants vs the vanilla GPT.

    .venv/bin/python bench/capstone_bench.py              # CPU (and CUDA when present)
    .venv/bin/python bench/capstone_bench.py --grade 3    # + grade the fixture notebook 3 times

Each variant is paired with the vanilla GPT exactly as in grading: the same loop
(grader/probes/capstone_common.train_runs), the two trainers taking single steps in turn under
grader.turns.Referee, on one CPU core. Here both are threads of this process (trusted
reference code only); --grade runs the real thing, two sandboxed jobs. Prints per variant:
tokens/s (mean ± std over seeds and repeats), its ratio to vanilla, held-out loss at the step
budget, the run-to-run spread (CV over --repeats of the tokens/s and of the ratio), and the
ratio over the whole run (every turn: build, steps, probe, held-out logits), which grading
requires to stay within grader.capstone.verify.WHOLE_RUN_GAIN of the timed-step ratio.
The vanilla-vs-vanilla row checks the method itself (its ratio should be 1).
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.capstone import inputs as capinputs  # noqa: E402
from grader.capstone import measure  # noqa: E402
from grader.probes.capstone_common import Channel, train_runs  # noqa: E402
from grader.turns import Referee  # noqa: E402
from reference.capstone import cross_entropy  # noqa: E402
from reference.gpt_variants import GPTVariant, VariantConfig  # noqa: E402

VARIANTS = {"vanilla": {}, "rope": {"rope": True}, "swiglu": {"swiglu": True},
            "rope+swiglu": {"rope": True, "swiglu": True}}
Figures = tuple[list[float], list[float], list[float], list[float]]  # per seed: tokens/s,
# ratio over the timed steps, val loss, ratio over the whole run (every turn)


class ThreadSide(Channel):
    """A trainer thread the Referee hands turns to (a Side): train_runs' own channel, with the
    pipes replaced by a queue (its step reports) and a semaphore (its turns)."""

    def __init__(self) -> None:
        self.fd = self.gate = None
        self.arrivals: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.turns = threading.Semaphore(0)
        self.closed = False
        self.out: dict[str, torch.Tensor] = {}
        self.what = b"g"

    def go(self, what: bytes = b"g") -> float:
        t = time.monotonic()
        self.what = what
        self.turns.release()
        return t

    def close_gate(self, free_turns: int = 0) -> None:
        self.closed = True
        self.turns.release()

    def pause(self) -> None:  # the other trainer waits on its semaphore anyway
        pass

    def resume(self) -> None:
        pass

    def _write(self, text: str) -> None:
        self.arrivals.put((time.monotonic(), text))

    def wait(self, run: int, step: int) -> bytes:
        self.turns.acquire()
        if self.closed:
            raise RuntimeError("the referee ended the benchmark")
        return self.what

    def train(self, cfg: VariantConfig, inputs: dict[str, np.ndarray]) -> threading.Thread:
        """Start training in a thread; it says when it has ended."""
        def body() -> None:
            try:
                self.out = train_runs(lambda: GPTVariant(cfg), inputs, self)[0]
            finally:
                self.arrivals.put(None)
        t = threading.Thread(target=body, daemon=True)
        t.start()
        return t


def config(inputs: dict[str, np.ndarray], flags: dict[str, bool]) -> VariantConfig:
    V, T, C, H, L = (int(v) for v in inputs["cfg"])
    return VariantConfig(vocab_size=V, block_size=T, n_embd=C, n_head=H, n_layer=L,
                         dropout=0.0, **flags)


def paired(inputs: capinputs.JobInputs, flags: dict[str, bool]) -> Figures:
    """One refereed run of a variant against vanilla: per-seed tokens/s, ratio, val loss."""
    steps, B = inputs["b_train_x"].shape[:2]
    T, R, warm = int(inputs["cfg"][1]), len(inputs["b_seeds"]), int(inputs["b_warmup"][0])
    a, b = ThreadSide(), ThreadSide()
    ta = a.train(config(inputs, flags), inputs)
    ref = Referee(a, lambda: (b, b.train(config(inputs, {}), inputs)), R, steps).start()
    ref.result()
    ta.join()
    if ref.violation is not None:
        raise RuntimeError(str(ref.violation))
    mine, van = (measure.run_stats(measure.step_times(ref.durations[k], R, steps), warm, B * T)
                 for k in ("a", "b"))
    y = torch.from_numpy(capinputs.hidden(inputs, "b_val_y"))
    val = [cross_entropy(lg, y) for lg in a.out["val_logits"]]
    whole = [b / a for a, b in zip(ref.busy["a"], ref.busy["b"], strict=True)]
    return ([s.tokens_per_s for s in mine],
            [x.tokens_per_s / v.tokens_per_s for x, v in zip(mine, van, strict=True)], val, whole)


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
          f"{repeats} repeats, each paired with vanilla step by step on one core")
    runs: dict[str, list[Figures]] = {k: [] for k in VARIANTS}
    for _ in range(repeats):
        for name, flags in VARIANTS.items():
            runs[name].append(paired(inputs, flags))
    print(f"{'variant':12s} {'tokens/s':>18s} {'ratio vs vanilla':>17s} {'val loss':>17s} "
          f"{'CV tokens/s':>11s} {'CV ratio':>8s} {'whole-run ratio':>16s}")
    for name in VARIANTS:
        tps, ratio, val, whole = ([x for r in runs[name] for x in r[i]] for i in range(4))
        cv_t = measure.cv([statistics.fmean(r[0]) for r in runs[name]])
        cv_r = measure.cv([statistics.fmean(r[1]) for r in runs[name]])
        print(f"{name:12s} {fmt(tps, ',.0f'):>18s} {fmt(ratio, '.3f'):>17s} "
              f"{fmt(val):>17s} {cv_t:>11.1%} {cv_r:>8.1%} {fmt(whole, '.3f'):>16s}")


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
    cv, cv_r = measure.cv(tps), measure.cv(ratio)
    print(f"over {n} gradings: tokens/s {fmt(tps, ',.0f')}, CV {cv:.1%} "
          f"({'within' if cv <= 0.05 else 'OVER'} 5%); ratio {fmt(ratio, '.3f')}, CV {cv_r:.1%} "
          f"({'within' if cv_r <= 0.05 else 'OVER'} 5%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grade", type=int, default=0, help="also grade the fixture N times")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core, as in grading
    report(False, args.repeats, args.data_dir)
    if torch.cuda.is_available():
        report(True, args.repeats, args.data_dir)
    if args.grade:
        grade_repeats(args.grade, args.data_dir)


if __name__ == "__main__":
    main()
