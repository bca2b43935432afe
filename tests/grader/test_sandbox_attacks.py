"""What a hostile notebook tries against the sandbox; each attempt is contained, the grader lives.

Run as root (as CI does): every test here fails if the job is host-root-mapped. "userns" mode
(the chain drops to the slot uid, then bwrap makes a user namespace) is exercised with the
system interpreter, since this machine's venv interpreter lives under /root (0700).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader import bwrap, cgroups, jail, sandbox
from grader.sandbox import Limits, SandboxUnavailable
from tests.grader.jobs import PY, SYSTEM_PY, job_for

SYSCTLS = ("kernel/core_pattern", "kernel/core_uses_pid", "kernel/core_pipe_limit",
           "vm/overcommit_memory", "vm/drop_caches", "fs/file-max", "fs/suid_dumpable")
MODES = ["root-setup", "userns"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test in each bwrap mode."""
    if os.geteuid() != 0:
        pytest.fail("the sandbox attack suite runs as root (as CI does)")
    if request.param == "userns":
        monkeypatch.setattr(jail, "mode", lambda: "userns")
        monkeypatch.setattr(bwrap, "python_binds", lambda: ([], []))  # /usr's python only
    return str(request.param)


def run(tmp_path: Path, code: str, mode: str = "root-setup", **limits: object
        ) -> sandbox.SandboxResult:
    """Run code under bwrap; the job's out/ folder contents land in result.notes' end."""
    py = SYSTEM_PY if mode == "userns" else PY
    with job_for("bwrap", tmp_path) as job:
        (job.runner / "s.py").write_text(code)
        lim = Limits(**{"wall_s": 20.0, **limits})  # type: ignore[arg-type]
        r = sandbox.run(job, [py, "-I", "-S", "/zg/runner/s.py"], lim, "bwrap")
        r.notes.append("out: " + " ".join(sorted(p.name for p in job.out.iterdir())))
        return r


