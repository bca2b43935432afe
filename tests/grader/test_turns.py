"""Turn-taking (grader/turns.py): the referee's order, protocol violations, and freezing a
sandboxed job so it can do nothing in the other job's turns."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import cgroups, sandbox
from grader.sandbox import Limits
from grader.turns import GATE_ENV, PROGRESS_ENV, Line, ProgressChannel, Referee
from tests.grader.jobs import job_for, python

PY = os.path.realpath(sys.executable)


class FakeSide:
    """A scripted trainer: answers each turn with the line due (a probe request with a probe
    report of its last step), logging every call."""

    def __init__(self, name: str, log: list[str], script: list[str]) -> None:
        self.name, self.log, self.script = name, log, list(script)
        self.arrivals: queue.Queue[Line | None] = queue.Queue()
        self.closed_with: int | None = None
        self.last = ""

    def say(self) -> None:
        self.last = self.script.pop(0) if self.script else ""
        self.arrivals.put((time.monotonic(), self.last) if self.last else None)

    def go(self, what: bytes = b"g") -> float:
        self.log.append(f"go {self.name}" + (" probe" if what == b"p" else ""))
        t = time.monotonic()
        if what == b"p":
            r, s = self.last.split()[1:3]
            self.arrivals.put((time.monotonic(), f"zg probe {r} {s}"))
        else:
            self.say()
        return t

    def close_gate(self, free_turns: int = 0) -> None:
        self.closed_with = free_turns

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")


def protocol(runs: int, steps: int) -> list[str]:
    return ["zg bench"] + [x for r in range(runs) for x in
                           [f"zg ready {r}", *(f"zg {r} {s} {4 - s / 10:.9g}"
                                                for s in range(steps)),
                            f"zg val {r}"]]


def referee(a: FakeSide, b: FakeSide, runs: int = 2, steps: int = 3) -> tuple[Referee, list[int]]:
    launched: list[int] = []

    def launch() -> tuple[FakeSide, threading.Thread]:
        launched.append(1)
        b.say()  # b announces itself, as a freshly started job does
        t = threading.Thread(target=lambda: None)
        t.start()
        return b, t

    a.say()
    return Referee(a, launch, runs, steps, wait_s=5).start().result(10), launched


def test_turns_alternate_and_a_is_frozen_for_every_turn_of_b() -> None:
    log: list[str] = []
    a, b = FakeSide("a", log, protocol(2, 3)), FakeSide("b", log, protocol(2, 3))
    ref, launched = referee(a, b)
    assert ref.violation is None and ref.engaged and launched == [1]
    assert [t for _, t in ref.durations["a"]] == [f"zg {r} {s}" for r in range(2)
                                                  for s in range(3)]
    assert [t for _, t in ref.durations["b"]] == [t for _, t in ref.durations["a"]]
    assert ref.losses["a"] == ref.losses["b"] == [4.0, 3.9, 3.8] * 2  # committed per step
    assert ref.probes == [0, 0]  # 3 steps: the probe can only follow step 0
    assert [t for _, t in ref.untimed["a"]] == [x for r in range(2) for x in (
        f"zg ready {r}", f"zg probe {r} 0", f"zg val {r}")]
    assert all(sum(ref.busy[k]) > 0 for k in "ab")
    gos = [e for e in log if e.startswith("go")]
    per_run = ["go a", "go b"] * 2 + ["go a probe", "go b probe"] + ["go a", "go b"] * 3
    assert gos == per_run * 2  # build, step 0, probe, steps 1-2, held-out logits; per run
    frozen = False
    for e in log:  # replay: a is paused at every go of b and running at every go of a
        frozen = {"pause a": True, "resume a": False}.get(e, frozen)
        assert not e.startswith("go b") or frozen, log
        assert not e.startswith("go a") or not frozen, log
    assert log[-1] == "resume a" and a.closed_with == 2 * 5 and b.closed_with == 0


def test_a_report_before_its_turn_is_a_violation() -> None:
    log: list[str] = []
    a, b = FakeSide("a", log, protocol(1, 3)), FakeSide("b", log, protocol(1, 3))
    real_go = a.go

    def eager_go(what: bytes = b"g") -> float:  # answers this turn and already the next one
        t = real_go(what)
        a.say()
        return t

    a.go = eager_go  # type: ignore[method-assign]
    ref, _ = referee(a, b, runs=1)
    assert ref.violation is not None and ref.violation.side == "a"
    assert "before its turn" in str(ref.violation)
    assert a.closed_with == 5  # a may still finish (untimed) so its held-out loss is judged


@pytest.mark.parametrize("first", [None, "zg 0 0"])
def test_no_benchmark_start_launches_no_baseline(first: str | None) -> None:
    log: list[str] = []
    a = FakeSide("a", log, [first] if first else [])
    b = FakeSide("b", log, [])
    ref, launched = referee(a, b)
    assert launched == [] and not ref.engaged and b.closed_with is None
    assert (ref.violation is None) == (first is None)
    if first:
        assert ref.violation is not None and "timing channel carried 'zg 0 0'" in str(
            ref.violation)


def test_a_step_report_without_its_loss_is_a_violation() -> None:
    log: list[str] = []
    script = [x.rpartition(" ")[0] if x.startswith("zg 0 1") else x for x in protocol(1, 3)]
    a, b = FakeSide("a", log, script), FakeSide("b", log, protocol(1, 3))
    ref, _ = referee(a, b, runs=1)
    assert ref.violation is not None and ref.violation.side == "a"
    assert "carried 'zg 0'" in str(ref.violation) or "no loss" in str(ref.violation)


def test_probe_steps_are_chosen_per_grading_after_warm_up_and_before_the_end() -> None:
    seen = set()
    for _ in range(30):
        ref = Referee(FakeSide("a", [], []), lambda: (FakeSide("b", [], []),
                                                    threading.Thread()), 3, 40)
        assert all(10 <= s < 37 for s in ref.probes), ref.probes
        seen |= set(ref.probes)
    assert len(seen) > 5  # unforeseeable: not a fixed step


def test_b_ending_early_is_blamed_on_b() -> None:
    log: list[str] = []
    a, b = FakeSide("a", log, protocol(1, 3)), FakeSide("b", log, protocol(1, 3)[:3])
    ref, _ = referee(a, b, runs=1)
    assert ref.violation is not None and ref.violation.side == "b"
    assert "ended before reporting 'zg 0 1'" in str(ref.violation)


TICKER = ("import os, time\nfd = int(os.environ['ZG_PROGRESS_FD'])\n"
          "for i in range(400):\n    os.write(fd, f'{i}\\n'.encode())\n    time.sleep(0.01)\n")


def _start(tmp_path: Path, backend: str, chan: ProgressChannel, limits: Limits,
           script: str = TICKER) -> tuple[threading.Thread, dict[str, sandbox.SandboxResult]]:
    """Run script in a sandboxed job on a thread; the result lands in box["r"]."""
    box: dict[str, sandbox.SandboxResult] = {}

    def go() -> None:
        with job_for(backend, tmp_path) as job:
            (job.runner / "s.py").write_text(script)
            box["r"] = sandbox.run(job, [python(backend), "-I", "-S", "/zg/runner/s.py"],
                                   limits, backend, progress=chan)

    t = threading.Thread(target=go)
    t.start()
    return t, box


def _count_while_paused(chan: ProgressChannel) -> tuple[int, int]:
    """Lines that arrive during 0.4 s of pause (after a settling moment), and after resume."""
    chan.arrivals.get(timeout=30)
    chan.pause()
    time.sleep(0.05)
    n0 = len(chan.lines)
    time.sleep(0.4)
    during = len(chan.lines) - n0
    chan.resume()
    time.sleep(0.3)
    return during, len(chan.lines) - n0 - during


@pytest.mark.parametrize("backend,groups", [("bwrap", True), ("fallback", True),
                                            ("bwrap", False), ("fallback", False)])
def test_pause_freezes_every_process_of_a_job(tmp_path: Path, backend: str, groups: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if not groups:  # the SIGSTOP-the-process-tree path
        monkeypatch.setattr(cgroups, "create", lambda *a: None)
    chan = ProgressChannel(cpu=min(os.sched_getaffinity(0)))
    t, box = _start(tmp_path, backend, chan, Limits(wall_s=60))
    during, after = _count_while_paused(chan)
    assert during == 0 and after >= 5, (during, after)
    t.join(30)
    assert box["r"].ok, box["r"].stderr


def test_a_frozen_job_is_still_killed_at_its_wall_limit(tmp_path: Path) -> None:
    chan = ProgressChannel()
    t, box = _start(tmp_path, "bwrap", chan, Limits(wall_s=2))
    chan.arrivals.get(timeout=30)
    chan.pause()
    t.join(20)
    assert not t.is_alive() and box["r"].killed == "timeout"


def test_gated_job_gets_both_fds_and_sees_end_of_file_when_the_gate_closes(tmp_path: Path
                                                                           ) -> None:
    script = (f"import os\nw, g = int(os.environ['{PROGRESS_ENV}']), "
              f"int(os.environ['{GATE_ENV}'])\n"
              "while os.read(g, 1):\n    os.write(w, b'turn\\n')\nos.write(w, b'eof\\n')\n")
    chan = ProgressChannel(gated=True)
    t, box = _start(tmp_path, "bwrap", chan, Limits(wall_s=30), script)
    for _ in range(3):
        chan.go()
        assert chan.arrivals.get(timeout=20)[1:] == ("turn",)  # type: ignore[index]
    chan.close_gate(free_turns=2)
    t.join(20)
    assert [x for _, x in box["r"].progress] == ["turn"] * 5 + ["eof"]


def test_groups_left_frozen_by_a_dead_grader_are_reaped() -> None:
    """A worker killed while the student's job was frozen leaves a frozen group that no signal
    reaches; the next job's cgroups.create() thaws, kills and removes it."""
    group = cgroups.create(256, 16)
    if group is None:
        pytest.skip("cgroups are not writable here")
    proc = subprocess.Popen(["sleep", "60"], preexec_fn=group.join)
    group.freeze()
    dead = subprocess.Popen(["true"])
    dead.wait()
    elsewhere = [d.rename(d.with_name(f"{dead.pid}-orphan-otherhost")) for d in group.dirs]
    assert cgroups.reap_orphans() == 0  # another container's pid: not ours to judge
    assert proc.poll() is None
    moved = [d.rename(d.with_name(f"{dead.pid}-orphan-{cgroups._host()}")) for d in elsewhere]
    assert cgroups.reap_orphans() == 1
    assert proc.wait(timeout=10) == -9
    assert not any(d.exists() for d in moved)
