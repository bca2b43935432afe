"""Findings of the hostile review of the sandbox (issue 9), each as the attack that found it.

Run as root (as CI does), like tests/grader/test_sandbox_attacks.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import bwrap, jail, sandbox, selftest
from grader.sandbox import Limits
from tests.grader.jobs import PY, SYSTEM_PY, job_for

MODES = ["root-setup", "userns"]

# Walk the job's whole tree (not /proc) and try to create a file in every folder.
WRITABLE_WALK = """
import os
found = []
for d, subdirs, _ in os.walk('/'):
    if d.startswith('/proc'):
        subdirs[:] = []
        continue
    try:
        os.close(os.open(d + '/.zg-probe', os.O_WRONLY | os.O_CREAT, 0o600))
        os.unlink(d + '/.zg-probe')
        found.append(d)
    except OSError:
        pass
print('WRITABLE', ' '.join(sorted(found)))
"""


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test in each bwrap mode ("userns" with /usr's interpreter)."""
    if os.geteuid() != 0:
        pytest.fail("the sandbox review suite runs as root (as CI does)")
    if request.param == "userns":
        monkeypatch.setattr(jail, "mode", lambda: "userns")
        monkeypatch.setattr(sys, "base_prefix", "/usr")  # the slot uid cannot reach /root
    return str(request.param)


