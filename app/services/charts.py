"""Small server-side SVG charts (histogram, line curves, heatmap); every label is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def histogram(values: Sequence[float], bins: int = 10, lo: float = 0.0, hi: float = 100.0,
              width: int = 520, height: int = 200, label: str = "") -> Markup:
    """Counts of `values` in `bins` equal bins over [lo, hi]."""
    counts = [0] * bins
    span = (hi - lo) or 1.0
    for v in values:
        i = min(bins - 1, max(0, int((v - lo) / span * bins)))
        counts[i] += 1
    top = max(counts + [1])
    pad, bw = 30, (width - 40) / bins
    head = 28 if label else 16  # the title sits above the tallest bar's count label
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {height}" aria-label="{escape(label or "histogram")}">']
    for i, c in enumerate(counts):
        h = (height - pad - head) * c / top
        x, y = 30 + i * bw, height - pad - h
        a, b = lo + span * i / bins, lo + span * (i + 1) / bins
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                     f'fill="#2563eb"><title>{_fmt(a)}–{_fmt(b)}: {c}</title></rect>')
        if c:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{y - 2:.1f}" font-size="10" '
                         f'text-anchor="middle">{c}</text>')
    for i in range(0, bins + 1, max(1, bins // 5)):
        x, anchor = 30 + i * bw, "end" if i == bins else "middle"  # the last stays inside
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" font-size="10" '
                     f'text-anchor="{anchor}">{_fmt(lo + span * i / bins)}</text>')
    parts.append(f'<line x1="30" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" '
                 f'stroke="#444"/>')
    if label:
        parts.append(f'<text x="{width - 10}" y="12" font-size="11" text-anchor="end">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _points(series: Sequence) -> list[tuple[float, float]]:
    out = []
    for i, p in enumerate(series):
        if isinstance(p, (list, tuple)) and len(p) == 2:
            x, y = float(p[0]), float(p[1])
        else:
            x, y = float(i), float(p)
        if math.isfinite(x) and math.isfinite(y):
            out.append((x, y))
    return out


def lines(curves: dict[str, Sequence], width: int = 520, height: int = 220,
          label: str = "", xlabel: str = "", ylabel: str = "") -> Markup:
    """One polyline per named series (values, or [x, y] pairs), with axis titles."""
    data = {str(k): _points(v) for k, v in curves.items() if isinstance(v, (list, tuple))}
    data = {k: v for k, v in data.items() if v}
    if not data:
        return Markup("")
    xs = [x for v in data.values() for x, _ in v]
    ys = [y for v in data.values() for _, y in v]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (width - 60) / ((x1 - x0) or 1)
    sy = (height - 40) / ((y1 - y0) or 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {height}" aria-label="{escape(label or "curves")}">',
             f'<text x="4" y="14" font-size="10">{_fmt(y1)}</text>',
             f'<text x="4" y="{height - 22}" font-size="10">{_fmt(y0)}</text>',
             f'<text x="50" y="{height - 4}" font-size="10">{_fmt(x0)}</text>',
             f'<text x="{width - 10}" y="{height - 4}" font-size="10" '
             f'text-anchor="end">{_fmt(x1)}</text>']
    for n, (name, pts) in enumerate(sorted(data.items())):
        colour = PALETTE[n % len(PALETTE)]
        path = " ".join(f"{50 + (x - x0) * sx:.1f},{height - 30 - (y - y0) * sy:.1f}"
                        for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{path}"><title>{escape(name)}</title></polyline>')
        parts.append(f'<text x="{width - 10}" y="{14 + 12 * n}" font-size="10" '
                     f'text-anchor="end" fill="{colour}">{escape(name)}</text>')
    if xlabel:
        parts.append(f'<text x="{width / 2:.0f}" y="{height - 4}" font-size="10" '
                     f'text-anchor="middle">{escape(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text x="12" y="{height / 2:.0f}" font-size="10" text-anchor="middle" '
                     f'transform="rotate(-90 12 {height / 2:.0f})">{escape(ylabel)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(matrix: Sequence[Sequence[float]], width: int = 320, label: str = "") -> Markup:
    """A grid of cells shaded from white (min) to blue (max)."""
    rows = [[float(v) for v in r] for r in matrix if isinstance(r, (list, tuple)) and r]
    if not rows:
        return Markup("")
    vals = [v for r in rows for v in r if math.isfinite(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    ncol = max(len(r) for r in rows)
    cell = max(2.0, min(24.0, width / ncol))
    w, h = cell * ncol, cell * len(rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {w:.0f} {h:.0f}" width="{min(width, w):.0f}" '
             f'aria-label="{escape(label or "heatmap")}">']
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            t = (v - lo) / ((hi - lo) or 1) if math.isfinite(v) else 0.0
            shade = int(255 - 200 * t)
            parts.append(f'<rect x="{j * cell:.1f}" y="{i * cell:.1f}" width="{cell:.1f}" '
                         f'height="{cell:.1f}" fill="rgb({shade},{shade},255)">'
                         f'<title>[{i},{j}] {_fmt(v)}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def show_char(c: str) -> str:
    """A character made visible on an axis (space, newline, tab)."""
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(c, c if c.isprintable() else "·")


def attention(matrix: Sequence[Sequence[float]], chars: Sequence[str], cell: int = 22,
              label: str = "") -> Markup:
    """One head's attention map: query characters down, key characters across, 0..1 shading."""
    rows = [[float(v) for v in r] for r in matrix if isinstance(r, (list, tuple))]
    n = len(rows)
    if not n:
        return Markup("")
    names = [show_char(str(c)) for c in list(chars)[:n]] + ["?"] * max(0, n - len(chars))
    m = 18 if cell >= 12 else 0  # room for the axis characters
    size = m + cell * n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="attn" role="img" '
             f'viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
             f'aria-label="{escape(label or "attention map")}">']
    for i, r in enumerate(rows):
        for j, v in enumerate(r[:n]):
            t = max(0.0, min(1.0, v)) if math.isfinite(v) else 0.0
            shade = int(255 - 215 * t)
            tip = f"<title>{escape(names[i])} → {escape(names[j])}: {v:.3f}</title>" if m else ""
            parts.append(f'<rect x="{m + j * cell}" y="{m + i * cell}" width="{cell}" '
                         f'height="{cell}" fill="rgb({shade},{shade},255)">{tip}</rect>')
    if m:
        for k, c in enumerate(names):
            mid = m + k * cell + cell / 2
            parts.append(f'<text x="{mid:.1f}" y="13" font-size="11" text-anchor="middle" '
                         f'class="key">{escape(c)}</text>')
            parts.append(f'<text x="9" y="{mid + 4:.1f}" font-size="11" text-anchor="middle" '
                         f'class="query">{escape(c)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(items: Sequence[tuple[str, float]], unit: str = "", width: int = 520,
          label: str = "") -> Markup:
    """Labelled horizontal bars from 0 (smaller is drawn shorter), value and unit at the end."""
    data = [(str(k), float(v)) for k, v in items if math.isfinite(float(v))]
    if not data:
        return Markup("")
    top, left, rh = max(v for _, v in data) or 1.0, 170, 26
    h = 10 + rh * len(data)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {h}" aria-label="{escape(label or "bars")}">']
    for i, (name, v) in enumerate(data):
        y, w = 6 + i * rh, (width - left - 130) * max(0.0, v) / top
        parts.append(f'<text x="{left - 6}" y="{y + 15}" font-size="11" text-anchor="end">'
                     f'{escape(name)}</text><rect x="{left}" y="{y}" width="{w:.1f}" '
                     f'height="{rh - 8}" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 15}" font-size="11">'
                     f'{v:.3f} {escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar(fraction: float | None) -> Markup:
    """A small horizontal progress bar (0–1)."""
    if fraction is None:
        return Markup("")
    f = max(0.0, min(1.0, fraction))
    hue = int(120 * f)
    return Markup(f'<span class="bar"><span style="width:{f * 100:.0f}%;'
                  f'background:hsl({hue},65%,45%)"></span></span>')
