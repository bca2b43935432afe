"""Run an untrusted command in a sandbox with limits enforced from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import bwrap, cgroups, jail, syscalls
from grader.outputcap import OutputCap
from grader.resultpipe import ResultChannel
from grader.turns import ProgressChannel
from grader.watchdog import Watchdog


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed job."""

    wall_s: float = 60.0
    memory_mb: int = 2048
    max_procs: int = 64
    output_bytes: int = 8 * 1024 * 1024  # total stdout+stderr before the job is killed
    keep_bytes: int = 32 * 1024  # kept for feedback, per stream
    file_mb: int = 64  # largest file the job may write
    scratch_mb: int = 256  # tmpfs working directory (bwrap only)
    tmp_mb: int = 64  # tmpfs /tmp and /dev/shm, each (bwrap only)
    scratch_inodes: int = 20_000  # files + folders on each of those (bwrap only)
    result_files: int = 64  # records on the result channel
    result_mb: int = 64  # bytes on the result channel
    address_space: bool = True  # RLIMIT_AS; off for GPU jobs (they need a memory cgroup)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up as configured: an infrastructure fault, never a grade."""


FALLBACK_WARNING = ("UNSAFE development sandbox (fallback): no filesystem, network or PID "
                    "isolation and no syscall filter; never use it for real students")


@dataclass
class SandboxResult:
    """What came back from one sandboxed run."""

    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    killed: str | None = None  # "timeout" | "output" | "memory" | "files" | "results" | None
    backend: str = "bwrap"
    notes: list[str] = field(default_factory=list)
    # (time.monotonic() on arrival, line) for each line the job wrote to the progress pipe
    progress: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the job exited 0 and was not killed."""
        return self.killed is None and self.returncode == 0


@dataclass(frozen=True)
class Job:
    """A prepared job directory: runner/ (read-only), work/ (cwd files), out/ (results)."""

    root: Path

    @property
    def runner(self) -> Path:
        return self.root / "runner"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def make_dirs(self) -> None:
        """Create the three job folders."""
        for p in (self.runner, self.work, self.out):
            p.mkdir(parents=True, exist_ok=True)


bwrap_path = bwrap.bwrap_path
bwrap_command = bwrap.command
sandbox_env = bwrap.sandbox_env
BACKENDS = ("bwrap", "fallback")


def run(
    job: Job,
    argv: list[str],
    limits: Limits,
    backend: str = "bwrap",
    gpu_devices: list[str] | None = None,
    progress: bool | ProgressChannel = False,
) -> SandboxResult:
    """Run argv for a prepared job; never raises for anything the job does.

    Raises SandboxUnavailable when the isolation asked for cannot be set up (bwrap missing,
    a GPU job without a memory cgroup, no free uid slot): the caller reports a grader fault.
    GPU jobs run without RLIMIT_AS (CUDA reserves huge virtual ranges), so they need a memory
    cgroup. With progress=True (or a grader.turns.ProgressChannel, which may be gated) the job
    gets a progress pipe ($ZG_PROGRESS_FD); results come back on $ZG_RESULT_FD into job.out.
    """
    if backend not in BACKENDS:
        raise SandboxUnavailable(f"unknown sandbox backend {backend!r} (bwrap | fallback)")
    if backend == "bwrap" and bwrap_path() is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: refusing to grade")
    gpu_devices = gpu_devices or []
    if gpu_devices and limits.address_space:
        limits = replace(limits, address_space=False)
    group = cgroups.create(limits.memory_mb, limits.max_procs)
    slot: jail.Slot | None = None
    try:
        if not limits.address_space and group is None:
            raise SandboxUnavailable("a GPU job needs a memory cgroup (no RLIMIT_AS for CUDA) "
                                     "and none can be created here: refusing to run it")
        slot = jail.acquire()
        return _run(job, argv, limits, backend, gpu_devices, progress, group, slot)
    finally:
        if group is not None:
            group.destroy()
        if slot is not None:
            slot.release()


def _run(job: Job, argv: list[str], limits: Limits, backend: str, gpu: list[str],
         progress: bool | ProgressChannel, group: cgroups.Group | None,
         slot: jail.Slot) -> SandboxResult:
    chan = progress if isinstance(progress, ProgressChannel) else (
        ProgressChannel() if progress else None)
    results = ResultChannel(job.out, limits.result_files, limits.result_mb * 1024 * 1024)
    extra_env = (chan.env() if chan else {}) | results.env()
    fds = [results.write_fd, *(chan.child_fds() if chan else ())]
    mode = jail.mode() if backend == "bwrap" else "fallback"
    who = f"slot {slot.uid}" if slot.uid is not None else "shared (grader not root)"
    notes = [f"uid: {who}",
             f"cgroup: {group.kind}" if group is not None else "cgroup: none (rlimits only)"]
    if backend == "bwrap":
        seccomp_fd = syscalls.program_fd(strict=group is None)
        info_r, info_w = os.pipe()
        started_r, started_w = os.pipe()
        for fd in (info_w, started_w):
            os.set_inheritable(fd, True)
        if slot.uid is not None:  # the job's uid reopens it through /dev/fd
            os.fchown(started_w, slot.uid, slot.uid)
        fds += [seccomp_fd, info_w, started_w]
        inner = bwrap.command(job, argv, limits, gpu, extra_env, mode=mode, uid=slot.uid,
                              seccomp_fd=seccomp_fd, info_fd=info_w, started_fd=started_w)
        env = {"PATH": "/usr/bin:/bin"}  # bwrap's own environ is visible as /proc/1/environ
        cwd, drop = str(job.root), (slot.uid if mode == "userns" else None)
        watch: Watchdog | None = Watchdog(
            info_r, limits.scratch_inodes, slot.uid if group is None else None, limits.memory_mb)
        notes.append(f"bwrap: {mode}, seccomp, read-only root")
    else:
        inner, env, cwd = _fallback_command(job, argv, slot.uid)
        env |= extra_env
        drop, watch, info_w, seccomp_fd, started_r, started_w = slot.uid, None, -1, -1, -1, -1
        notes.append(FALLBACK_WARNING)
    nproc = limits.max_procs if slot.uid is not None else _shared_nproc(limits.max_procs)
    address = limits.memory_mb + 3072 if limits.address_space else None  # torch reserves VM
    rl = jail.rlimit_args(file_mb=limits.file_mb, address_mb=address, nproc=nproc)
    dirs = group.dirs if group is not None else []
    cmd = jail.chain(cgroup_dirs=dirs, rlimits=rl, cpu=chan.cpu if chan else None,
                     drop_to=drop) + inner
    env |= jail.cgroup_env(dirs)
    try:
        res = _supervise(cmd, env, cwd, limits, group, chan, results, fds, watch,
                         [fd for fd in (seccomp_fd, info_w, started_w) if fd >= 0])
    finally:
        if watch is not None:
            watch.close()
        started = started_r < 0 or _read_marker(started_r)
    if not started and res.returncode != 0:  # (exit 0 means the job's program ran)
        raise SandboxUnavailable(f"the sandbox did not start the job (exit code "
                                 f"{res.returncode}): {res.stderr[-500:]}")
    res.backend, res.notes = backend, notes + res.notes
    return res


def _read_marker(fd: int) -> bool:
    """Whether the sandbox wrote its started byte (every writer is gone by now); closes fd."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1) == b"1"
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _shared_nproc(max_procs: int) -> int:
    """RLIMIT_NPROC when the job shares the grader's uid: what that uid runs now, plus room."""
    return len(jail.uid_pids(os.getuid())) + max_procs