@pytest.fixture
def site_with_our_packages(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site-packages folder that holds the grader (as a non-editable install does)."""
    site = Path(tempfile.mkdtemp(prefix="zg-site-"))
    for pkg in bwrap.OUR_PACKAGES:
        (site / pkg).mkdir()
    os.chmod(site, 0o755)
    monkeypatch.setattr(bwrap, "site_dirs", lambda: [str(site)])
    yield site
    shutil.rmtree(site, ignore_errors=True)


def run(tmp_path: Path, code: str, mode: str) -> sandbox.SandboxResult:
    """Run code under bwrap in the given mode."""
    with job_for("bwrap", tmp_path) as job:
        (job.runner / "s.py").write_text(code)
        py = SYSTEM_PY if mode == "userns" else PY
        return sandbox.run(job, [py, "-I", "-S", "/zg/runner/s.py"], Limits(wall_s=20),
                           "bwrap")


def test_only_the_sized_scratch_is_writable(tmp_path: Path, mode: str,
                                            site_with_our_packages: Path) -> None:
    # the tmpfs that masks our packages in site-packages was owned by the job in "userns"
    # mode, writable, 50% of RAM in size and not watched for files
    r = run(tmp_path, WRITABLE_WALK, mode)
    assert r.ok, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("WRITABLE"))
    assert sorted(line.split()[1:]) == sorted(bwrap.SCRATCH)


def test_job_cannot_take_the_hosts_ptys(tmp_path: Path, mode: str) -> None:
    # kernel.pty.max (4096) is host-wide: one job held 1920 ptys and, with 64 processes of
    # 256 fds, could take every pty of every container and sandbox on the host
    code = ("import os\nfds = []\ntry:\n    for _ in range(50):\n"
            "        fds.append(os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY))\n"
            "except OSError as e:\n    print('denied', e.errno)\nprint('PTYS', len(fds))\n")
    r = run(tmp_path, code, mode)
    assert r.ok, r.stderr
    assert "PTYS 0" in r.stdout


def test_memfd_pages_are_bounded_without_a_cgroup(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.cgroups, "create", lambda *a: None)
    code = ("import os\nfds = []\nchunk = b'1' * (1 << 20)\ntry:\n"
            "    for _ in range(12):\n        fd = os.memfd_create('x')\n"
            "        for _ in range(60):\n            os.write(fd, chunk)\n"
            "        fds.append(fd)\nexcept OSError as e:\n    print('denied', e.errno)\n"
            "print('HELD_MB', 60 * len(fds))\n")
    with job_for("bwrap", tmp_path) as job:
        (job.runner / "s.py").write_text(code)
        r = sandbox.run(job, [PY, "-I", "-S", "/zg/runner/s.py"],
                        Limits(wall_s=20, memory_mb=256), "bwrap")
    held = int(r.stdout.split("HELD_MB")[1]) if "HELD_MB" in r.stdout else 0
    assert r.killed == "memory" or held <= 256, (held, r.stdout, r.stderr)


def test_self_test_refuses_a_blind_file_count_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    # without CAP_SYS_PTRACE (a container's cap_add list trimmed) the grader cannot statvfs
    # /proc/PID/root/*: the inode watchdog went blind with only a note, and the worker graded on
    real_statvfs = os.statvfs

    def denied(path: str) -> os.statvfs_result:
        if str(path).startswith("/proc/"):
            raise PermissionError(13, "Permission denied", path)
        return real_statvfs(path)

    monkeypatch.setattr(sandbox.os, "statvfs", denied)
    st = selftest.run()
    assert not st.ok
    assert any("file-count" in f for f in st.failures), st.failures


def test_a_sandbox_that_never_starts_is_a_grader_fault(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # bwrap failing to set up (no user namespaces on the host, a cgroup it cannot join, ...)
    # came back as the student's "process ended before the checks could run": a 0
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(bwrap, "bwrap_path", lambda: str(fake))
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: str(fake))
    with pytest.raises(sandbox.SandboxUnavailable, match="did not start"):
        run(tmp_path, "print('never runs')\n", "root-setup")


def test_a_job_that_fakes_a_setup_failure_is_still_its_own(tmp_path: Path, mode: str) -> None:
    code = ("import os, sys\nsys.stderr.write('bwrap: No permissions to create new "
            "namespace\\n')\nsys.stderr.flush()\nos._exit(1)\n")
    r = run(tmp_path, code, mode)
    assert r.returncode == 1 and "bwrap:" in r.stderr


def _host_has_vsock() -> bool:
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
    except (OSError, AttributeError):
        return False
    return True


def test_only_unix_inet_and_netlink_sockets(tmp_path: Path, mode: str) -> None:
    # AF_VSOCK is not network-namespaced: on a VM the job could talk to the hypervisor host
    if not _host_has_vsock():
        pytest.skip("this host has no AF_VSOCK to refuse")
    code = ("import socket\nfor fam, kind in ((40, 1), (40, 5), (38, 5), (17, 3)):\n"
            "    try:\n        socket.socket(fam, kind).close()\n        print('OPEN', fam)\n"
            "    except OSError as e:\n        print('denied', fam, e.errno)\n"
            "a, b = socket.socketpair()\na.send(b'x')\nassert b.recv(1) == b'x'\n"
            "socket.socket(socket.AF_INET6, socket.SOCK_STREAM).bind(('::1', 0))\n"
            "print('FINE')\n")
    r = run(tmp_path, code, mode)
    assert r.ok, r.stderr
    assert "OPEN" not in r.stdout and "FINE" in r.stdout, r.stdout


def test_proc_sys_is_a_read_only_mount(tmp_path: Path, mode: str) -> None:
    # bwrap 0.8 left /proc/sys a read-write mount in both modes (only the job's uid kept the
    # kernel settings safe); the issue asks for both
    code = ("for line in open('/proc/self/mountinfo'):\n    f = line.split()\n"
            "    if f[4] == '/proc/sys':\n        print('MOUNT', f[5].split(',')[0])\n")
    r = run(tmp_path, code, mode)
    assert r.ok, r.stderr
    assert "MOUNT ro" in r.stdout, r.stdout


def test_forked_memory_is_bounded_without_a_cgroup(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.cgroups, "create", lambda *a: None)
    code = ("import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n"
            "    if pid == 0:\n        b = b'1' * (300 << 20)\n        time.sleep(3)\n"
            "        os._exit(0)\n    kids.append(pid)\ntime.sleep(2)\nrss = 0\n"
            "for p in kids:\n    for line in open(f'/proc/{p}/status'):\n"
            "        if line.startswith('VmRSS'):\n            rss += int(line.split()[1])\n"
            "print('RSS_MB', rss // 1024)\nfor p in kids:\n    os.waitpid(p, 0)\n")
    with job_for("bwrap", tmp_path) as job:
        (job.runner / "s.py").write_text(code)
        r = sandbox.run(job, [PY, "-I", "-S", "/zg/runner/s.py"],
                        Limits(wall_s=20, memory_mb=256), "bwrap")
    rss = int(r.stdout.split("RSS_MB")[1]) if "RSS_MB" in r.stdout else 0
    assert r.killed == "memory" or rss <= 256, (rss, r.stdout, r.stderr)


PAUSE_ESCAPE = """
import os, signal, time
fd = int(os.environ['ZG_PROGRESS_FD'])
if os.fork() == 0:  # the work: reports progress all the time
    while True:
        os.write(fd, b'tick\\n')
        time.sleep(0.01)
for _ in range(3):  # chains of short-lived processes, each waking everyone
    if os.fork() == 0:
        while True:
            os.kill(-1, signal.SIGCONT)
            try:
                if os.fork():
                    os._exit(0)
            except OSError:  # the process limit, for a moment: wake them again
                pass
while True:
    time.sleep(1)
"""


def test_a_paused_job_stays_paused_without_a_cgroup(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from grader.turns import ProgressChannel

    monkeypatch.setattr(sandbox.cgroups, "create", lambda *a: None)
    chan = ProgressChannel()
    got: list[sandbox.SandboxResult] = []
    with job_for("bwrap", tmp_path) as job:
        (job.runner / "s.py").write_text(PAUSE_ESCAPE)
        t = threading.Thread(target=lambda: got.append(sandbox.run(
            job, [PY, "-I", "-S", "/zg/runner/s.py"], Limits(wall_s=4), "bwrap",
            progress=chan)))
        t.start()
        time.sleep(1.5)
        chan.pause()
        p0 = time.monotonic()
        time.sleep(1.0)
        p1 = time.monotonic()
        chan.resume()
        t.join()
    during = [line for ts, line in got[0].progress if p0 + 0.1 < ts < p1]
    assert not during, f"{len(during)} progress lines while paused"
