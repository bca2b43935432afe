"""docker-compose.yml and Dockerfile: built with `docker compose config` where it exists, else
parsed (merge keys, `${VAR:-default}` interpolation) and checked semantically."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}` / `${VAR:-default}` substitution (and `$$` escapes), recursively."""
    if isinstance(value, str):
        out = _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""),
                       value.replace("$$", "\0"))
        return out.replace("\0", "$")
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def compose_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The resolved compose model: `docker compose config` when available, else our own."""
    env = env or {}
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        out = subprocess.run([docker, "compose", "--profile", "gpu", "-f",
                              str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                             capture_output=True, timeout=60, check=True, text=True,
                             env={**os.environ, **env}).stdout
        return dict(json.loads(out))
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # merge keys resolved
    return dict(interpolate(raw, env))


def services(env: dict[str, str] | None = None) -> dict:
    return compose_config(env)["services"]


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
        assert queue in cmd[cmd.index("-Q") + 1].split(",")
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
    for name in ("migrate", "api", "worker-cpu", "worker-gpu", "beat", "data-fetch",
                 "first-instructor"):
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


def mounts(svc: dict) -> dict[str, tuple[str, bool]]:
    """{target: (source, read_only)} from short ("a:b:ro") or long volume syntax."""
    out = {}
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out[v["target"]] = (str(v["source"]), bool(v.get("read_only")))
        else:
            parts = v.split(":")
            out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return out


def test_every_dependency_exists_and_one_shots_do_not_restart() -> None:
    s = services()
    for name, svc in s.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in s, (name, dep)
    for one_shot in ("data-fetch", "secret-key", "first-instructor"):
        assert s[one_shot].get("restart", "no") == "no"


def test_course_data_is_fetched_into_its_volume_read_write_there_only() -> None:
    s = services()
    fetch = s["data-fetch"]
    assert fetch["command"] == ["zerograd", "data", "fetch"]
    data_dir = fetch["environment"]["ZEROGRAD_DATA_DIR"]
    assert mounts(fetch)[data_dir] == ("coursedata", False)  # read-write for the fetcher
    for name in ("api", "worker-cpu", "worker-gpu", "beat"):
        assert mounts(s[name])[data_dir] == ("coursedata", True), name  # read-only for others
        assert s[name]["environment"]["ZEROGRAD_DATA_DIR"] == data_dir
        assert (s[name]["depends_on"]["data-fetch"]["condition"]
                == "service_completed_successfully"), name
    for name, svc in s.items():
        if name != "data-fetch" and "coursedata" in [m[0] for m in mounts(svc).values()]:
            assert all(ro for src, ro in mounts(svc).values() if src == "coursedata"), name


def test_course_toml_is_shipped_and_mounted_where_settings_look() -> None:
    from app.services import policies

    policy = policies.parse(__import__("tomllib").loads((ROOT / "course.toml").read_text()))
    assert policy.max_per_day > 0 and policy.weeks
    s = services()
    for name in ("api", "worker-cpu", "worker-gpu", "beat", "first-instructor"):
        path = s[name]["environment"]["ZEROGRAD_COURSE_CONFIG"]
        src, _ = mounts(s[name])[path]
        assert Path(src).name == "course.toml" and (ROOT / "course.toml").is_file(), name
    base = (ROOT / "Dockerfile").read_text().split("AS web", 1)[0]
    assert "COPY course.toml" in base  # both images carry a default copy


def test_cpu_worker_takes_the_gpu_queue_unless_a_gpu_worker_is_configured() -> None:
    def queues(env: dict[str, str]) -> set[str]:
        cmd = services(env)["worker-cpu"]["command"]
        return set(cmd[cmd.index("-Q") + 1].split(","))

    assert queues({}) == {"cpu", "gpu"}  # out of the box, weeks 5-6 are graded on CPU
    assert queues({"ZEROGRAD_CPU_QUEUES": "cpu"}) == {"cpu"}
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert raw["worker-gpu"]["profiles"] == ["gpu"] and "profiles" not in raw["worker-cpu"]


def test_first_instructor_is_created_once_with_the_web_image(
        tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    from app import cli
    from app.config import get_settings
    from app.serve import upgrade

    s = services()
    fi = s["first-instructor"]
    assert fi["image"] == s["api"]["image"] and fi["command"] == ["zerograd", "first-instructor"]
    assert fi["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    web = (ROOT / "Dockerfile").read_text().split("AS web", 1)[1].split("FROM ", 1)[0]
    assert "pip install --no-deps -e ." in web  # installs the `zerograd` console script
    assert 'zerograd = "app.cli:main"' in (ROOT / "pyproject.toml").read_text()
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert cli.main(["first-instructor"]) == 0
        first = capsys.readouterr().out
        assert cli.main(["first-instructor"]) == 0
        second = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    assert re.search(r"admin / \S{12,} \(shown once\)", first)
    assert "exists already" in second and "/" not in second.split("nothing")[0]


def test_secret_key_is_generated_once_into_a_volume_and_loaded_by_the_api(
        tmp_path: Path) -> None:
    s = services()
    gen = s["secret-key"]
    assert mounts(gen)["/secrets"] == ("secrets", False)
    assert mounts(s["api"])["/secrets"] == ("secrets", True)
    assert s["api"]["depends_on"]["secret-key"]["condition"] == "service_completed_successfully"
    assert "secrets" in compose_config()["volumes"]
    script = gen["command"][2].replace("/secrets/", f"{tmp_path}/")
    for _ in range(2):
        subprocess.run(["sh", "-c", script.replace("python", shutil.which("python3") or "python")],
                       check=True, timeout=30)
    key = (tmp_path / "secret_key").read_text()
    assert len(key.strip()) >= 40
    subprocess.run(["sh", "-c", script.replace("python", "false")], check=True, timeout=30)
    assert (tmp_path / "secret_key").read_text() == key  # kept, never regenerated
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    docker = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["zerograd-entrypoint"]' in docker
    entry = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    out = subprocess.run(["sh", "-c", entry.replace("/secrets/", f"{tmp_path}/").replace(
        'exec "$@"', 'printf %s "$ZEROGRAD_SECRET_KEY"')], capture_output=True, text=True,
        env={"PATH": os.environ["PATH"]}, check=True, timeout=30).stdout
    assert out == key.strip()
