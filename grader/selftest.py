"""The sandbox self-test a worker runs before it takes jobs: isolation is checked by behaviour.

A probe job tries what a hostile notebook would (write a kernel setting, read a root-only
file, open a socket, make a user namespace, mount, ptrace) and reports what it could do; the
trusted side also looks at the job's host uid from outside while it runs. Any capability the
job should not have, or a missing memory or process limit, fails the test and the worker
refuses to grade.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import jail, sandbox

PROBE = Path(__file__).with_name("probes") / "selftest.py"  # runs inside the sandbox
FORBIDDEN = ("write_proc_sys", "read_root_only_file", "network", "user_namespace", "mount",
             "ptrace", "write_root")


@dataclass
class SelfTest:
    """What the self-test found: failures (empty means the sandbox may be used) and facts."""

    failures: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the worker may take jobs."""
        return not self.failures


def run(backend: str = "bwrap", gpu_devices: list[str] | None = None) -> SelfTest:
    """Run the probe job once with the production limits; never raises."""
    st = SelfTest()
    if backend != "bwrap":
        st.failures.append(sandbox.FALLBACK_WARNING)
        return st
    try:
        _probe(st, gpu_devices or [])
    except Exception as e:  # noqa: BLE001 - any failure to set up is a refusal
        st.failures.append(f"the sandbox could not run a job: {e.__class__.__name__}: {e}")
    return st


def _probe(st: SelfTest, gpu: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="zg-selftest-") as tmp:
        job = sandbox.Job(Path(tmp))
        job.make_dirs()
        os.chmod(job.root, 0o711)
        (job.runner / "probe.py").write_text(PROBE.read_text())
        secret = job.runner / "root_only"
        secret.write_text("only the grader may read this")
        os.chmod(secret, 0o600)
        uids: list[int] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_uids, args=(uids, stop), daemon=True)
        watcher.start()
        try:
            res = sandbox.run(job, [PYTHON.decode(), "-I", "-S",
                                    "/zg/runner/probe.py"], sandbox.Limits(wall_s=20),
                              "bwrap", gpu)
        finally:
            stop.set()
            watcher.join(2)
        st.facts |= {"notes": res.notes, "host_uids": sorted(set(uids))}
        try:
            found = json.loads((job.out / "probe").read_text())
        except (OSError, ValueError):
            st.failures.append(f"the probe job did not report (rc {res.returncode}): "
                               f"{res.stderr[-500:]}")
            return
    st.facts |= found
    st.failures += [f"a job could {what.replace('_', ' ')}" for what in FORBIDDEN if found[what]]
    if 0 in uids:
        st.failures.append("a job ran as host root")
    if any(n.startswith("scratch file-count watchdog") for n in res.notes):
        st.failures.append("no file-count limit: the watchdog cannot see the job's scratch")
    if not found["address_limit"] and not any(n.startswith("cgroup: v") for n in res.notes):
        st.failures.append("no memory limit: neither RLIMIT_AS nor a memory cgroup")
    if not found["nproc_limit"] and not any(n.startswith("cgroup: v") for n in res.notes):
        st.failures.append("no process limit: neither RLIMIT_NPROC nor a pids cgroup")


PYTHON = os.path.realpath(sys.executable).encode()


def _watch_uids(out: list[int], stop: threading.Event) -> None:
    """Record the host (real and effective) uids of the probe's processes while it runs."""
    me = os.getpid()
    while not stop.is_set():
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == me:
                continue
            try:
                argv = (p / "cmdline").read_bytes().split(b"\0")
                if argv[0] != PYTHON or b"/zg/runner/probe.py" not in argv:
                    continue  # bwrap and setpriv carry the path too; only the job counts
                for line in (p / "status").read_text().splitlines():
                    if line.startswith("Uid:"):
                        out += [int(u) for u in line.split()[1:3]]
            except OSError:
                pass
        time.sleep(0.02)


def describe() -> str:
    """One line on how jobs are isolated here (for logs and the dashboard)."""
    return f"sandbox: bwrap {jail.mode()} mode, uid slots {jail.UID_BASE}+{jail.UID_SLOTS}"
