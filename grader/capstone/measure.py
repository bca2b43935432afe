"""Trusted-side measurement: step times from timestamped progress lines, throughput, MFU."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

# Dense peak FLOP/s by device-name substring: (16-bit tensor-core peak, fp32 peak).
# The benchmark runs under bf16 autocast on CUDA (fp16 on a T4), so MFU uses the 16-bit peak.
PEAK_FLOPS: dict[str, tuple[float, float]] = {
    "H200": (989e12, 67e12),
    "H100": (989e12, 67e12),  # SXM; the PCIe card is lower (756e12)
    "A100": (312e12, 19.5e12),
    "L4": (121e12, 30.3e12),
    "T4": (65e12, 8.1e12),
}


def peak_flops(device_name: str) -> float | None:
    """Peak FLOP/s of a CUDA device by name; None for CPU or an unknown card (no MFU)."""
    if device_name == "cpu":
        return None
    for key, (half, _) in PEAK_FLOPS.items():
        if key in device_name.upper():
            return half
    return None


class ChannelError(ValueError):
    """The progress lines are not exactly the expected step reports."""


def step_times(lines: list[tuple[float, str]], runs: int, steps: int) -> np.ndarray:
    """(runs, steps) durations of the "zg RUN STEP" reports, which must come exactly in order."""
    want = [f"zg {r} {s}" for r in range(runs) for s in range(steps)]
    got = [text for _, text in lines]
    if got != want:
        extra = len(got) - len(want)
        first = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
                     min(len(got), len(want)))
        raise ChannelError(
            f"the timing channel carried {len(got)} step reports, expected {len(want)} in order "
            f"({'+' if extra >= 0 else ''}{extra}; first difference at report {first}). Step "
            "reports come only from the grader's training loop: a notebook that writes to it "
            "or that trains in a background thread gets no benchmark")
    return np.array([t for t, _ in lines], dtype=np.float64).reshape(runs, steps)


@dataclass
class RunStats:
    """One seed's timing after warm-up."""

    ms_per_iter: float  # mean
    tokens_per_s: float


def run_stats(durations: np.ndarray, warmup: int, tokens_per_step: int) -> list[RunStats]:
    """Mean step time of steps warmup..end of each run.

    The mean, not the median: a job can only shift work between its own turns (it is frozen
    outside them), which moves a median but not the total.
    """
    out = []
    for row in durations:
        dt = float(np.mean(row[warmup:]))
        out.append(RunStats(dt * 1e3, tokens_per_step / dt if dt > 0 else math.inf))
    return out


def mean_std(xs: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def cv(xs: list[float]) -> float:
    """Coefficient of variation: std / mean."""
    m, s = mean_std(xs)
    return s / m if m else math.inf


def mfu(flops_per_token: float, tokens_per_s: float, device_name: str) -> float | None:
    """Achieved FLOP/s over the device's peak, or None without a known peak."""
    peak = peak_flops(device_name)
    return None if peak is None else flops_per_token * tokens_per_s / peak
