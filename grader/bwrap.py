"""The bubblewrap command line of a job (documented in the README, tested).

Namespaces: mount, PID, network, IPC, UTS, cgroup (and user, in "userns" mode, with further
user namespaces disabled). The root, /dev and /proc/sys are read-only; the only writable
places are size-limited tmpfs mounts (/work, /tmp, /dev/shm). The syscall filter
(grader/syscalls.py) is loaded last, right before the job's program runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Protocol

from grader import jail

OUR_PACKAGES = ("app", "grader", "reference", "workers")
GPU_SHARED_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
SANDBOX_UID = 65534  # what the job sees as its own uid in "userns" mode
SCRATCH = ("/work", "/tmp", "/dev/shm")
STARTED = ["/bin/sh", "-c", 'printf 1 >/dev/fd/$0 && exec "$@"']  # dash: no fd numbers > 9


class JobDirs(Protocol):
    """The folders of a prepared job (grader.sandbox.Job)."""

    @property
    def runner(self) -> Path: ...
    @property
    def work(self) -> Path: ...


class Sizes(Protocol):
    """The limits the mounts use (grader.sandbox.Limits)."""

    @property
    def scratch_mb(self) -> int: ...
    @property
    def tmp_mb(self) -> int: ...


def bwrap_path() -> str | None:
    """Path of bubblewrap, or None."""
    return shutil.which("bwrap")


def site_dirs() -> list[str]:
    """The site-packages folders of this interpreter that hold numpy/torch."""
    import site

    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    return [os.path.realpath(d) for d in dirs]


def python_binds() -> tuple[list[str], list[str]]:
    """Read-only binds for the interpreter and its site-packages (our packages masked)."""
    args: list[str] = _dirs("/zg/site")
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr"):
        args += [*_dirs(prefix), "--ro-bind", prefix, prefix]
    sites: list[str] = []
    for i, site in enumerate(site_dirs()):
        dst = f"/zg/site{i}"
        args += ["--ro-bind", site, dst]
        for pkg in OUR_PACKAGES:  # never show the grader or the reference to students
            if os.path.isdir(os.path.join(site, pkg)):  # read-only: in "userns" mode the
                args += ["--tmpfs", f"{dst}/{pkg}", "--remount-ro", f"{dst}/{pkg}"]  # job owns it
        sites.append(dst)
    return args, sites


def _dirs(path: str) -> list[str]:
    """World-readable mount-point folders above path (bwrap would copy private modes)."""
    out: list[str] = []
    for parent in reversed(Path(path).parents[:-1] if path != "/" else []):
        out += ["--perms", "0755", "--dir", str(parent)]
    return out


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


def namespaces(mode: str) -> list[str]:
    """Unshare flags: in "root-setup" mode no user namespace (the job drops to its uid)."""
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
              "--unshare-cgroup-try"]
    if mode == "root-setup":
        return common
    return [*common, "--unshare-user", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]


def mounts(job: JobDirs, limits: Sizes, gpu_devices: list[str]) -> tuple[list[str], list[str]]:
    """The filesystem: read-only system and job files, size-limited scratch; and the sites."""
    py_args, sites = python_binds()
    mb = 1024 * 1024
    cmd = [
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--dir", "/etc",
        "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
        "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",  # sysctls: read-only
        "--dev", "/dev", "--tmpfs", "/dev/pts",  # no ptys: the host's 4096 are shared by all
        "--size", str(limits.tmp_mb * mb), "--tmpfs", "/dev/shm",
        "--size", str(limits.tmp_mb * mb), "--tmpfs", "/tmp",
        *py_args,
        "--size", str(limits.scratch_mb * mb), "--tmpfs", "/work",
    ]
    for f in sorted(job.work.iterdir()):
        cmd += ["--ro-bind", str(f), f"/work/{f.name}"]
    cmd += ["--ro-bind", str(job.runner), "/zg/runner"]
    for dev in gpu_devices:
        cmd += ["--dev-bind", dev, dev]
    if gpu_devices:
        for node in GPU_SHARED_NODES:
            cmd += ["--dev-bind-try", node, node]
    for d in SCRATCH:
        cmd += ["--chmod", "1777", d]
    cmd += ["--remount-ro", "/dev/pts", "--remount-ro", "/dev", "--remount-ro", "/"]
    return cmd, sites


def command(job: JobDirs, argv: list[str], limits: Sizes, gpu_devices: list[str],
            extra_env: dict[str, str] | None = None, *, mode: str = "userns",
            uid: int | None = None, seccomp_fd: int | None = None,
            info_fd: int | None = None, started_fd: int | None = None) -> list[str]:
    """The bwrap argv. In "root-setup" mode the job's program is started through setpriv,
    which drops to the slot uid (bwrap keeps only CAP_SETUID/SETGID for that one step).
    With started_fd, a byte is written there once the sandbox is set up, right before the
    job's program is exec'd (no byte: the sandbox failed, not the student)."""
    fs, sites = mounts(job, limits, gpu_devices)
    cmd = [bwrap_path() or "bwrap", *namespaces(mode),
           "--die-with-parent", "--new-session", "--clearenv", *fs]
    env = sandbox_env(sites, home="/work") | (extra_env or {})
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    if info_fd is not None:
        cmd += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    inner = argv if started_fd is None else [*STARTED, str(started_fd), *argv]
    if mode == "root-setup":
        if uid is None:
            raise ValueError("root-setup mode needs a slot uid")
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        inner = [*jail.setpriv(uid, bounding=True), *inner]
    return [*cmd, "--chdir", "/work", "--", *inner]
