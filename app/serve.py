"""`python -m app.serve` (= `make run`): migrate SQLite, ensure a staff login, serve."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from types import SimpleNamespace

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.config import ROOT, Settings, get_settings
from app.db import session_scope
from app.models import Instructor


def upgrade(url: str) -> None:
    """`alembic -x url=<url> upgrade head` in-process."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.cmd_opts = SimpleNamespace(x=[f"url={url}"])  # type: ignore[assignment]
    command.upgrade(cfg, "head")


def ensure_instructor(settings: Settings, login: str = "admin") -> str | None:
    """Create an instructor with a random password when there is none; return the password."""
    with session_scope(settings) as session:
        if session.scalar(select(Instructor.id).limit(1)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        session.add(Instructor(login=login, password_hash=PasswordHasher().hash(password)))
        return password


def persistent_secret_key(settings: Settings, path: Path = ROOT / "var" / "secret_key") -> Settings:
    """Settings with a secret key: the configured one, else one generated once into `path`."""
    if settings.secret_key:
        return settings
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return settings.model_copy(update={"secret_key": path.read_text().strip()})


def main() -> None:
    """Run the whole service in one process (SQLite + in-process workers by default)."""
    import uvicorn

    from app import queue
    from app.main import create_app

    settings = persistent_secret_key(get_settings())  # sessions survive restarts
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        upgrade(settings.database_url)
    password = ensure_instructor(settings)
    if not settings.redis_url:
        queue.start_embedded_workers(settings)
    print(f"zerograd: serving on {settings.public_url}/ "
          f"(database {make_url(settings.database_url).render_as_string()}, "
          f"{'celery via ' + settings.redis_url if settings.redis_url else 'in-process workers'})",
          flush=True)
    if password:
        print(f"zerograd: instructor login created: admin / {password} (shown once)", flush=True)
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info")
    finally:
        queue.stop_embedded_workers(wait=False)
    sys.exit(0)


if __name__ == "__main__":
    main()
