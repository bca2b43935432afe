"""Limits polled from outside while a job runs, for what tmpfs and rlimits cannot cap alone.

- files: tmpfs has a byte size but no inode cap here; millions of empty files would be
  unbounded kernel memory. The scratch mounts are read through /proc/PID/root.
- memory without a cgroup: RLIMIT_AS is per process, so forked children add up; the slot
  uid's anonymous resident memory is summed instead (memfd and SysV shm, which no RSS shows,
  are refused by the strict syscall filter such jobs get).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from grader import bwrap, jail

PAGE = os.sysconf("SC_PAGE_SIZE")


class Watchdog:
    """Called about every 0.1 s by the supervisor: a kill reason, or None."""

    def __init__(self, info_fd: int, max_inodes: int, uid: int | None, memory_mb: int) -> None:
        self.info_fd, self.max_inodes = info_fd, max_inodes
        self.uid, self.max_bytes = uid, memory_mb * 1024 * 1024
        os.set_blocking(info_fd, False)
        self.buf = b""
        self.child = 0
        self.blind = False

    def __call__(self) -> str | None:
        """"files" past the inode cap, "memory" past the uid's memory budget."""
        if self.uid is not None and anon_bytes(self.uid) > self.max_bytes:
            return "memory"
        if not self.child and not self._read_child():
            return None
        for d in bwrap.SCRATCH:
            try:
                st = os.statvfs(f"/proc/{self.child}/root{d}")
            except PermissionError:
                self.blind = True
                continue
            except OSError:  # the job is ending
                continue
            if st.f_files - st.f_ffree > self.max_inodes:
                return "files"
        return None

    def _read_child(self) -> bool:
        try:
            self.buf += os.read(self.info_fd, 4096)
        except OSError:  # nothing yet (BlockingIOError), or bwrap is gone
            return False
        try:
            self.child = int(json.loads(self.buf.decode())["child-pid"])
        except (ValueError, KeyError):
            return False
        return True

    def close(self) -> None:
        """Release the info pipe."""
        os.close(self.info_fd)


def anon_bytes(uid: int) -> int:
    """Resident memory not backed by files, summed over every process of uid."""
    total = 0
    for pid in jail.uid_pids(uid):
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        total += (int(fields[1]) - int(fields[2])) * PAGE
    return total
