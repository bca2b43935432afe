"""Sandbox jobs for tests: a folder and an interpreter the job's slot uid can reach."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader import jail, sandbox
from grader.sandbox import Job

PY = os.path.realpath(sys.executable)
SYSTEM_PY = "/usr/bin/python3.11"  # stdlib-only snippets under the fallback backend


def python(backend: str) -> str:
    """The venv's interpreter, or (fallback, where it sits in a private folder) the system's."""
    return PY if backend == "bwrap" or sandbox.others_can_run(PY) else SYSTEM_PY


@contextmanager
def job_for(backend: str, tmp_path: Path) -> Iterator[Job]:
    """A prepared job. Root-setup bwrap binds its folders in as root; the fallback and
    "userns" bwrap open them as the slot uid, and pytest's tmp_path sits in a private folder,
    so those get one under /tmp."""
    private_ok = backend == "bwrap" and jail.mode() == "root-setup"
    root = tmp_path / uuid.uuid4().hex[:8] if private_ok else \
        Path(tempfile.mkdtemp(prefix="zg-test-"))
    job = Job(root)
    job.make_dirs()
    os.chmod(job.root, 0o711)
    try:
        yield job
    finally:
        if not private_ok:
            shutil.rmtree(root, ignore_errors=True)
