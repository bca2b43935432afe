"""Store a GradeReport's measured figures as `benchmark` rows (the leaderboard's source)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.models import Benchmark

MAX_ROWS = 500


def _clean(row: Any) -> Benchmark | None:
    """A Benchmark from one report dict, or None when it is malformed or not finite."""
    if not isinstance(row, dict):
        return None
    try:
        value = float(row["value"])
        seed = row.get("seed")
        seed = None if seed is None else int(seed)
    except (KeyError, TypeError, ValueError):
        return None
    track, metric = str(row.get("track", ""))[:100], str(row.get("metric", ""))[:100]
    if not math.isfinite(value) or not track or not metric:
        return None
    return Benchmark(track=track, metric=metric, value=value,
                     unit=str(row.get("unit", ""))[:32], device=str(row.get("device", "cpu"))[:100],
                     seed=seed, torch_version=str(row.get("torch", ""))[:40],
                     cuda_version=str(row.get("cuda", ""))[:40])


def record_benchmarks(session: Session, submission_id: str, report_dict: dict[str, Any]) -> int:
    """Replace the submission's benchmark rows with the report's; the number stored.

    Call inside the transaction that stores the report, so a superseded attempt stores none.
    """
    session.execute(delete(Benchmark).where(Benchmark.submission_id == submission_id))
    rows = [b for b in map(_clean, (report_dict.get("benchmarks") or [])[:MAX_ROWS]) if b]
    for b in rows:
        b.submission_id = submission_id
    session.add_all(rows)
    return len(rows)
