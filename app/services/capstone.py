"""What the capstone pages draw from a stored week-6 report (extras the trusted side wrote)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from app.services import charts

# check names of grader/capstone/inspector.py (the explanation shows their verdicts)
INSPECTOR_CHECKS = (
    ("attention rows sum to 1", "Rows sum to 1",
     "each row is a softmax over the positions the character may look at"),
    ("no attention to the future", "Causal zeros",
     "cells above the diagonal (later characters) are 0: the model cannot peek ahead"),
    ("maps equal the reference on the same weights", "Matches the reference",
     "on random grader-chosen tokens, with the grader's weights"),
    ("heatmaps of the grader's prompt equal the reference", "These maps are the reference's",
     "the maps drawn here, of the grader's prompt, equal the reference's on the same weights"),
)


@dataclass
class Explained:
    """One check of the explanation with its verdict in this report (None: not run)."""

    title: str
    text: str
    passed: bool | None


MAX_CHARS = 48  # the large map shows at most this many prompt characters
THUMB = 16  # thumbnails are pooled down to at most THUMB x THUMB cells


@dataclass
class HeadMap:
    """One layer × head map as a thumbnail (every head is listed; one is drawn large)."""

    layer: int
    head: int
    thumb: Markup

    @property
    def key(self) -> str:
        """The selector's value: "layer-head"."""
        return f"{self.layer}-{self.head}"


@dataclass
class Inspector:
    """The Inspector view: the selected head drawn large, every head as a thumbnail."""

    prompt: str
    maps: list[HeadMap]
    checks: list[Explained]
    selected: str
    svg: Markup
    shown: int  # characters on the large map's axes
    n_layer: int = 0
    n_head: int = 0


@dataclass
class Figure:
    """A mean ± std over seeds with its unit."""

    mean: float
    std: float
    n: int


# the Architect table's rows: (key, label, unit, format); keys as in architect.run_benchmark
ARCH_ROWS = (("ratio", "Speed ratio (tokens/s ÷ vanilla's)", "×", "{:.3f}"),
             ("whole", "Whole run ratio (vanilla's time ÷ yours)", "×", "{:.3f}"),
             ("var_tokens_per_s", "Throughput, your variant", "tokens/s", "{:,.0f}"),
             ("van_tokens_per_s", "Throughput, vanilla GPT", "tokens/s", "{:,.0f}"),
             ("var_ms_per_iter", "Step time, your variant", "ms/iter", "{:.2f}"),
             ("van_ms_per_iter", "Step time, vanilla GPT", "ms/iter", "{:.2f}"),
             ("var_val_loss", "Held-out loss, your variant", "nats", "{:.4f}"),
             ("van_val_loss", "Held-out loss, vanilla GPT", "nats", "{:.4f}"),
             ("var_run_s", "Whole run, your variant", "s", "{:.3f}"),
             ("van_run_s", "Whole run, vanilla GPT", "s", "{:.3f}"),
             ("var_mfu", "MFU, your variant", "%", "{:.1%}"),
             ("van_mfu", "MFU, vanilla GPT", "%", "{:.1%}"))


@dataclass
class ArchRow:
    """One measure: its value per seed and mean ± std, formatted with the unit."""

    label: str
    unit: str
    per_seed: list[str]
    mean: str
    std: str


@dataclass
class Architect:
    """The Architect view: measures × seeds table, speed ratio, loss curves."""

    device: str
    seeds: list[int]
    rows: list[ArchRow]
    ratio: Figure | None
    curves: Markup
    steps: int
    tokens_per_step: int


@dataclass
class View:
    """Everything the capstone partial renders (each part None when absent)."""

    track: str | None = None
    inspector: Inspector | None = None
    specialist: dict[str, Any] | None = None
    architect: Architect | None = None
    curves: Markup | None = None
    curve_label: str = ""
    notes: list[str] = field(default_factory=list)


def _verdicts(report: dict[str, Any]) -> dict[str, bool]:
    return {str(c.get("name")): bool(c.get("passed")) for c in report.get("checks") or []
            if isinstance(c, dict)}


def _pool(m: list[list[float]], size: int) -> list[list[float]]:
    """m averaged down to at most size x size cells (thumbnails of long prompts)."""
    n = len(m)
    if n <= size:
        return m
    edges = [round(i * n / size) for i in range(size + 1)]
    return [[statistics.fmean(float(m[i][j]) for i in range(a, b) for j in range(c, d))
             for c, d in zip(edges, edges[1:], strict=False)]
            for a, b in zip(edges, edges[1:], strict=False)]


def inspector(report: dict[str, Any], att: dict[str, Any], selected: str = "",
              ) -> Inspector | None:
    """Every layer × head map of the grader's prompt as a thumbnail, the selected one drawn
    large with the prompt's characters on both axes, and the checks' explanation."""
    prompt, layers = list(att.get("prompt") or []), att.get("layers") or []
    if not isinstance(layers, list) or not layers:
        return None
    grids = {f"{li}-{hi}": m for li, layer in enumerate(layers)
             for hi, m in enumerate(layer if isinstance(layer, list) else [])
             if isinstance(m, list) and m}
    if not grids:
        return None
    maps = [HeadMap(int(k.split("-")[0]), int(k.split("-")[1]),
                    charts.attention(_pool(m, THUMB), [], cell=6, label=f"layer {k}"))
            for k, m in grids.items()]
    key = selected if selected in grids else next(iter(grids))
    m = grids[key]
    shown = min(len(m), MAX_CHARS)
    li, hi = key.split("-")
    svg = charts.attention([r[:shown] for r in m[:shown]], prompt[:shown],
                           label=f"layer {li} head {hi}")
    verdicts = _verdicts(report)
    checks = [Explained(title, text, verdicts.get(name)) for name, title, text in INSPECTOR_CHECKS]
    return Inspector("".join(str(c) for c in prompt), maps, checks, key, svg, shown,
                     len(layers), max(h.head for h in maps) + 1)


