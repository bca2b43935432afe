"""Comparison helpers and the Check specification used by every week."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class CheckFailed(Exception):
    """Raised inside a check to fail it with a student-readable message."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass
class Outcome:
    """What one check decided."""

    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ctx:
    """Everything a check may look at: the grader's inputs and the sandbox's raw outputs."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, dict[str, np.ndarray]]
    errors: dict[str, str]  # probe -> why it produced nothing
    data_dir: Any = None
    cache: dict[str, Any] = field(default_factory=dict)

    def out(self, probe: str) -> dict[str, np.ndarray]:
        """The arrays of one probe, or fail the check with the probe's error."""
        if probe in self.outputs:
            return self.outputs[probe]
        raise CheckFailed(self.errors.get(probe, f"{probe}: no result was produced"))

    def arr(self, probe: str, key: str) -> np.ndarray:
        """One array of one probe."""
        got = self.out(probe)
        if key not in got:
            raise CheckFailed(f"{probe}: result {key!r} is missing")
        return got[key]

    def memo(self, key: str, fn: Callable[[], Any]) -> Any:
        """Compute a reference value once per grading."""
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]


@dataclass(frozen=True)
class CheckSpec:
    """A named check worth `points`; `fn` raises CheckFailed or returns a message."""

    name: str
    points: float
    fn: Callable[[Ctx], str | None]
    description: str = ""
    bonus: bool = False  # reported, worth 0 points


@dataclass
class Cmp:
    """The lecture's cmp(): exact / approx / maxdiff."""

    exact: bool
    approx: bool
    maxdiff: float

    def line(self, name: str) -> str:
        """One line in the lecture's format."""
        return (f"{name:15s} | exact: {self.exact!s:5} | approximate: {self.approx!s:5} | "
                f"maxdiff: {self.maxdiff:.3g}")


def as_float(a: Any, what: str) -> np.ndarray:
    """A numeric float64 array, or fail with a clear message."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise CheckFailed(f"{what}: expected numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def cmp(got: Any, want: Any, what: str, rtol: float = 1e-6, atol: float = 1e-6,
        reshape: bool = False) -> Cmp:
    """Compare arrays like the lecture's cmp; shape mismatch fails the check."""
    g, w = as_float(got, what), as_float(want, what)
    if g.shape != w.shape:
        if reshape and g.size == w.size:
            g = g.reshape(w.shape)
        else:
            raise CheckFailed(f"{what}: shape {tuple(g.shape)} but expected {tuple(w.shape)}",
                              got_shape=list(g.shape), want_shape=list(w.shape))
    if not np.all(np.isfinite(g)):
        return Cmp(False, False, float("inf"))
    maxdiff = float(np.max(np.abs(g - w))) if g.size else 0.0
    return Cmp(bool(np.array_equal(g, w)), bool(np.allclose(g, w, rtol=rtol, atol=atol)), maxdiff)


def expect_close(got: Any, want: Any, what: str, rtol: float = 1e-6, atol: float = 1e-6,
                 reshape: bool = False) -> str:
    """Pass (returning the cmp line) or fail with expected/got and the max abs diff."""
    c = cmp(got, want, what, rtol, atol, reshape)
    if not c.approx:
        g, w = np.asarray(got).ravel(), np.asarray(want).ravel()
        sample = f"; e.g. got {g[:3].tolist()} expected {w[:3].tolist()}" if g.size else ""
        raise CheckFailed(f"{what}: values differ (max abs diff {c.maxdiff:.3g}, "
                          f"tolerance rtol={rtol:g} atol={atol:g}){sample}", maxdiff=c.maxdiff)
    return c.line(what)


def expect(cond: bool, message: str, **details: Any) -> None:
    """Fail the check with message unless cond holds."""
    if not cond:
        raise CheckFailed(message, **details)


def run_check(spec: CheckSpec, ctx: Ctx) -> Outcome:
    """Run one check; CheckFailed and numeric errors from student data fail it."""
    try:
        msg = spec.fn(ctx)
        return Outcome(True, msg or "ok")
    except CheckFailed as e:
        return Outcome(False, e.message, {k: _jsonable(v) for k, v in e.details.items()})
    except (ValueError, TypeError, IndexError, KeyError, FloatingPointError) as e:
        # malformed numbers from the sandbox (wrong shapes/types) are the student's fault
        return Outcome(False, f"result could not be checked: {e.__class__.__name__}: {e}")


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
