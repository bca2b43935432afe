"""GradeReport: the result of grading one submission, as JSON and Gradescope results.json."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

GRADER_VERSION = "0.1.0"

STATUS_GRADED = "graded"  # checks ran; the score stands
STATUS_STUDENT_ERROR = "student_error"  # crashed, timed out, too much memory/output
STATUS_GRADER_ERROR = "grader_error"  # our fault: "autograder failed"


def strict_json(obj: Any) -> Any:
    """obj with every non-finite float replaced by its name, so strict JSON (Postgres) takes it."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    return obj


@dataclass
class CheckResult:
    """One check's verdict."""

    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    duration_s: float
    description: str = ""
    bonus: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class GradeReport:
    """Everything a student and an instructor see about one grading."""

    week: int
    title: str
    status: str
    score: float
    max_score: float
    checks: list[CheckResult] = field(default_factory=list)
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    cell_errors: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    sandbox: dict[str, Any] = field(default_factory=dict)
    grader_version: str = GRADER_VERSION
    # measured figures for the `benchmark` table / leaderboard: dicts with track, metric,
    # value, unit, device, seed (None for aggregates); empty unless every figure is trusted
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. week-6 heatmaps and samples
    staff_traceback: str | None = None  # grader faults only; never shown to students

    def to_dict(self, staff: bool = True) -> dict[str, Any]:
        """Plain, strict-JSON dict (NaN/inf become strings); staff=False drops the traceback."""
        d = strict_json(asdict(self))
        if not staff:
            d.pop("staff_traceback")
        return d

    def to_json(self, staff: bool = True) -> str:
        """JSON text."""
        return json.dumps(self.to_dict(staff), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GradeReport:
        """Inverse of to_dict."""
        d = dict(d)
        d["checks"] = [CheckResult(**c) for c in d.get("checks", [])]
        return cls(**d)

    def to_gradescope(self) -> dict[str, Any]:
        """Gradescope autograder results.json: the same feedback as the CLI and the web page."""
        from grader import feedback

        fb = feedback.build(self.to_dict(staff=False))
        tests = [
            {"name": c.name + (" (optional)" if c.optional else ""), "score": c.points,
             "max_score": c.max_points, "status": "passed" if c.passed else "failed",
             "output": c.detail() if not c.passed else c.summary, "visibility": "visible"}
            for c in fb.checks
        ]
        output = "\n\n".join(feedback.text_blocks(fb))
        if self.stdout:
            output += "\n\nYour notebook printed:\n" + self.stdout
        return {"score": self.score, "execution_time": round(self.timings.get("total", 0.0), 3),
                "output": output.strip(), "tests": tests, "stdout_visibility": "visible"}
