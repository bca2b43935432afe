"""Step reports from a sandboxed job, and turn-taking between two jobs that train side by side.

A job writes report lines ("zg RUN STEP", ...) to the progress pipe ($ZG_PROGRESS_FD). A
gated job also reads one byte from the gate pipe ($ZG_GATE_FD) before each piece of work: it
may start it only when the trusted side hands it the turn. The Referee alternates the turns of
two jobs (the student's variant and the vanilla reference) one training step at a time, on
one core, with the student's job frozen outside its own turns: both see the same machine at
the same moment and neither can run in the other's time. A step's duration is measured here:
from handing out the turn to the arrival of the step's report.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from grader import cgroups

PROGRESS_ENV = "ZG_PROGRESS_FD"  # the fd number of the write end of the progress pipe
GATE_ENV = "ZG_GATE_FD"  # the fd number of the read end of the gate pipe (gated jobs only)
PROGRESS_MAX_LINES = 100_000
PROGRESS_LINE_BYTES = 200
Line = tuple[float, str]  # (time.monotonic() on arrival, text)


class ProgressChannel:
    """A pipe the job writes step reports to (timestamped on arrival); optionally a gate."""

    def __init__(self, gated: bool = False, cpu: int | None = None) -> None:
        self.cpu = cpu  # the job is started pinned to this CPU (None: anywhere)
        self.read_fd, self.write_fd = os.pipe()
        self.gate_read, self.gate_write = os.pipe() if gated else (-1, -1)
        for fd in self.child_fds():
            os.set_inheritable(fd, True)
        self.lines: list[Line] = []
        self.arrivals: queue.Queue[Line | None] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.group: cgroups.Group | None = None
        self.pgid = 0  # the job's first process (its session leader)
        self.stopped = False

    def child_fds(self) -> tuple[int, ...]:
        """The pipe ends the job inherits."""
        return (self.write_fd,) if self.gate_read < 0 else (self.write_fd, self.gate_read)

    def env(self) -> dict[str, str]:
        """The variables that tell the job which fds to use."""
        env = {PROGRESS_ENV: str(self.write_fd)}
        return env | ({GATE_ENV: str(self.gate_read)} if self.gate_read >= 0 else {})

    def started(self, pgid: int, group: cgroups.Group | None) -> None:
        """Call once the child holds its ends: close ours and start reading."""
        self.pgid, self.group = pgid, group
        for fd in self.child_fds():
            os.close(fd)
        self.thread.start()

    def _pump(self) -> None:
        with os.fdopen(self.read_fd, "rb", buffering=0) as f:
            buf = b""
            while chunk := f.read(65536):
                now = time.monotonic()
                buf += chunk
                *done, buf = buf.split(b"\n")
                for line in done:
                    if len(self.lines) < PROGRESS_MAX_LINES:
                        text = line[:PROGRESS_LINE_BYTES].decode("ascii", "replace")
                        self.lines.append((now, text))
                        self.arrivals.put((now, text))
                buf = buf[-PROGRESS_LINE_BYTES:]
        self.arrivals.put(None)  # every writer is gone: the job has ended

    def go(self, what: bytes = b"g") -> float:
        """Hand the job one turn (b"g": the next piece of work, b"p": a held-out probe); the
        time it was handed."""
        t = time.monotonic()
        try:
            os.write(self.gate_write, what)
        except OSError:  # the job is gone; its channel says so next
            pass
        return t

    def close_gate(self, free_turns: int = 0) -> None:
        """No more refereed turns: free_turns more steps run unrefereed, then end-of-file."""
        if self.gate_write < 0:
            return
        os.set_blocking(self.gate_write, False)
        try:
            os.write(self.gate_write, b"g" * free_turns)
        except OSError:  # gone, or the pipe is full: the job sees end-of-file sooner
            pass
        os.close(self.gate_write)
        self.gate_write = -1

    def pause(self) -> None:
        """Freeze every process of the job (without a cgroup: SIGSTOP its process tree)."""
        self._stop(True)

    def resume(self) -> None:
        """Undo pause()."""
        self._stop(False)

    def _stop(self, on: bool) -> None:
        if on == self.stopped:
            return
        self.stopped = on
        if self.group is not None:
            self.group.freeze() if on else self.group.thaw()
            return
        cgroups.stop_all(lambda: process_tree(self.pgid) if self.pgid else [], on)

    def finish(self) -> list[Line]:
        """Wait briefly for the reader (the job is dead); what arrived."""
        self.thread.join(timeout=2.0)
        return list(self.lines)


def process_tree(root: int) -> list[int]:
    """root and its descendants, parents first (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{d}/stat").read_text() if d.isdigit() else ""
        except OSError:
            continue
        if stat:
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def shared_cpu() -> int:
    """One CPU for both jobs of a pair: alternating steps on one core see the same machine
    state (on two cores each would see its own). Random, so concurrent pairs spread out."""
    return random.choice(sorted(os.sched_getaffinity(0)))


class Side(Protocol):
    """One trainer the Referee hands turns to (a sandboxed job or, in bench/, a thread)."""

    arrivals: queue.Queue[Line | None]

    def go(self, what: bytes = b"g") -> float: ...
    def close_gate(self, free_turns: int = 0) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


class Violation(Exception):
    """A side broke the protocol or ended early (message says how)."""

    def __init__(self, side: str, message: str) -> None:
        super().__init__(message)
        self.side = side


class Referee:
    """Alternates turns of side a (launched already) and side b (launched once a says
    "zg bench"): per run, build (untimed), each step (timed; its report carries the step's
    loss), a held-out probe after one step picked here at random once that step is done
    (untimed), held-out logits (untimed); a, then b. a is frozen whenever it is not its turn,
    so it can do nothing in b's time. Every turn's duration is kept (untimed ones too)."""

    def __init__(self, a: Side, launch_b: Callable[[], tuple[Side, threading.Thread]],
                 runs: int, steps: int, wait_s: float = 600.0) -> None:
        self.a, self.launch_b = a, launch_b
        self.b: Side | None = None
        self.runs, self.steps, self.wait_s = runs, steps, wait_s
        self.durations: dict[str, list[Line]] = {"a": [], "b": []}  # (seconds, "zg r s")
        self.untimed: dict[str, list[Line]] = {"a": [], "b": []}  # (seconds, its report)
        self.losses: dict[str, list[float]] = {"a": [], "b": []}  # per step, as reported
        self.busy = {"a": [0.0] * runs, "b": [0.0] * runs}  # per run: all its turns' time
        rng = random.SystemRandom()  # unknown to both jobs until the step is done
        lo = min(steps // 4, max(steps - 4, 0))
        self.probes = [rng.randrange(lo, max(steps - 3, lo + 1)) for _ in range(runs)]
        self.violation: Violation | None = None
        self.engaged = False  # a started its benchmark, so b was launched
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Referee:
        """Begin waiting for a's first report."""
        self.thread.start()
        return self

    def result(self, timeout: float | None = None) -> Referee:
        """Wait until both sides are done (a must have ended or be ending)."""
        self.thread.join(timeout)
        return self

    def _run(self) -> None:
        b_thread = None
        try:
            first = self._next(self.a, "a")
            if first is None:  # a never reached the benchmark
                return
            self._expect(first, "a", "zg bench")
            self.a.pause()
            self.engaged = True
            self.b, b_thread = self.launch_b()
            self._expect(self._next(self.b, "b"), "b", "zg bench")
            self._alternate(self.b)
        except Violation as v:
            self.violation = v
        finally:  # a may finish its training untimed (its held-out loss is still judged)
            self.a.resume()
            self.a.close_gate(free_turns=self.runs * (self.steps + 2))
            if self.b is not None and b_thread is not None:
                self.b.close_gate()
                b_thread.join()

    def _alternate(self, b: Side) -> None:
        for r in range(self.runs):
            self._both(b, r, f"zg ready {r}", timed=False)
            for s in range(self.steps):
                self._both(b, r, f"zg {r} {s}", timed=True)
                if s == self.probes[r]:
                    self._both(b, r, f"zg probe {r} {s}", timed=False, what=b"p")
            self._both(b, r, f"zg val {r}", timed=False)

    def _both(self, b: Side, r: int, want: str, timed: bool, what: bytes = b"g") -> None:
        """a's turn (thawed just for it), then b's."""
        self.a.resume()
        self._turn(self.a, "a", want, timed, what, r)
        self.a.pause()
        self._turn(b, "b", want, timed, what, r)

    def _turn(self, side: Side, name: str, want: str, timed: bool, what: bytes, r: int
              ) -> None:
        if not side.arrivals.empty():
            early = side.arrivals.get()
            raise Violation(name, f"a step report ({early[1] if early else 'end'!r}) came "
                                  f"before its turn (expected {want!r} only after it)")
        t0 = side.go(what)
        line = self._next(side, name)
        if line is None or not timed:
            at = self._expect(line, name, want)[0]
            self.untimed[name].append((at - t0, want))
            self.busy[name][r] += at - t0
            return
        head, _, loss = line[1].rpartition(" ")
        self._expect((line[0], head), name, want)
        try:
            self.losses[name].append(float(loss))
        except ValueError:
            raise Violation(name, f"step report {line[1]!r} carries no loss") from None
        self.durations[name].append((line[0] - t0, want))
        self.busy[name][r] += line[0] - t0

    def _next(self, side: Side, name: str) -> Line | None:
        try:
            return side.arrivals.get(timeout=self.wait_s)
        except queue.Empty:
            raise Violation(name, f"no step report within {self.wait_s:g} s") from None

    @staticmethod
    def _expect(line: Line | None, name: str, want: str) -> Line:
        if line is None:
            raise Violation(name, f"the job ended before reporting {want!r}")
        if line[1] != want:
            raise Violation(name, f"the timing channel carried {line[1]!r} where {want!r} was "
                                  "due: step reports come only from the grader's training loop")
        return line
