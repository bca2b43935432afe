"""docker-compose.yml gives the grading workers what the sandbox needs, and nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

from grader import syscalls

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("worker-cpu", "worker-gpu")


def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_workers_are_root_only_to_switch_to_slot_uids() -> None:
    s = services()
    for name in WORKERS:
        w = s[name]
        assert str(w["user"]) == "0" and w["cap_drop"] == ["ALL"]
        assert set(w["cap_add"]) <= {"SETUID", "SETGID", "SETPCAP", "KILL", "CHOWN",
                                     "DAC_OVERRIDE", "FOWNER", "SYS_PTRACE"}
        assert "no-new-privileges:true" in w["security_opt"]
        assert int(w["pids_limit"]) > 0 and w["mem_limit"]
    bases = [int(s[n]["environment"]["ZEROGRAD_SANDBOX_UID_BASE"]) for n in WORKERS]
    assert abs(bases[0] - bases[1]) >= 64  # containers share host uids: ranges never overlap


def test_seccomp_unconfined_only_with_our_filter_in_force() -> None:
    """Docker's profile must go for bwrap's user namespace; the job's own filter replaces it."""
    for name in WORKERS:
        if "seccomp=unconfined" in services()[name]["security_opt"]:
            assert syscalls.program() and {"unshare", "mount", "ptrace", "bpf"} <= \
                set(syscalls.DENIED)


def test_the_gpu_worker_can_make_memory_cgroups() -> None:
    """A GPU job is refused without a memory cgroup, so the GPU worker gets a writable tree."""
    assert services()["worker-gpu"]["privileged"] is True


def test_worker_image_has_the_sandbox_tools() -> None:
    text = (ROOT / "Dockerfile").read_text()
    worker = text[text.index("AS worker"):]
    for pkg in ("bubblewrap", "libseccomp2", "util-linux"):
        assert pkg in worker
    assert "USER root" in worker


def test_replicas_of_a_worker_share_their_slot_locks() -> None:
    """`docker compose up --scale worker-cpu=3`: replicas share uids, so they share locks."""
    s = services()
    dirs = [s[n]["environment"]["ZEROGRAD_SANDBOX_SLOT_DIR"] for n in WORKERS]
    assert len(set(dirs)) == 2
    for name, d in zip(WORKERS, dirs, strict=True):
        assert any(str(v).endswith(":/var/lib/zerograd/slots") and d.startswith(
            "/var/lib/zerograd/slots/") for v in s[name]["volumes"])
