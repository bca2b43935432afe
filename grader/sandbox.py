"""Run an untrusted command in a sandbox with limits enforced from outside."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import cgroups
from grader.outputcap import OutputCap
from grader.turns import ProgressChannel

OUR_PACKAGES = ("app", "grader", "reference", "workers")
GPU_SHARED_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")


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
    address_space: bool = True  # RLIMIT_AS; off for GPU jobs


@dataclass
class SandboxResult:
    """What came back from one sandboxed run."""

    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    killed: str | None = None  # "timeout" | "output" | "memory" | None
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


def bwrap_path() -> str | None:
    """Path of a working bubblewrap, or None."""
    return shutil.which("bwrap")


def _python_binds() -> tuple[list[str], list[str]]:
    """Read-only binds for the interpreter and the site-packages visible to it."""
    args: list[str] = []
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr"):
        args += ["--ro-bind", prefix, prefix]
    sites: list[str] = []
    for i, site in enumerate(_site_dirs()):
        dst = f"/zg/site{i}"
        args += ["--ro-bind", site, dst]
        for pkg in OUR_PACKAGES:  # never show the grader or the reference to students
            if os.path.isdir(os.path.join(site, pkg)):
                args += ["--tmpfs", f"{dst}/{pkg}"]
        sites.append(dst)
    return args, sites


def _site_dirs() -> list[str]:
    """The site-packages folders of this interpreter that hold numpy/torch."""
    import site

    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    return [os.path.realpath(d) for d in dirs]


def bwrap_command(job: Job, argv: list[str], limits: Limits, gpu_devices: list[str],
                  extra_env: dict[str, str] | None = None) -> list[str]:
    """The bwrap command line for a job (documented in README, tested).

    GPU jobs bind only their assigned /dev/nvidiaN nodes plus the driver's shared control
    nodes (nvidiactl, nvidia-uvm, nvidia-uvm-tools; bound if present); no other GPU is visible.
    """
    py_args, sites = _python_binds()
    cmd = [
        bwrap_path() or "bwrap",
        "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
        "--die-with-parent", "--new-session", "--clearenv",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--dir", "/etc",
        "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(64 * 1024 * 1024), "--tmpfs", "/tmp",
        *py_args,
        "--size", str(limits.scratch_mb * 1024 * 1024), "--tmpfs", "/work",
    ]
    for f in sorted(job.work.iterdir()):
        cmd += ["--ro-bind", str(f), f"/work/{f.name}"]
    cmd += ["--ro-bind", str(job.runner), "/zg/runner", "--bind", str(job.out), "/zg/out"]
    for dev in gpu_devices:
        cmd += ["--dev-bind", dev, dev]
    if gpu_devices:
        for node in GPU_SHARED_NODES:
            cmd += ["--dev-bind-try", node, node]
    env = sandbox_env(sites, home="/work") | (extra_env or {})
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", "/work", "--", *argv]
    return cmd


def sandbox_env(sites: list[str], home: str) -> dict[str, str]:
    """The whole environment the student's process sees: no secrets."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "ZG_SITE": os.pathsep.join(sites),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def _rlimits(limits: Limits, drop_root: bool) -> None:
    """Child-side setup before exec: limits, own session, optional uid drop."""
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if limits.address_space:
        # torch reserves virtual memory on import; leave headroom above the RSS budget
        vm = (limits.memory_mb + 3072) * mb
        resource.setrlimit(resource.RLIMIT_AS, (vm, vm))
    if drop_root:
        os.setgid(65534)
        os.setgroups([])
        os.setuid(65534)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_procs, limits.max_procs))


