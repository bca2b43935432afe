"""Remove `zg-*` temporary folders that killed gradings left behind on this host."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from app.config import Settings

log = logging.getLogger(__name__)
PREFIX = "zg-"
_OWNER = re.compile(r"^zg-[a-z-]+?-(\d+)-")  # zg-fork-<pid>-xxxx: the grading process's pid


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (also one we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def longest_task_s(settings: Settings) -> float:
    """No grading outlives this: the hard time limit plus the fork fetch, with a margin."""
    return settings.task_time_limit_s + settings.fork_timeout_s + 60


def stale(path: Path, max_age_s: float, now: float) -> bool:
    """Older than max_age_s and not owned by a live process (when its name tells the owner)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if not path.is_dir() or path.is_symlink() or now - st.st_mtime < max_age_s:
        return False
    m = _OWNER.match(path.name)
    return not (m and pid_alive(int(m.group(1))))


def sweep_temp(settings: Settings, root: Path | None = None) -> int:
    """Remove the stale zg-* folders under the temp directory; how many went."""
    root = Path(root or tempfile.gettempdir())
    now, removed = time.time(), 0
    try:
        entries = [p for p in root.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return 0
    for path in entries:
        if stale(path, longest_task_s(settings), now):
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
    if removed:
        log.warning("removed %d stale %s* folder(s) from %s", removed, PREFIX, root)
    return removed