def _fallback_command(job: Job, argv: list[str], uid: int | None
                      ) -> tuple[list[str], dict[str, str], str]:
    """Dev-only: clean env, own session, rlimits, the slot uid; no namespaces."""
    if uid is not None:
        if not others_can_run(argv[0]):
            raise SandboxUnavailable(
                f"the fallback sandbox would run {argv[0]} as host root (the slot uid cannot "
                "reach it): refusing; use bwrap or an interpreter outside a private folder")
        os.chown(job.work, uid, uid)
        os.chmod(job.work, 0o700)
    argv = [a.replace("/zg/runner", str(job.runner)) for a in argv]
    env = sandbox_env(bwrap.site_dirs(), home=str(job.work))
    return argv, env, str(job.work)


def others_can_run(exe: str) -> bool:
    """True when another uid could execute exe (every folder above it is o+x)."""
    p = Path(os.path.realpath(exe))
    return all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents])


def _supervise(
    cmd: list[str], env: dict[str, str], cwd: str, limits: Limits,
    group: cgroups.Group | None, chan: ProgressChannel | None, results: ResultChannel,
    fds: list[int], watch: Watchdog | None, close_after_start: list[int],
) -> SandboxResult:
    """Start the job, pump its output, enforce every limit; on every exit path kill it all."""
    t0 = time.monotonic()
    proc: subprocess.Popen[bytes] | None = None
    cap: OutputCap | None = None
    try:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, pass_fds=tuple(fds))
        for fd in close_after_start:
            os.close(fd)
        close_after_start = []
        if chan is not None:
            chan.started(proc.pid, group)
        results.started()
        cap = OutputCap(proc, limits.keep_bytes, limits.output_bytes)

        def tick() -> str | None:
            if results.violation:
                return "results"
            return watch() if watch is not None else None

        killed = cap.pump(deadline=t0 + limits.wall_s, tick=tick)
        if killed is not None or proc.poll() is None:
            _kill_all(proc, group)
        rc = proc.wait()
    finally:
        for fd in close_after_start:
            os.close(fd)
        if proc is not None and proc.poll() is None:
            _kill_all(proc, group)
            proc.wait()
        if cap is not None:
            cap.close()
    results.finish()
    if killed is None and results.violation:
        killed = "results"
    if killed is None and group is not None and group.oom_killed():
        killed = "memory"
    notes = [f"results: {results.violation}"] if results.violation else []
    if watch is not None and watch.blind:
        notes.append("scratch file-count watchdog could not see the job's mounts")
    return SandboxResult(
        returncode=rc, stdout=cap.text("stdout"), stderr=cap.text("stderr"),
        wall_s=time.monotonic() - t0, killed=killed, notes=notes,
        progress=chan.finish() if chan else [],
    )


def _kill_all(proc: subprocess.Popen[bytes], group: cgroups.Group | None) -> None:
    """SIGKILL the job's session, its cgroup and the first process (bwrap: its PID namespace
    dies with it); the slot uid's leftovers are killed when the slot is released."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if group is not None:
        group.kill()
    try:
        proc.kill()
    except ProcessLookupError:
        pass
