"""The sandbox stops hostile code and leaks nothing (bwrap, and the weaker fallback)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from grader import sandbox
from grader.sandbox import Job, Limits
from tests.grader.jobs import job_for, python

BACKENDS = ["bwrap", "fallback"]


def run_snippet(tmp_path: Path, code: str, backend: str = "bwrap", **limits: object):
    """Run python code in a fresh job; returns the SandboxResult."""
    if backend == "bwrap" and sandbox.bwrap_path() is None:
        pytest.fail("bubblewrap is not installed (make deps installs it)")
    with job_for(backend, tmp_path) as job:
        (job.runner / "s.py").write_text(code)
        lim = Limits(**{"wall_s": 10.0, **limits})  # type: ignore[arg-type]
        return sandbox.run(job, [python(backend), "-I", "-S", "/zg/runner/s.py"], lim,
                           backend=backend)


def _alive_with(marker: str) -> list[int]:
    """PIDs whose command line contains marker."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_infinite_loop_is_stopped(tmp_path: Path, backend: str) -> None:
    t0 = time.monotonic()
    r = run_snippet(tmp_path, "while True:\n    pass\n", backend, wall_s=1.5)
    assert r.killed == "timeout"
    assert time.monotonic() - t0 < 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_print_is_stopped(tmp_path: Path, backend: str) -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    r = run_snippet(tmp_path, code, backend, output_bytes=4 * 1024 * 1024)
    assert r.killed == "output"
    assert len(r.stdout) < 64 * 1024  # only the head is kept
    assert "more bytes not shown" in r.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_ten_gigabyte_allocation_is_refused(tmp_path: Path, backend: str) -> None:
    code = "x = bytearray(10 * 1024**3)\nprint('allocated')\n"
    r = run_snippet(tmp_path, code, backend, memory_mb=512)
    assert "allocated" not in r.stdout
    assert r.killed == "memory" or "MemoryError" in r.stderr


def test_touched_allocation_is_killed_by_cgroup(tmp_path: Path) -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(b'a' * (64 * 1024**2))\n"
    r = run_snippet(tmp_path, code, "bwrap", memory_mb=256)
    assert r.killed == "memory" or "MemoryError" in r.stderr
    assert not r.ok


@pytest.mark.parametrize("backend", BACKENDS)
def test_fork_bomb_and_background_processes_die_with_the_job(tmp_path: Path, backend: str) -> None:
    marker = f"zgbomb{uuid.uuid4().hex[:8]}"
    code = (
        "import os, subprocess\n"
        f"subprocess.Popen(['sleep', '300', '{marker}'], start_new_session=True)\n"
        "while True:\n"
        "    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    r = run_snippet(tmp_path, code, backend, wall_s=3.0, max_procs=32)
    assert r.killed == "timeout"
    time.sleep(0.3)
    assert _alive_with(marker) == [], "a process of the job outlived it"


def test_no_network(tmp_path: Path) -> None:
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 6379), timeout=2)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('blocked', e)\n"
    )
    r = run_snippet(tmp_path, code)
    assert "blocked" in r.stdout and "CONNECTED" not in r.stdout


def test_no_secrets_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"S3CRET-{uuid.uuid4().hex}"
    monkeypatch.setenv("ZG_PLANTED_SECRET", secret)
    secret_file = tmp_path / "secret.key"
    secret_file.write_text(secret)
    code = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for p in ['/proc/1/environ', '/proc/self/environ', '/proc/2/environ', "
        f"'{secret_file}', '/etc/shadow', '{Path.cwd()}/grader/grade.py']:\n"
        "    try:\n"
        "        print(p, open(p, 'rb').read()[:10000])\n"
        "    except OSError as e:\n"
        "        print(p, 'denied', type(e).__name__)\n"
        "print(os.listdir('/'))\n"
    )
    r = run_snippet(tmp_path, code)
    assert r.ok, r.stderr
    assert secret not in r.stdout + r.stderr
    assert "ZG_PLANTED_SECRET" not in r.stdout
    assert f"{secret_file} denied" in r.stdout
    assert "grade.py denied" in r.stdout


def test_fallback_env_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PLANTED_SECRET", "fallback-secret")
    r = run_snippet(tmp_path, "import os\nprint(sorted(os.environ))\n", "fallback")
    assert r.ok, r.stderr
    assert "ZG_PLANTED_SECRET" not in r.stdout


def test_site_packages_hide_our_code(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "for s in os.environ['ZG_SITE'].split(':'):\n"
        "    for pkg in ('grader', 'reference', 'app', 'workers'):\n"
        "        p = os.path.join(s, pkg)\n"
        "        print(pkg, os.listdir(p) if os.path.isdir(p) else 'absent')\n"
    )
    r = run_snippet(tmp_path, code)
    assert r.ok, r.stderr
    assert "grade.py" not in r.stdout and "gpt.py" not in r.stdout


@pytest.mark.parametrize("mode", ["root-setup", "userns"])
def test_bwrap_command_shape(tmp_path: Path, mode: str) -> None:
    job = Job(tmp_path / "j")
    job.make_dirs()
    (job.work / "names.txt").write_text("emma\n")
    cmd = sandbox.bwrap_command(job, ["python"], Limits(), ["/dev/nvidia0"], mode=mode,
                                uid=61001, seccomp_fd=7)
    joined = " ".join(cmd)
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent",
                 "--clearenv", "--new-session"):
        assert flag in cmd
    assert "--ro-bind" in cmd and f"{job.work}/names.txt /work/names.txt" in joined
    assert "--dev-bind /dev/nvidia0 /dev/nvidia0" in joined
    assert "--share-net" not in cmd and "--seccomp 7" in joined
    assert "--remount-ro / " in joined and "--remount-ro /dev " in joined
    for d in ("/work", "/tmp", "/dev/shm"):  # every writable place is a sized tmpfs
        assert f"--tmpfs {d}" in joined and joined.split(f"--tmpfs {d}")[0].split()[-2] == \
            "--size"
    assert "/zg/out" not in joined  # results leave on a pipe, not through a host folder
    if mode == "userns":
        assert "--unshare-user" in cmd and "--disable-userns" in cmd
    else:  # bwrap builds the namespaces as root; the job itself starts as the slot uid
        assert "--unshare-user" not in cmd and "--unshare-all" not in cmd
        assert cmd[cmd.index("--") + 1:][:2] == ["setpriv", "--reuid=61001"]
