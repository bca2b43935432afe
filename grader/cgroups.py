"""Per-job cgroups (v2, or v1 pids+memory+freezer) when the host lets us make them."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


@dataclass
class Group:
    """One job's cgroup directories (one for v2, pids + memory for v1)."""

    kind: str  # "v2" | "v1"
    dirs: list[Path]
    memory_dir: Path
    freezer_dir: Path | None = None  # v1 freezer; v2 freezes through cgroup.freeze
    frozen: bool = False

    def join(self) -> None:
        """Move the calling process into the group (called in the child before exec)."""
        pid = str(os.getpid())
        for d in self.dirs:
            (d / "cgroup.procs").write_text(pid)

    def pids(self) -> list[int]:
        """Processes currently in the group."""
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(out)

    def freeze(self) -> None:
        """Stop every process of the group (it uses no CPU) and wait until it is stopped."""
        self._set_frozen(True)

    def thaw(self) -> None:
        """Let the group run again."""
        self._set_frozen(False)

    def _set_frozen(self, on: bool) -> None:
        if on == self.frozen:
            return
        self.frozen = on
        if self.kind == "v2" and (self.dirs[0] / "cgroup.freeze").exists():
            _switch(self.dirs[0] / "cgroup.freeze", "1" if on else "0",
                    self.dirs[0] / "cgroup.events", "frozen 1" if on else "frozen 0")
        elif self.freezer_dir is not None:
            state = "FROZEN" if on else "THAWED"
            _switch(self.freezer_dir / "freezer.state", state, self.freezer_dir / "freezer.state",
                    state)
        else:  # no freezer: stop each process until none runs
            stop_all(self.pids, on)

    def kill(self) -> None:
        """SIGKILL every process in the group until it is empty (thawed first: a frozen
        task would not die)."""
        self.thaw()
        kill_file = self.dirs[0] / "cgroup.kill"
        if self.kind == "v2" and kill_file.exists():
            try:
                kill_file.write_text("1")
            except OSError:
                pass
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        """True when the kernel killed something here for memory."""
        name = "memory.events" if self.kind == "v2" else "memory.oom_control"
        try:
            text = (self.memory_dir / name).read_text()
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value or 0) > 0:
                return True
        return False

    def destroy(self) -> None:
        """Kill leftovers and remove the directories."""
        self.kill()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def stop_processes(pids: list[int], on: bool) -> None:
    """SIGSTOP (on) or SIGCONT each process; those already gone or not ours are skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGSTOP if on else signal.SIGCONT)
        except (ProcessLookupError, PermissionError):
            pass


def stop_all(list_pids: Callable[[], list[int]], on: bool, passes: int = 200) -> None:
    """Like stop_processes, for a set that may grow and fight back: a process forked after a
    snapshot, or one that SIGCONTs the others, is caught by the next pass; done when one pass
    finds every process stopped and none new."""
    if not on:
        stop_processes(list_pids(), False)
        return
    seen: set[int] = set()
    for _ in range(passes):
        pids = list_pids()
        stop_processes(pids, True)
        if set(pids) <= seen and all(_stopped(p) for p in pids):
            return
        seen |= set(pids)


def _stopped(pid: int) -> bool:
    """Whether a process is stopped, a zombie or gone (its state in /proc/PID/stat)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in "TtZX"


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _switch(control: Path, value: str, status: Path, done: str, timeout: float = 5.0) -> None:
    """Write a freezer control file and wait (briefly) until its status file shows done."""
    try:
        control.write_text(value)
        end = time.monotonic() + timeout
        while done not in status.read_text() and time.monotonic() < end:
            time.sleep(0.0002)
    except OSError:
        pass


def _make(parent: Path, name: str) -> Path:
    d = parent / "zerograd" / name
    d.mkdir(parents=True)
    return d


def _host() -> str:
    """This host's (or container's) name, as it may appear in a group name."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40]


def _owner_alive(name: str) -> bool:
    """Whether the grader that made the group ("PID-RANDOM-HOST") still runs; a group made on
    another host or container (another PID namespace) is never judged dead from here."""
    pid, _, host = (name.split("-", 2) + ["", ""])[:3]
    if host != _host():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        pass
    return True


def reap_orphans() -> int:
    """Thaw, kill and remove the groups whose grader process is gone (it died mid-job, maybe
    with the job frozen, where no signal reaches it); how many."""
    found: dict[str, list[Path]] = {}
    for sub in ("", "pids", "memory", "freezer"):
        base = ROOT / sub / "zerograd"
        for d in sorted(base.iterdir()) if base.is_dir() else []:
            if d.is_dir() and not _owner_alive(d.name):
                found.setdefault(d.name, []).append(d)
    for dirs in found.values():
        freezer = next((d for d in dirs if d.parent.parent.name == "freezer"), None)
        kind = "v1" if any(d.parent.parent != ROOT for d in dirs) else "v2"
        Group(kind, dirs, dirs[0], freezer, frozen=True).destroy()
    return len(found)


def create(memory_mb: int, max_procs: int) -> Group | None:
    """A fresh limited group, or None when cgroups are not writable here (orphans reaped)."""
    reap_orphans()
    name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}-{_host()}"
    mem = str(memory_mb * 1024 * 1024)
    try:
        if (ROOT / "cgroup.controllers").exists():
            base = ROOT / "zerograd"
            base.mkdir(exist_ok=True)
            _write(base / "cgroup.subtree_control", "+memory +pids")
            d = _make(ROOT, name)
            _write(d / "memory.max", mem)
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(max_procs))
            return Group("v2", [d], d)
        if (ROOT / "pids" / "pids.max").exists() or (ROOT / "pids").is_dir():
            p = _make(ROOT / "pids", name)
            m = _make(ROOT / "memory", name)
            _write(p / "pids.max", str(max_procs))
            _write(m / "memory.limit_in_bytes", mem)
            f = _make(ROOT / "freezer", name) if (ROOT / "freezer").is_dir() else None
            return Group("v1", [p, m] + ([f] if f else []), m, f)
    except OSError:
        return None
    return None
