"""The README's settings reference is generated from Settings; list settings take JSON or a,b;
missing course data is reported loudly at start-up."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.health import problems
from app.main import create_app
from app.settings_doc import readme_section, table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_reference_is_the_generated_table() -> None:
    assert readme_section((ROOT / "README.md").read_text()) == table()
    for name in Settings.model_fields:
        assert f"`ZEROGRAD_{name.upper()}`" in table() or name in ("database_url", "redis_url")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_doc.py")],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert out == table()
    assert str(ROOT) not in out and str(Path.home()) not in out  # same on every machine


def test_every_setting_is_described() -> None:
    rows = [r for r in table().splitlines()[2:]]
    assert rows and all(not r.rstrip().endswith("|  |") for r in rows), rows


@pytest.mark.parametrize("raw, expected", [
    ("github.example.com", ["github.example.com"]),
    ("a.example:8443, b.example", ["a.example:8443", "b.example"]),
    ('["127.0.0.1:9418"]', ["127.0.0.1:9418"]),
    ("", []),
])
def test_list_settings_accept_plain_and_json(monkeypatch: pytest.MonkeyPatch, raw: str,
                                             expected: list[str]) -> None:
    monkeypatch.setenv("ZEROGRAD_ALLOWED_GIT_HOSTS", raw)
    monkeypatch.setenv("ZEROGRAD_WORKER_GPU_DEVICES", raw)
    s = Settings()
    assert s.allowed_git_hosts == expected and s.worker_gpu_devices == expected


def test_missing_course_data_warns_at_startup_and_on_the_dashboard(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, data_dir: Path) -> None:
    assert problems(Settings(data_dir=data_dir)) == []
    s = Settings(data_dir=tmp_path / "empty", course_config=tmp_path / "nope.toml",
                 database_url=f"sqlite:///{tmp_path}/db.sqlite3", embedded_workers=0)
    with caplog.at_level(logging.WARNING, logger="zerograd.health"):
        app = create_app(s)
    text = caplog.text
    assert "course data missing" in text and "names.txt" in text and "zerograd data fetch" in text
    assert "nope.toml not found" in text
    with TestClient(app) as client:
        warnings = client.get("/healthz").json()["warnings"]
    assert len(warnings) == 2 and app.state.health == warnings
    layout = (ROOT / "app" / "templates" / "dashboard" / "layout.html").read_text()
    assert "{% for problem in health %}" in layout


def test_dashboard_shows_the_health_flag(wsettings: Settings, tmp_path: Path) -> None:
    from app.db import session_scope
    from tests.app.staff import login
    from tests.workers.e2e import api

    s = wsettings.model_copy(update={"data_dir": tmp_path / "empty"})
    with api(s) as client, session_scope(s) as session:
        login(client, session)
        page = client.get("/dashboard").text
    assert 'id="health-warning"' in page and "course data missing" in page
    with api(wsettings) as client, session_scope(wsettings) as session:
        login(client, session)
        assert 'id="health-warning"' not in client.get("/dashboard").text
