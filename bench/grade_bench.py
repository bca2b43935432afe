"""Grading throughput: notebooks/minute and per-notebook latency (p50/p95) per week fixture.

Usage: .venv/bin/python bench/grade_bench.py [--weeks 1 5] [--runs 20] [--data-dir DIR]
Each run is a full grade(): fresh inputs, sandbox start, the student's cells, probes, checks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import grade, source  # noqa: E402


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def bench_week(week: int, runs: int, data_dir: Path) -> dict[str, float]:
    """Grade the week's correct fixture `runs` times (after one warm-up)."""
    src = source.load(ROOT / "tests" / "fixtures" / f"week{week}" / f"week{week}.ipynb", week)
    first = grade.grade(src, data_dir, seed=0)  # warm-up: imports, page cache
    assert first.score == first.max_score, f"week {week} fixture scored {first.score}"
    lat = []
    t0 = time.perf_counter()
    for i in range(runs):
        t = time.perf_counter()
        r = grade.grade(src, data_dir, seed=i + 1)
        lat.append(time.perf_counter() - t)
        assert r.score == r.max_score, f"run {i}: {r.score}"
    wall = time.perf_counter() - t0
    return {"p50": statistics.median(lat), "p95": percentile(lat, 95), "max": max(lat),
            "per_min": runs / wall * 60}


def main() -> None:
    """Print one line per week."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weeks", type=int, nargs="+", default=[1, 5])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    a = p.parse_args()
    print(f"{'week':>4}  {'runs':>4}  {'p50 s':>7}  {'p95 s':>7}  {'max s':>7}  "
          f"{'notebooks/min':>13}")
    for w in a.weeks:
        r = bench_week(w, a.runs, Path(a.data_dir))
        print(f"{w:>4}  {a.runs:>4}  {r['p50']:7.3f}  {r['p95']:7.3f}  {r['max']:7.3f}  "
              f"{r['per_min']:13.1f}")
    print("reference point: nbgrader ~4 s per notebook on the same kind of machine (issue #2)")


if __name__ == "__main__":
    main()
