"""Comparison helpers, the Check specification and the context every check reads.

Fault attribution: a check's verdict on the student's arrays is raised as CheckFailed. Every
array the job returned is a `Claim`: its own conversions and lookups (float(), int(), [i],
reshape) raise CheckFailed when it is malformed; the Ctx accessors validate shapes and
finiteness; `on_student_data` turns whatever the grader's computation on claims raises into
CheckFailed. Any other exception is a bug in the grader: run_check raises GraderFault and the
whole report becomes "autograder failed".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.sandbox import Limits

if TYPE_CHECKING:
    from grader.capstone.trusted import Pairing


class CheckFailed(Exception):
    """Raised inside a check to fail it with a student-readable message."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class GraderFault(Exception):
    """A check's own code raised: the grader's bug, never the student's lost point."""


class Claim(np.ndarray):
    """An array the job returned: when malformed, its own operations fail the check."""

    what: str = "a result"

    def __array_finalize__(self, obj: Any) -> None:
        self.what = getattr(obj, "what", "a result")

    def _one(self) -> Any:
        if self.size != 1:
            raise CheckFailed(f"{self.what} should be one number, got shape {tuple(self.shape)}")
        return np.ndarray.item(self)

    def __float__(self) -> float:
        return float(self._one())

    def __int__(self) -> int:
        v = self._one()
        if isinstance(v, float) and not math.isfinite(v):
            raise CheckFailed(f"{self.what} is {v}, expected a whole number")
        return int(v)

    def __index__(self) -> int:
        if self.dtype.kind not in "biu":
            raise CheckFailed(f"{self.what} should be an integer, got dtype {self.dtype}")
        return int(self)

    def __bool__(self) -> bool:
        return bool(self._one())

    def __getitem__(self, key: Any) -> Any:
        try:
            return super().__getitem__(key)
        except IndexError as e:
            raise CheckFailed(f"{self.what}: {e} (shape {tuple(self.shape)})") from e

    def __iter__(self) -> Iterator[Any]:
        if self.ndim == 0:
            raise CheckFailed(f"{self.what} should be a sequence, got one number")
        get = super().__getitem__  # not self[i]: iteration must not end in CheckFailed
        return (get(i) for i in range(self.shape[0]))

    def reshape(self, *shape: Any, **kw: Any) -> Any:  # type: ignore[override]
        try:
            return super().reshape(*shape, **kw)
        except ValueError as e:
            raise CheckFailed(f"{self.what}: shape {tuple(self.shape)} cannot be reshaped to "
                              f"{shape[0] if len(shape) == 1 else shape}") from e


def claim(a: np.ndarray, what: str) -> Claim:
    """The job's array `a` as a Claim named `what` (e.g. "params: count")."""
    c = np.asanyarray(a).view(Claim)
    c.what = what
    return c


@dataclass
class Outcome:
    """What one check decided."""

    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runtime:
    """How this grading ran the job (trusted facts, never reported by the job)."""

    backend: str = "bwrap"
    gpu: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    paired: Pairing | None = None  # week 6: the referee and the trusted vanilla baseline
    killed: str | None = None  # why the sandbox stopped the job, if it did


Shape = tuple[int | None, ...]  # None: any length on that axis


@dataclass
class Ctx:
    """Everything a check may look at, by provenance.

    inputs:  what the job was given (inputs.npz), grader-chosen and fresh;
    trusted: grader-chosen data the job never saw (held-out targets, expected answers);
    outputs: the job's claims, probe -> arrays (numeric, size-bounded; nothing else vetted).
    """

    inputs: dict[str, np.ndarray]
    outputs: dict[str, dict[str, np.ndarray]]
    errors: dict[str, str]  # probe -> why it produced nothing
    data_dir: Any = None  # the course data directory (a Path)
    trusted: Mapping[str, Any] = field(default_factory=dict)
    runtime: Runtime = field(default_factory=Runtime)
    _memo: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.outputs = {p: {k: claim(a, f"{p}: {k}") for k, a in arrays.items()}
                        for p, arrays in self.outputs.items()}

    def out(self, probe: str) -> dict[str, np.ndarray]:
        """The arrays of one probe, or fail the check with the probe's error."""
        if probe in self.outputs:
            return self.outputs[probe]
        raise CheckFailed(self.errors.get(probe, f"{probe}: no result was produced"))

    def arr(self, probe: str, key: str, shape: Shape | None = None, *,
            finite: bool = False) -> np.ndarray:
        """One array of one probe; with shape/finite, validated (else the check fails)."""
        got = self.out(probe)
        if key not in got:
            raise CheckFailed(f"{probe}: result {key!r} is missing")
        a = got[key]
        if shape is not None and (a.ndim != len(shape) or any(
                w is not None and g != w for g, w in zip(a.shape, shape, strict=True))):
            want = tuple("any" if w is None else w for w in shape)
            raise CheckFailed(f"{probe}: {key} has shape {tuple(a.shape)}, expected {want}",
                              got_shape=list(a.shape))
        if finite and not np.all(np.isfinite(a)):
            raise CheckFailed(f"{probe}: {key} contains NaN or infinity")
        return a

    def scalar(self, probe: str, key: str) -> float:
        """A one-element result as a float (any shape holding exactly one number)."""
        a = self.arr(probe, key)
        if a.size != 1:
            raise CheckFailed(f"{probe}: {key} should be one number, got shape {tuple(a.shape)}")
        return float(a.reshape(-1)[0])

    def memo(self, key: str, fn: Callable[[], Any]) -> Any:
        """Compute a trusted reference value (or a measurement) once per grading."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


@contextmanager
def on_student_data(what: str) -> Iterator[None]:
    """Grader code fed with the student's arrays: whatever it raises fails this check."""
    try:
        yield
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001 - malformed claims can make torch/numpy raise anything
        raise CheckFailed(f"{what}: could not be checked ({e.__class__.__name__}: {e})") from e


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
    """A numeric float64 array (a Claim stays one), or fail with a clear message."""
    arr = np.asanyarray(a)
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
        g, w = as_float(got, what).ravel(), as_float(want, what).ravel()
        bad = np.flatnonzero(~np.isclose(g, w, rtol=rtol, atol=atol))[:3]  # NaN differs too
        sample = (f"; first differing at flat index {bad.tolist()}: got {g[bad].tolist()} "
                  f"expected {w[bad].tolist()}") if bad.size else ""
        raise CheckFailed(f"{what}: values differ (max abs diff {c.maxdiff:.3g}, "
                          f"tolerance rtol={rtol:g} atol={atol:g}){sample}", maxdiff=c.maxdiff)
    return c.line(what)


def expect(cond: bool, message: str, **details: Any) -> None:
    """Fail the check with message unless cond holds."""
    if not cond:
        raise CheckFailed(message, **details)


def run_check(spec: CheckSpec, ctx: Ctx) -> Outcome:
    """Run one check: CheckFailed fails it; anything else raised is a GraderFault."""
    try:
        msg = spec.fn(ctx)
        return Outcome(True, msg or "ok")
    except CheckFailed as e:
        return Outcome(False, e.message, {k: _jsonable(v) for k, v in e.details.items()})
    except Exception as e:
        raise GraderFault(f"check {spec.name!r} raised in the grader's own code: "
                          f"{e.__class__.__name__}: {e}") from e


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
