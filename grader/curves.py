"""Training curves for the report: the student's loss per step against the reference's.

Both series are computed by the grader (from what the job returned, never a loss it
reported); `curve` adds the one-line summary a student reads ("falls like the reference's",
or the step where it parts from it).

Shape (report.extras["curves"], weeks 3, 5, 6 architect and specialist): a list of
{"label": str, "steps": [int], "student": [float | None (non-finite)], "reference": [float],
"unit": "nats", "summary": str}; absent when the job returned nothing a curve can be made of.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the curves' tiny models on one thread (on a busy host, more threads spin)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _diverges(s: float, r: float, rtol: float, atol: float) -> bool:
    return not (math.isfinite(s) and abs(s - r) <= atol + rtol * abs(r))


def summary(steps: Sequence[int], student: Sequence[float], reference: Sequence[float],
            rtol: float, atol: float, who: str = "the reference's") -> str:
    """"your loss falls like the reference's (final a vs b)" or where it diverges."""
    fin = f"(final {student[-1]:.4g} vs {reference[-1]:.4g})"
    for step, s, r in zip(steps, student, reference, strict=True):
        if _diverges(s, r, rtol, atol):
            return (f"your loss diverges from {who} from step {step} ({s:.4g} vs {r:.4g}); "
                    f"final {student[-1]:.4g} vs {reference[-1]:.4g}")
    return f"your loss falls like {who} {fin}"


def versus(steps: Sequence[int], student: Sequence[float], reference: Sequence[float],
           atol: float, who: str) -> str:
    """For a model that may rightly differ (a variant against the vanilla GPT): faster, like,
    or more slowly than `who`, and from which step it falls behind."""
    fin = f"(final {student[-1]:.4g} vs {reference[-1]:.4g})"
    behind = [st for st, s, r in zip(steps, student, reference, strict=True)
              if not (math.isfinite(s) and s <= r + atol)]
    if behind:
        return f"your loss falls more slowly than {who} from step {behind[0]} {fin}"
    if student[-1] < reference[-1] - atol:
        return f"your loss falls faster than {who} {fin}"
    return f"your loss falls like {who} {fin}"


def curve(label: str, steps: Sequence[int], student: Sequence[float],
          reference: Sequence[float], *, rtol: float = 1e-3, atol: float = 1e-3,
          who: str = "the reference's", variant: bool = False) -> dict[str, Any]:
    """One curve dict of report.extras["curves"] (values in nats, rounded for the page);
    variant: the student's model may rightly differ, the summary says faster or slower."""
    st = [float(v) for v in student]
    ref = [float(v) for v in reference]
    line = versus(steps, st, ref, atol, who) if variant else summary(steps, st, ref, rtol, atol,
                                                                     who)
    return {"label": label, "steps": [int(s) for s in steps],
            "student": [round(v, 6) if math.isfinite(v) else None for v in st],
            "reference": [round(v, 6) for v in ref], "unit": "nats", "summary": line}
