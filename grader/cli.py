"""The `zerograd` command: grade a notebook, check the reference, fetch course data."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from grader import feedback
from grader.report import STATUS_GRADER_ERROR, GradeReport
from grader.sandbox import FALLBACK_WARNING


def _settings_data_dir() -> Path:
    """Default data directory from the service's Settings (the only env reader)."""
    from app.config import get_settings

    return get_settings().data_dir


class Spinner:
    """A one-line progress indication on stderr while grading runs."""

    def __init__(self, label: str) -> None:
        self.label, self.done = label, threading.Event()
        self.t = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        t0, frames, i = time.monotonic(), "|/-\\", 0
        while not self.done.wait(0.1):
            sys.stderr.write(f"\r{frames[i % 4]} {self.label} {time.monotonic() - t0:5.1f}s")
            sys.stderr.flush()
            i += 1
        sys.stderr.write("\r" + " " * (len(self.label) + 12) + "\r")

    def __enter__(self) -> Spinner:
        if sys.stderr.isatty():
            self.t.start()
        else:
            sys.stderr.write(f"{self.label}…\n")
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.t.is_alive():
            self.t.join()


def format_table(r: GradeReport) -> str:
    """The score's story: the root cause and cell errors first, then a per-check table."""
    fb = feedback.build(r.to_dict(staff=False))
    lines = [f"zerograd — week {r.week}: {r.title}", ""]
    for block in feedback.text_blocks(fb):
        lines += [block, ""]
    w = max([len(c.name) for c in fb.checks] + [5])
    for c, raw in zip(fb.checks, r.checks, strict=True):
        lines.append(f"  {c.mark:<4}  {c.name:<{w}}  {c.points_text:>10}  "
                     f"{raw.duration_s * 1000:6.0f} ms")
        lines += ["        " + ln for ln in c.detail().splitlines()]
    lines += ["", f"Score: {r.score:g} / {r.max_score:g}   ({r.status}, "
              f"{r.timings.get('total', 0):.2f} s)"]
    return "\n".join(lines)


def cmd_grade(a: argparse.Namespace) -> int:
    """zerograd grade PATH --week N."""
    from grader import grade, source

    try:
        src = source.load(a.path, a.week)
    except source.SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data_dir = Path(a.data_dir) if a.data_dir else _settings_data_dir()
    backend = "fallback" if a.unsafe_fallback else "bwrap"
    with Spinner(f"grading week {a.week} ({src.origin}) in the sandbox"):
        report = grade.grade(src, data_dir, seed=a.seed, backend=backend)
    if report.sandbox.get("backend") == "fallback":
        print(f"!!! {FALLBACK_WARNING} !!!", file=sys.stderr)
    print(format_table(report))
    if a.json:
        Path(a.json).write_text(report.to_json(staff=True))
    if a.gradescope:
        Path(a.gradescope).write_text(json.dumps(report.to_gradescope(), indent=2))
    if report.status == STATUS_GRADER_ERROR:
        print(report.staff_traceback, file=sys.stderr)
        return 3
    return 0


def cmd_selftest(_: argparse.Namespace) -> int:
    """zerograd selftest: the workers' sandbox self-test; exit 1 when a worker would refuse."""
    from grader import selftest

    st = selftest.run()
    print(selftest.describe())
    for k, v in st.facts.items():
        print(f"  {k}: {v}")
    for f in st.failures:
        print(f"FAIL: {f}")
    print("sandbox self-test " + ("passed" if st.ok else "FAILED: workers refuse to grade"))
    return 0 if st.ok else 1


def cmd_reference_check(a: argparse.Namespace) -> int:
    """zerograd reference-check: the reference implementations against autograd."""
    from grader import refcheck

    data_dir: Path | None = Path(a.data_dir) if a.data_dir else _settings_data_dir()
    if data_dir is None or not (data_dir / "names.txt").exists():
        print(f"note: no course data in {data_dir}; data checks skipped (zerograd data fetch)")
        data_dir = None
    return 0 if refcheck.run(data_dir=data_dir) else 1


def cmd_data(a: argparse.Namespace) -> int:
    """zerograd data fetch|path."""
    from grader import data

    dest = Path(a.dir) if a.dir else _settings_data_dir()
    if a.action == "path":
        print(dest)
        return 0
    try:
        data.fetch(dest)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"data ready in {dest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Argument parser for every sub-command."""
    p = argparse.ArgumentParser(prog="zerograd", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grade", help="grade a notebook, .py or fork directory")
    g.add_argument("path")
    g.add_argument("--week", type=int, required=True)
    g.add_argument("--json", help="write the full GradeReport JSON here")
    g.add_argument("--gradescope", help="write a Gradescope results.json here")
    g.add_argument("--seed", type=int, help="fix the grader's input seed (default: fresh)")
    g.add_argument("--data-dir", help="course data (default: Settings.data_dir)")
    g.add_argument("--unsafe-fallback", action="store_true",
                   help="grade without bubblewrap (no isolation; local development only)")
    g.set_defaults(fn=cmd_grade)
    st = sub.add_parser("selftest", help="check the sandbox isolates jobs (as workers do)")
    st.set_defaults(fn=cmd_selftest)
    r = sub.add_parser("reference-check", help="check the reference implementations")
    r.add_argument("--data-dir")
    r.set_defaults(fn=cmd_reference_check)
    d = sub.add_parser("data", help="course data: fetch (download + verify) or path")
    d.add_argument("action", choices=["fetch", "path"])
    d.add_argument("--dir", help="target directory (default: Settings.data_dir)")
    d.set_defaults(fn=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `zerograd` console script."""
    a = build_parser().parse_args(argv)
    return int(a.fn(a))


if __name__ == "__main__":
    sys.exit(main())
