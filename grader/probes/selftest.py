"""Runs INSIDE the sandbox for the worker self-test (grader/selftest.py): what can a job do?"""

import ctypes
import json
import os
import resource
import socket
import time

libc = ctypes.CDLL(None, use_errno=True)


def write_sysctl() -> bool:
    """Open a kernel setting for writing (the kernel checks here; nothing is written)."""
    os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY))
    return True


def network() -> bool:
    """Reach the host's Postgres port."""
    socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    return True


def traceme() -> bool:
    """A forked child asks to be traced."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if libc.ptrace(0, 0, None, None) == 0 else 1)  # PTRACE_TRACEME
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


ATTEMPTS = {
    "write_proc_sys": write_sysctl,
    "read_root_only_file": lambda: open("/zg/runner/root_only", "rb").read(),
    "network": network,
    "user_namespace": lambda: libc.unshare(0x10000000) == 0,
    "mount": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0,
    "ptrace": traceme,
    "write_root": lambda: open("/zg-selftest", "w"),
}


def main() -> None:
    """Try each attempt, report what succeeded and which limits are set, then linger."""
    found: dict[str, bool] = {}
    for name, fn in ATTEMPTS.items():
        try:
            found[name] = bool(fn())
        except Exception:
            found[name] = False
    found["address_limit"] = resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY
    found["nproc_limit"] = resource.getrlimit(resource.RLIMIT_NPROC)[0] != \
        resource.RLIM_INFINITY
    data = json.dumps(found).encode()
    fd = int(os.environ["ZG_RESULT_FD"])
    os.write(fd, b"probe %d\n" % len(data) + data)
    time.sleep(0.3)  # the trusted side reads this process's host uid meanwhile


if __name__ == "__main__":
    main()
