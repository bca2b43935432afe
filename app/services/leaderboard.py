"""The capstone leaderboard: per-track ranks by the track's own measure, human labels and
units, each row's provenance; opt-in pseudonyms for the student-facing board."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import AppError
from app.models import Benchmark, Student, Submission

VANILLA = "vanilla_"


@dataclass(frozen=True)
class Measure:
    """A metric as people read it."""

    label: str
    unit: str
    higher_is_better: bool = True


MEASURES = {
    "speed_ratio": Measure("Speed ratio", "× vanilla"),
    "whole_run_ratio": Measure("Whole-run ratio", "× vanilla"),
    "tokens_per_s": Measure("Throughput", "tokens/s"),
    "ms_per_iter": Measure("Step time", "ms/iter", False),
    "val_loss": Measure("Held-out loss", "nats/char", False),
    "run_s": Measure("Whole run", "s", False),
    "mfu": Measure("MFU", "%"),
    "val_loss_gain": Measure("Gain over unigram", "nats/char"),
    "unigram_loss": Measure("Unigram baseline", "nats/char", False),
}
# each track's own measure ranks it; its columns, in order (others follow by name)
RANK_BY = {"architect": "speed_ratio", "specialist": "val_loss_gain"}
ORDER = {"architect": ["speed_ratio", "whole_run_ratio", "tokens_per_s", "ms_per_iter",
                       "val_loss", "run_s", "mfu"],
         "specialist": ["val_loss_gain", "val_loss", "unigram_loss"]}
TRACK_TITLES = {"architect": "Architect: training speed against the vanilla GPT",
                "specialist": "Specialist: held-out loss on your own corpus"}
PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{1,38}[A-Za-z0-9]$")

Stat = tuple[float, float, int]  # mean, std, n


@dataclass
class Column:
    """A leaderboard column: a metric with its vanilla counterpart when there is one."""

    key: str
    label: str
    unit: str
    has_vanilla: bool


@dataclass
class Entry:
    """One student's newest capstone entry on a track."""

    login: str
    pseudonym: str | None
    student_id: int
    device: str
    submission_id: str
    stats: dict[str, Stat] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    torch: str = ""
    cuda: str = ""
    grader: str = ""
    commit: str = ""
    rank: int = 0


@dataclass
class Board:
    """One track's table."""

    track: str
    title: str
    rank_by: str
    columns: list[Column]
    entries: list[Entry]


def fmt(v: float, spread: bool = False) -> str:
    """A figure without exponent notation: thousands separated, else 4 (spread: 2) digits."""
    if not math.isfinite(v):
        return "—"
    if abs(v) >= (10 if spread else 1000):
        return f"{v:,.0f}"
    if v and abs(v) < 1e-3:
        return "< 0.001" if spread else f"{v:.6f}".rstrip("0")
    return f"{v:.2g}" if spread else f"{v:.4g}"


def measure(key: str) -> Measure:
    """The metric's label and unit (its own name when it is unknown)."""
    return MEASURES.get(key, Measure(key.replace("_", " "), ""))


def _columns(track: str, metrics: set[str]) -> list[Column]:
    base = {m.removeprefix(VANILLA) for m in metrics}
    order = ORDER.get(track, [])
    keys = [k for k in order if k in base] + sorted(base - set(order))
    return [Column(k, measure(k).label, measure(k).unit, VANILLA + k in metrics) for k in keys]


def _rows(session: Session) -> Any:
    return session.execute(
        select(Benchmark.track, Student.github_login, Student.pseudonym, Student.id,
               Benchmark.device, Benchmark.metric, Benchmark.value, Benchmark.seed,
               Submission.id, Benchmark.torch_version, Benchmark.cuda_version,
               Submission.grader_version, Submission.commit_sha)
        .join(Submission, Submission.id == Benchmark.submission_id)
        .join(Student, Student.id == Submission.student_id)
        .where(Submission.status == "graded")
        .order_by(Submission.received_at, Submission.finished_at, Benchmark.id))


def _std(v: list[float]) -> float:
    if len(v) < 2:
        return 0.0
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def _collect(session: Session) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    raw: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for (track, login, pseud, sid_, device, metric, value, seed, sid, tv, cv, gv,
         sha) in _rows(session):
        if metric.endswith("_std"):
            continue  # the spread is recomputed from the per-seed rows
        e = raw.setdefault(track, {}).setdefault((login, device), {"sid": sid, "m": {}, "s": {}})
        if e["sid"] != sid:  # a newer submission (or regrade) replaces the older figures
            e.update(sid=sid, m={}, s={})
        e.update(entry=Entry(login, pseud, sid_, device, sid, torch=tv or "", cuda=cv or "",
                             grader=gv or "", commit=sha or ""))
        e["s" if seed is not None else "m"].setdefault(metric, []).append(float(value))
        if seed is not None and int(seed) not in e.setdefault("seeds", []):
            e["seeds"].append(int(seed))
    return raw


def _value(e: Entry, metric: str, high_first: bool) -> float:
    """The entry's mean of `metric`; a missing one sorts last."""
    s = e.stats.get(metric)
    return s[0] if s else (-math.inf if high_first else math.inf)


def boards(session: Session, sort: str = "", desc: bool = True) -> list[Board]:
    """Every track's board, ranked by the track's own measure; `sort` reorders (staff)."""
    out = []
    for track, entries in sorted(_collect(session).items()):
        rows = []
        for e in entries.values():
            series = {**e["m"], **e["s"]}  # per-seed rows when there are any, else the aggregate
            entry: Entry = e["entry"]
            entry.stats = {m: (sum(v) / len(v), _std(v), len(v)) for m, v in series.items()}
            entry.seeds = e.get("seeds", [])
            rows.append(entry)
        metrics = {m for r in rows for m in r.stats}
        own = RANK_BY.get(track, "")
        rank_by = own if own in metrics else min(metrics, default="")
        better = measure(rank_by).higher_is_better
        rows.sort(key=lambda r: _value(r, rank_by, better), reverse=better)
        for i, r in enumerate(rows, 1):
            r.rank = i
        if sort in metrics:
            rows.sort(key=lambda r: _value(r, sort, desc), reverse=desc)
        out.append(Board(track, TRACK_TITLES.get(track, track), rank_by,
                         _columns(track, metrics), rows))
    return out


def set_pseudonym(session: Session, student: Student, name: str) -> None:
    """Opt in with a pseudonym (3–40 letters, digits, space, _ . -), or out with ""."""
    name = " ".join(name.split())
    if not name:
        student.pseudonym = None
        return
    if not PSEUDONYM.match(name):
        raise AppError("a leaderboard name has 3 to 40 letters, digits, spaces, '_', '.' or "
                       "'-', and starts and ends with a letter or digit", 422)
    low = name.lower()
    taken = session.scalar(select(Student.id).where(
        Student.id != student.id,
        (func.lower(Student.pseudonym) == low) | (func.lower(Student.github_login) == low)))
    if taken is not None:
        raise AppError("that leaderboard name is taken", 409)
    student.pseudonym = name