def no_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the host gives no writable cgroup (as an unprivileged container does)."""
    monkeypatch.setattr(cgroups, "create", lambda *a: None)


def test_kernel_settings_are_read_only(tmp_path: Path, mode: str) -> None:
    present = [s for s in SYSCTLS if Path(f"/proc/sys/{s}").exists()]
    # opening for writing is where the kernel checks; nothing is written even if it succeeds
    code = (f"import os\nfor s in {tuple(present)!r}:\n    try:\n"
            "        os.close(os.open('/proc/sys/' + s, os.O_WRONLY))\n        print('OPENED', s)\n"
            "    except OSError as e:\n        print('denied', s, e.errno)\n")
    r = run(tmp_path, code, mode)
    assert r.ok, r.stderr
    assert "OPENED" not in r.stdout and r.stdout.count("denied") == len(present) == 7


def test_job_runs_as_its_slot_uid_never_root(tmp_path: Path, mode: str) -> None:
    secret = tmp_path / "root_only"
    secret.write_text("grader secret")
    os.chmod(secret, 0o600)
    with job_for("bwrap", tmp_path) as job:
        os.link(secret, job.runner / "root_only")
        (job.runner / "s.py").write_text(
            "import os, time\ntry:\n    print(open('/zg/runner/root_only').read())\n"
            "except OSError as e:\n    print('denied', e.errno)\ntime.sleep(0.5)\n")
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.extend(_job_uids("/zg/runner/s.py", 1.0)))
        t.start()
        r = sandbox.run(job, [SYSTEM_PY if mode == "userns" else PY, "-I", "-S",
                              "/zg/runner/s.py"], Limits(wall_s=10), "bwrap")
        t.join()
    assert r.ok, r.stderr
    assert "grader secret" not in r.stdout and "denied 13" in r.stdout
    assert seen and 0 not in seen and all(jail.UID_BASE <= u < jail.UID_BASE + jail.UID_SLOTS
                                          for u in seen)


def _job_uids(marker: str, seconds: float) -> list[int]:
    """Real uids of the job's Python processes seen on the host within `seconds`."""
    end, uids = time.monotonic() + seconds, []
    while time.monotonic() < end:
        for p in Path("/proc").iterdir():
            try:
                argv = (p / "cmdline").read_bytes().split(b"\0")
                if argv[0].endswith(b"python3.11") and marker.encode() in argv:
                    uids.append(int((p / "status").read_text().split("Uid:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
        time.sleep(0.02)
    return uids


KERNEL_CALLS = r"""
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def show(name, succeeded):
    print(name, 'OK' if succeeded else 'refused')
show('unshare_user', libc.unshare(0x10000000) == 0)
show('unshare_mount', libc.unshare(0x00020000) == 0)
show('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0)
show('keyctl', libc.syscall(250, 0, -3, 0, 0, 0) != -1)  # KEYCTL_GET_KEYRING_ID, session
show('bpf', libc.syscall(321, 0, None, 0) != -1)
show('perf', libc.syscall(298, None, 0, -1, -1, 0) != -1)
p = subprocess.run(['unshare', '-U', '-r', '-n', 'true'], capture_output=True)
show('unshare_cmd', p.returncode == 0)
pid = os.fork()
if pid == 0:
    import time; time.sleep(5); os._exit(0)
show('ptrace_sibling', libc.ptrace(16, pid, None, None) == 0)  # PTRACE_ATTACH
os.kill(pid, 9)
"""


def test_kernel_surface_is_sealed(tmp_path: Path, mode: str) -> None:
    r = run(tmp_path, KERNEL_CALLS, mode)
    assert r.ok, r.stderr
    lines = dict(line.split() for line in r.stdout.splitlines())
    assert set(lines) == {"unshare_user", "unshare_mount", "mount", "keyctl", "bpf", "perf",
                          "unshare_cmd", "ptrace_sibling"}
    assert set(lines.values()) == {"refused"}, lines


def test_root_dev_and_sys_are_not_writable(tmp_path: Path, mode: str) -> None:
    code = ("import os\nfor p in ['/evil', '/dev/evil', '/usr/evil', '/zg/runner/evil', "
            "'/sys/kernel/mm/transparent_hugepage/enabled', '/proc/sysrq-trigger']:\n"
            "    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n"
            "    except OSError as e:\n        print('denied', p)\n")
    r = run(tmp_path, code, mode)
    assert r.ok, r.stderr
    assert "WROTE" not in r.stdout and r.stdout.count("denied") == 6


@pytest.mark.parametrize("where,limit", [("/work", "scratch_mb"), ("/tmp", "tmp_mb"),
                                         ("/dev/shm", "tmp_mb")])
def test_filling_scratch_with_bytes_stops_at_its_size(tmp_path: Path, where: str,
                                                      limit: str) -> None:
    code = (f"n = 0\ntry:\n    with open('{where}/fill', 'wb') as f:\n        while True:\n"
            "            f.write(b'x' * 2**20)\n            f.flush()\n            n += 1\n"
            "except OSError as e:\n    print('full after', n, 'MB', e.errno)\n")
    r = run(tmp_path, code, **{limit: 16, "file_mb": 1024})
    assert r.ok, r.stderr
    assert "full after" in r.stdout and int(r.stdout.split()[2]) <= 16


@pytest.mark.parametrize("groups", [True, False])
def test_millions_of_empty_files_are_stopped(tmp_path: Path, groups: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if not groups:
        no_cgroup(monkeypatch)
    code = ("import os\nfor d in ('/work', '/tmp', '/dev/shm'):\n    os.makedirs(d + '/f', "
            "exist_ok=True)\ni = 0\nwhile True:\n    open(f'/dev/shm/f/{i}', 'w').close()\n"
            "    i += 1\n")
    t0 = time.monotonic()
    r = run(tmp_path, code, scratch_inodes=5000, wall_s=60)
    assert r.killed == "files", (r.killed, r.stderr[-300:])
    assert time.monotonic() - t0 < 30


def test_ten_thousand_result_files_are_refused(tmp_path: Path) -> None:
    code = ("import os\nfd = int(os.environ['ZG_RESULT_FD'])\nfor i in range(10000):\n"
            "    os.write(fd, f'r{i} 1\\nx'.encode())\n")
    r = run(tmp_path, code)
    assert r.killed == "results"
    assert len(r.notes[-1].split()) - 1 <= Limits().result_files


@pytest.mark.parametrize("payload", ["../../etc/x 1\nx", "a 99999999999\n", "bad header\n",
                                     "/abs 1\nx"])
def test_forged_result_frames_are_refused(tmp_path: Path, payload: str) -> None:
    code = f"import os\nos.write(int(os.environ['ZG_RESULT_FD']), {payload.encode()!r})\n"
    r = run(tmp_path, code)
    assert r.killed == "results" and "results:" in " ".join(r.notes)
    assert r.notes[-1] == "out: "


@pytest.mark.parametrize("groups", [True, False])
def test_setsid_daemon_dies_with_its_job(tmp_path: Path, groups: bool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if not groups:
        no_cgroup(monkeypatch)
    marker = f"zgdaemon{uuid.uuid4().hex[:8]}"
    code = ("import subprocess\nsubprocess.Popen(['setsid', 'sleep', '300', "
            f"'{marker}'], start_new_session=True)\nprint('started')\n")
    r = run(tmp_path, code)
    assert r.ok and "started" in r.stdout, r.stderr
    time.sleep(0.3)
    assert _pids_with(marker) == []


def _pids_with(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and marker.encode() in (p / "cmdline").read_bytes():
                found.append(int(p.name))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("groups", [True, False])
def test_fork_bomb_is_capped_and_dies(tmp_path: Path, groups: bool,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if not groups:
        no_cgroup(monkeypatch)
    code = ("import os, time\nn = 0\nwhile True:\n    try:\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n            os._exit(0)\n        n += 1\n"
            "    except OSError:\n        print('refused after', n, flush=True)\n        break\n")
    r = run(tmp_path, code, max_procs=24, wall_s=20)
    assert "refused after" in r.stdout, (r.killed, r.stderr[-300:])
    assert int(r.stdout.split()[2]) < 24


@pytest.mark.parametrize("groups", [True, False])
def test_ten_gigabyte_allocation_is_stopped(tmp_path: Path, groups: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if not groups:
        no_cgroup(monkeypatch)
    code = "x = bytearray(10 * 1024**3)\nprint('allocated')\n"
    r = run(tmp_path, code, memory_mb=512)
    assert "allocated" not in r.stdout
    assert r.killed == "memory" or "MemoryError" in r.stderr


def test_gpu_job_without_a_memory_cgroup_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    no_cgroup(monkeypatch)
    with job_for("bwrap", tmp_path) as job, pytest.raises(SandboxUnavailable, match="cgroup"):
        sandbox.run(job, [PY, "-c", "1"], Limits(), "bwrap", ["/dev/null"])


def test_jobs_cannot_see_each_other(tmp_path: Path) -> None:
    secret = f"OTHERJOB-{uuid.uuid4().hex}"
    holder = (f"import time\nopen('/work/secret', 'w').write({secret!r})\n"
              f"open('/tmp/secret', 'w').write({secret!r})\ntime.sleep(3)\n")
    snoop = ("import glob, os, time\ntime.sleep(1)\nseen = []\n"
             "for pat in ['/proc/*/root/work/secret', '/proc/*/root/tmp/secret', "
             "'/tmp/*/work/secret', '/work/secret']:\n    for p in glob.glob(pat):\n"
             "        try:\n            seen.append(open(p).read())\n        except OSError:\n"
             "            pass\nprint('pids', len([p for p in os.listdir('/proc') if "
             "p.isdigit()]), 'seen', seen)\n")
    box: dict[str, sandbox.SandboxResult] = {}
    t = threading.Thread(target=lambda: box.update(a=run(tmp_path / "a", holder)))
    t.start()
    b = run(tmp_path / "b", snoop)
    t.join()
    assert box["a"].ok and b.ok, (box["a"].stderr, b.stderr)
    assert secret not in b.stdout
    assert int(b.stdout.split()[1]) <= 3  # its own PID namespace: init, python and nothing else


def test_supervisor_exception_still_kills_the_job(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"zgsoft{uuid.uuid4().hex[:8]}"

    class SoftTimeLimit(Exception):
        pass

    def explode(self: object, deadline: float, tick: object = None) -> None:
        time.sleep(0.5)
        raise SoftTimeLimit("celery's soft time limit")

    monkeypatch.setattr(sandbox.OutputCap, "pump", explode)
    code = (f"import subprocess, time\nsubprocess.Popen(['sleep', '300', '{marker}'])\n"
            "time.sleep(60)\n")
    with pytest.raises(SoftTimeLimit):
        run(tmp_path, code)
    time.sleep(0.2)
    assert _pids_with(marker) == []
    leftovers = [d for d in (cgroups.ROOT / "pids" / "zerograd").glob(f"{os.getpid()}-*")]
    assert leftovers == []


def test_result_bytes_are_capped(tmp_path: Path) -> None:
    code = ("import os\nfd = int(os.environ['ZG_RESULT_FD'])\nos.write(fd, b'big 200000000\\n')\n"
            "while True:\n    os.write(fd, b'x' * 2**20)\n")
    r = run(tmp_path, code, result_mb=8)
    assert r.killed == "results" and "over 8 MB" in " ".join(r.notes)
    assert r.notes[-1] == "out: "  # nothing half-written is kept


def test_a_cut_short_record_leaves_nothing(tmp_path: Path) -> None:
    code = ("import os\nfd = int(os.environ['ZG_RESULT_FD'])\nos.write(fd, b'ok 2\\nhi')\n"
            "os.write(fd, b'half.npz 1000\\n' + b'x' * 10)\n")
    r = run(tmp_path, code)
    assert "cut short" in " ".join(r.notes) and r.notes[-1] == "out: ok"