def specialist(ex: dict[str, Any]) -> dict[str, Any] | None:
    """Samples, corpus size and vocabulary, held-out loss against the unigram baseline."""
    corpus, held, samples = ex.get("corpus"), ex.get("heldout"), ex.get("samples")
    if not (corpus or held or samples):
        return None
    chart = Markup("")
    if isinstance(held, dict) and isinstance(corpus, dict):
        chart = charts.hbars([("your model (held-out)", held.get("val_loss", math.nan)),
                              ("character unigram", held.get("unigram_loss", math.nan)),
                              ("uniform (ln V)", corpus.get("ln_vocab", math.nan))],
                             unit="nats/char", label="held-out loss: lower is better")
    vocab = "".join(charts.show_char(c) for c in str((corpus or {}).get("vocab", "")))
    return {"corpus": corpus or {}, "heldout": held or {}, "samples": samples or [],
            "chart": chart, "vocab": vocab}


def _fig(values: list[float]) -> Figure:
    v = [float(x) for x in values]
    return Figure(statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))


def _mean_curve(flat: list[float], runs: int, steps: int) -> list[list[float]]:
    """The per-step mean over seeds of a (runs × steps) flat list, as [step, loss] pairs."""
    if runs <= 0 or len(flat) != runs * steps:
        return []
    return [[s, statistics.fmean(flat[r * steps + s] for r in range(runs))] for s in range(steps)]


def architect(b: dict[str, Any]) -> Architect | None:
    """Speed ratio per seed with its spread, throughput and step time of both runs, curves."""
    seeds, var, van = b.get("seeds") or [], b.get("variant") or {}, b.get("vanilla") or {}
    if not seeds or not var or not van:
        return None
    cols = {"ratio": b.get("ratio") or [], "whole": b.get("whole_ratio") or [],
            **{f"var_{k}": v for k, v in var.items()}, **{f"van_{k}": v for k, v in van.items()}}
    rows = []
    for key, label, unit, fmt in ARCH_ROWS:
        v = cols.get(key) or []
        if len(v) == len(seeds):
            f = _fig(v)
            pct = fmt.endswith("%}")
            rows.append(ArchRow(label, "" if pct else unit, [fmt.format(float(x)) for x in v],
                                fmt.format(f.mean), fmt.format(f.std)))
    steps, losses = int(b.get("steps") or 0), b.get("losses") or {}
    curves = charts.lines({"your variant": _mean_curve(losses.get("variant") or [], len(seeds),
                                                       steps),
                           "vanilla GPT": _mean_curve(losses.get("vanilla") or [], len(seeds),
                                                      steps)},
                          width=620, label="training loss per step (mean over seeds)",
                          xlabel="step", ylabel="loss (nats)")
    ratio = _fig(cols["ratio"]) if len(cols["ratio"]) == len(seeds) else None
    return Architect(str(b.get("device", "")), [int(s) for s in seeds], rows, ratio, curves,
                     steps, int(b.get("tokens_per_step") or 0))


def _curves(c: Any) -> tuple[Markup | None, str]:
    """The trusted side's training curves (a list of {label, steps, student, reference,
    summary}; one dict is accepted too): the student's against the reference's, each with
    its one-line verdict."""
    curves = [c] if isinstance(c, dict) else c if isinstance(c, list) else []
    parts: list[Markup] = []
    for cur in curves:
        if not isinstance(cur, dict) or not isinstance(cur.get("steps"), list):
            continue
        steps, label = cur["steps"], str(cur.get("label") or "training loss")
        series: dict[str, Sequence[Any]] = {
            name: [[x, y] for x, y in zip(steps, cur.get(key) or [], strict=False)]
            for name, key in (("your model", "student"), ("reference", "reference"))}
        svg = charts.lines(series, width=620, label=label, xlabel="step",
                           ylabel=f"loss ({cur.get('unit') or 'nats'})")
        if svg:
            summary = escape(str(cur.get("summary") or ""))
            parts.append(Markup("<figure>") + svg + Markup(
                f'<figcaption class="sub">{summary}</figcaption></figure>'))
    if not parts:
        return None, ""
    title = str(curves[0].get("label")) if len(parts) == 1 else "Training curves"
    return Markup("").join(parts), title[:1].upper() + title[1:]


def view(report: dict[str, Any] | None, head: str = "") -> View:
    """The capstone and curve views of a report (empty when it has none); `head` is the
    Inspector's selected "layer-head"."""
    ex = (report or {}).get("extras") if isinstance(report, dict) else None
    if not isinstance(ex, dict):
        return View()
    out = View(track=ex.get("track") if isinstance(ex.get("track"), str) else None)
    out.curves, out.curve_label = _curves(ex.get("curves"))
    if isinstance(ex.get("attention"), dict):
        out.inspector = inspector(report or {}, ex["attention"], head)
    if out.track == "specialist":
        out.specialist = specialist(ex)
    if isinstance(ex.get("benchmark"), dict):
        out.architect = architect(ex["benchmark"])
    return out