def run(
    job: Job,
    argv: list[str],
    limits: Limits,
    backend: str = "auto",
    gpu_devices: list[str] | None = None,
    progress: bool | ProgressChannel = False,
) -> SandboxResult:
    """Run argv for a prepared job; never raises for anything the job does.

    GPU jobs run without RLIMIT_AS (CUDA reserves huge virtual ranges); memory stays capped
    by the cgroup. With progress=True (or a grader.turns.ProgressChannel, which may be
    gated) the job gets the write end of a pipe (fd number in $ZG_PROGRESS_FD); each line it
    writes there is timestamped here on arrival.
    """
    gpu_devices = gpu_devices or []
    if gpu_devices and limits.address_space:
        limits = replace(limits, address_space=False)
    chan = progress if isinstance(progress, ProgressChannel) else (
        ProgressChannel() if progress else None)
    extra_env = chan.env() if chan else {}
    use_bwrap = backend == "bwrap" or (backend == "auto" and bwrap_path() is not None)
    if use_bwrap:
        cmd = bwrap_command(job, argv, limits, gpu_devices, extra_env)
        env = {"PATH": "/usr/bin:/bin"}  # bwrap's own environ is visible as /proc/1/environ
        cwd = str(job.root)
        drop_root = False
    else:
        drop_root = os.geteuid() == 0 and others_can_run(argv[0])
        cmd, env, cwd = _fallback_command(job, argv, drop_root)
        env |= extra_env
    group = cgroups.create(limits.memory_mb, limits.max_procs)
    result = _supervise(cmd, env, cwd, limits, group, drop_root, chan)
    result.backend = "bwrap" if use_bwrap else "fallback"
    return result


def others_can_run(exe: str) -> bool:
    """True when uid nobody could execute exe (every folder above it is o+x)."""
    p = Path(os.path.realpath(exe))
    return all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents])


def _fallback_command(
    job: Job, argv: list[str], drop_root: bool
) -> tuple[list[str], dict[str, str], str]:
    """Weaker sandbox: clean env, own session, rlimits, uid nobody when root can drop."""
    if drop_root:
        for p in (job.work, job.out):
            os.chown(p, 65534, 65534)
            for f in p.iterdir():
                os.chown(f, 65534, 65534)
    argv = [a.replace("/zg/runner", str(job.runner)).replace("/zg/out", str(job.out)) for a in argv]
    env = sandbox_env(_site_dirs(), home=str(job.work))
    return argv, env, str(job.work)


def _supervise(
    cmd: list[str], env: dict[str, str], cwd: str, limits: Limits,
    group: cgroups.Group | None, drop_root: bool, chan: ProgressChannel | None = None,
) -> SandboxResult:
    """Start the job, pump its output, enforce wall clock and output caps, kill it all."""
    t0 = time.monotonic()

    def preexec() -> None:
        if group is not None:
            group.join()
        if chan is not None and chan.cpu is not None:
            os.sched_setaffinity(0, {chan.cpu})
        _rlimits(limits, drop_root)

    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec,
        pass_fds=chan.child_fds() if chan else (),
    )
    if chan is not None:
        chan.started(proc.pid, group)
    cap = OutputCap(proc, limits.keep_bytes, limits.output_bytes)
    killed = cap.pump(deadline=t0 + limits.wall_s)
    if killed is not None or proc.poll() is None:
        _kill_all(proc, group)
    rc = proc.wait()
    cap.close()
    if killed is None and group is not None and group.oom_killed():
        killed = "memory"
    notes = [f"cgroup: {group.kind}"] if group is not None else ["cgroup: none (rlimits only)"]
    if not drop_root and os.geteuid() == 0 and "bwrap" not in cmd[0]:
        notes.append("fallback ran as root: the interpreter is not executable by nobody")
    if group is not None:
        group.destroy()
    return SandboxResult(
        returncode=rc, stdout=cap.text("stdout"), stderr=cap.text("stderr"),
        wall_s=time.monotonic() - t0, killed=killed, notes=notes,
        progress=chan.finish() if chan else [],
    )


def _kill_all(proc: subprocess.Popen[bytes], group: cgroups.Group | None) -> None:
    """SIGKILL the job's session, its cgroup and the bwrap process."""
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
