"""Dependency direction: reference <- grader <- workers; app never imports workers or torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB_DB_QUEUE = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "celery", "kombu",
                "redis", "psycopg", "jinja2", "argon2", "httpx", "app", "workers"}


def imports_of(path: Path) -> set[str]:
    """Top-level module names a file imports (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "app.routes":  # `from app.routes import x` imports app.routes.x
                names.update(f"app.routes.{a.name}" for a in node.names)
            else:
                names.add(node.module)
    return names


def files(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


def test_reference_imports_only_torch_and_stdlib() -> None:
    allowed = set(sys.stdlib_module_names) | {"torch", "reference", "__future__"}
    for f in files("reference"):
        bad = {n for n in imports_of(f) if n.split(".")[0] not in allowed}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_grader_has_no_web_db_queue_imports() -> None:
    for f in files("grader"):
        bad = {n for n in imports_of(f) if n.split(".")[0] in WEB_DB_QUEUE}
        if f.name == "cli.py":  # the console entry point reads Settings, nothing else of app
            bad -= {"app.config"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_probes_import_only_sandbox_safe_modules() -> None:
    allowed = set(sys.stdlib_module_names) | {"torch", "numpy", "__future__"}
    for f in files("grader/probes"):
        bad = {n for n in imports_of(f) if n.split(".")[0] not in allowed}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad} (probes run in the sandbox)"


def test_app_never_imports_workers_or_torch() -> None:
    for f in files("app"):
        bad = {n for n in imports_of(f) if n.split(".")[0] in {"workers", "torch", "reference"}}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_nothing_imports_the_routes() -> None:
    providers = {"app.routes.deps", "app.routes.auth"}  # shared dependencies, not endpoints
    for pkg in ("app", "grader", "workers", "reference"):
        for f in files(pkg):
            if f.name == "main.py" and f.parent.name == "app":
                continue  # the app factory mounts the routers
            allowed = providers if f.parent.name == "routes" else set()
            bad = {n for n in imports_of(f) if n.startswith("app.routes") and n not in allowed}
            assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_workers_do_not_import_the_web_layer() -> None:
    for f in files("workers"):
        bad = {n for n in imports_of(f) if n.startswith(("app.routes", "app.main", "fastapi"))}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_only_settings_reads_the_environment() -> None:
    for pkg in ("app", "grader", "workers", "reference"):
        for f in files(pkg):
            if f.relative_to(ROOT).as_posix() == "app/config.py":
                continue
            if f.name == "runner.py" or f.parent.name == "probes":
                continue  # sandbox-side code: it reads the sandbox's own clean environment
            text = f.read_text()
            assert "os.environ" not in text and "os.getenv" not in text, \
                f"{f.relative_to(ROOT)} reads the environment"


@pytest.mark.parametrize("module", ["app.main", "grader.source"])
def test_web_side_does_not_load_torch(module: str) -> None:
    if not (ROOT / (module.replace(".", "/") + ".py")).exists():
        pytest.fail(f"{module} is missing")
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
