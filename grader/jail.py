"""Who a job runs as, and the exec chain that puts it there (no preexec_fn, thread-safe).

Every job gets its own unprivileged host uid from a pool of slots (like isolate's box ids):
it owns nothing of the grader's, RLIMIT_NPROC counts exactly its processes, no job can signal
or read another, and at the end every process of that uid is killed. The chain is plain
exec'd tools, so it is safe to start from any thread:

    sh (joins the job's cgroup) -> prlimit (rlimits) -> [taskset] -> [setpriv: drop to the slot
    uid] -> bwrap | python

Two bwrap modes: with CAP_SYS_ADMIN (a root grader on a host or a privileged container) bwrap
runs as root to build the namespaces and the job drops to the slot uid inside, before exec,
via setpriv ("root-setup"); otherwise the chain drops to the slot uid first and bwrap makes a
user namespace as that uid ("userns"). Either way the job's host uid is the slot's, never 0.
A grader that is not root cannot switch uids: its jobs share its uid ("shared"; reported).
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

UID_BASE = 61000  # first slot uid; the workers set it from Settings (see configure)
UID_SLOTS = 64
LOCK_DIR: Path | None = None  # where slot locks live (None: <tmp>/zerograd-slots)
CAP_SYS_ADMIN = 21
JOIN_CGROUP = 'for d in $ZG_CG; do echo $$ > "$d/cgroup.procs" || exit 125; done; ' \
              'unset ZG_CG; exec "$@"'


def configure(uid_base: int, slots: int, lock_dir: Path | None = None) -> None:
    """Set the uid pool (a deployment setting: workers on one host share uids, so give each
    worker service its own range, and replicas of one service one lock folder)."""
    global UID_BASE, UID_SLOTS, LOCK_DIR
    UID_BASE, UID_SLOTS, LOCK_DIR = uid_base, slots, lock_dir


def is_root() -> bool:
    """True when this process can switch uids."""
    return os.geteuid() == 0


def has_cap(bit: int) -> bool:
    """Whether this process holds an effective capability."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return False


def mode() -> str:
    """"root-setup" | "userns" | "shared" (see the module docstring)."""
    if not is_root():
        return "shared"
    return "root-setup" if has_cap(CAP_SYS_ADMIN) else "userns"


@dataclass
class Slot:
    """One job's host uid, held (flock) for the job's lifetime; uid None: shared uid."""

    uid: int | None
    fd: int = -1

    def release(self) -> None:
        """Kill whatever still runs as the slot's uid and free it."""
        if self.uid is not None:
            kill_uid(self.uid)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class NoFreeSlot(RuntimeError):
    """Every uid slot is busy (more concurrent jobs than UID_SLOTS)."""


def acquire(wait_s: float = 30.0) -> Slot:
    """A free slot uid (exclusive across processes on this host), leftovers killed."""
    if not is_root():
        return Slot(None)
    locks = LOCK_DIR or Path(tempfile.gettempdir()) / "zerograd-slots"
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    end = time.monotonic() + wait_s
    while True:
        for uid in range(UID_BASE, UID_BASE + UID_SLOTS):
            fd = os.open(locks / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            kill_uid(uid)
            return Slot(uid, fd)
        if time.monotonic() > end:
            raise NoFreeSlot(f"all {UID_SLOTS} sandbox uids from {UID_BASE} are in use")
        time.sleep(0.05)


def uid_pids(uid: int) -> list[int]:
    """Processes whose real uid is uid."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.stat().st_uid != uid:
                    continue
                status = (p / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("Uid:") and int(line.split()[1]) == uid:
                    found.append(int(p.name))
                    break
    return found


def kill_uid(uid: int) -> None:
    """SIGKILL every process of uid until none is left (a slot uid is never a real user)."""
    for _ in range(200):
        pids = uid_pids(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def chain(*, cgroup_dirs: list[Path], rlimits: list[str], cpu: int | None,
          drop_to: int | None) -> list[str]:
    """The exec prefix: cgroup join, rlimits, CPU pin, uid drop (each only when asked)."""
    cmd: list[str] = ["/bin/sh", "-c", JOIN_CGROUP, "zg"] if cgroup_dirs else []
    cmd += ["prlimit", *rlimits, "--"]
    if cpu is not None:
        cmd += ["taskset", "-c", str(cpu)]
    if drop_to is not None:
        cmd += setpriv(drop_to)
    return cmd


def setpriv(uid: int, bounding: bool = False) -> list[str]:
    """Become uid (and gid uid) with no groups, no capabilities, no new privileges (and an
    empty bounding set, where this process may still change it)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", *(["--bounding-set=-all"] if bounding else []),
            "--no-new-privs", "--"]


def rlimit_args(*, file_mb: int, address_mb: int | None, nproc: int | None) -> list[str]:
    """prlimit flags: no core dumps, file size, open files, address space, processes."""
    mb = 1024 * 1024
    args = ["--core=0", f"--fsize={file_mb * mb}", "--nofile=256"]
    if address_mb is not None:
        args.append(f"--as={address_mb * mb}")
    if nproc is not None:
        args.append(f"--nproc={nproc}")
    return args


def cgroup_env(cgroup_dirs: list[Path]) -> dict[str, str]:
    """The variable the chain's first step reads (and unsets) to join the job's group."""
    return {"ZG_CG": " ".join(str(d) for d in cgroup_dirs)} if cgroup_dirs else {}
