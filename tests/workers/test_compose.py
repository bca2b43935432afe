"""docker-compose.yml and Dockerfile: parsed and checked (no docker here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_all_services_are_there() -> None:
    assert set(services()) >= {"postgres", "redis", "migrate", "api", "worker-cpu",
                               "worker-gpu", "beat"}


def test_commands() -> None:
    s = services()
    assert s["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert s["api"]["command"][:3] == ["uvicorn", "app.main:create_app", "--factory"]
    for name, queue, conc in (("worker-cpu", "cpu", None), ("worker-gpu", "gpu", "1")):
        cmd = s[name]["command"]
        assert cmd[:4] == ["celery", "-A", "workers", "worker"]
        assert cmd[cmd.index("-Q") + 1] == queue
        if conc:
            assert cmd[cmd.index("--concurrency") + 1] == conc
    assert s["beat"]["command"][:4] == ["celery", "-A", "workers", "beat"]


def test_order_and_health() -> None:
    s = services()
    assert s["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker-cpu", "worker-gpu", "beat"):
        assert s[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_environment_names_are_settings() -> None:
    fields = set(Settings.model_fields)
    s = services()
    for name in ("migrate", "api", "worker-cpu", "worker-gpu", "beat"):
        env = s[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        for key in env:
            if key.startswith("ZEROGRAD_"):
                assert key.removeprefix("ZEROGRAD_").lower() in fields, key
    env = s["worker-cpu"]["environment"]
    vals = [int(env[f"ZEROGRAD_{k}"]) for k in ("TASK_SOFT_TIME_LIMIT_S", "TASK_TIME_LIMIT_S",
                                                "BROKER_VISIBILITY_TIMEOUT_S")]
    assert vals == sorted(vals) and len(set(vals)) == 3
    assert int(env["ZEROGRAD_STUCK_AFTER_S"]) > vals[1]


def test_gpu_worker_reserves_a_gpu_and_sandbox_is_allowed() -> None:
    s = services()
    dev = s["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    for name in ("worker-cpu", "worker-gpu"):
        assert "seccomp=unconfined" in s[name]["security_opt"]  # bubblewrap's namespaces
    assert "security_opt" not in s["api"]


def test_dockerfile_targets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "AS web" in text and "AS worker" in text and "bubblewrap" in text
    web = text.split("AS web", 1)[1].split("FROM ", 1)[0]
    assert "torch" not in web and "COPY workers" not in web  # the web image stays light
