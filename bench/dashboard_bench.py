"""Gradebook latency: seed 500 students × 6 weeks × 20 submissions, time /dashboard.

    .venv/bin/python bench/dashboard_bench.py [--requests N] [--db sqlite|postgres|both]

Each run seeds a fresh database (a temporary SQLite file; a `zg_bench_<random>` Postgres database
through ZEROGRAD_TEST_PG_ADMIN_URL, dropped afterwards), logs in through the form and prints
p50/p95 of the page through the ASGI app.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine, session_scope  # noqa: E402
from app.models import Student, Submission  # noqa: E402
from app.serve import upgrade  # noqa: E402
from app.services.auth import create_instructor  # noqa: E402

ADMIN_URL = os.environ.get("ZEROGRAD_TEST_PG_ADMIN_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DEADLINE0 = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)


def seed(url: str, students: int, weeks: int, per: int) -> None:
    """Bulk-insert students and graded submissions (some late, scores 0–100)."""
    rng = random.Random(0)
    eng = make_engine(url)
    with eng.begin() as c:
        c.execute(insert(Student), [{"github_login": f"student-{i:04d}",
                                     "created_at": DEADLINE0} for i in range(students)])
        ids = [r[0] for r in c.execute(text("SELECT id FROM student ORDER BY id"))]
        rows = []
        for sid in ids:
            for w in range(1, weeks + 1):
                deadline = DEADLINE0 + timedelta(days=7 * (w - 1))
                for _ in range(per):
                    t = deadline - timedelta(hours=rng.uniform(-72, 240))
                    rows.append({"id": secrets.token_urlsafe(16), "student_id": sid, "week": w,
                                 "source": "upload", "status": "graded", "attempts": 1,
                                 "received_at": t, "started_at": t + timedelta(seconds=2),
                                 "finished_at": t + timedelta(seconds=5),
                                 "score": round(rng.uniform(0, 100), 1), "max_score": 100.0,
                                 "filename": f"week{w}.ipynb"})
                if len(rows) >= 5000:
                    c.execute(insert(Submission), rows)
                    rows = []
        if rows:
            c.execute(insert(Submission), rows)
    eng.dispose()


def measure(url: str, n: int, paths: list[str]) -> dict[str, tuple[float, float]]:
    """p50/p95 (ms) per path through the ASGI app with a logged-in client."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    settings = Settings(database_url=url, redis_url=None, embedded_workers=0,
                        secret_key="bench", course_config=ROOT / "course.toml")
    with session_scope(settings) as s:
        create_instructor(s, "bench", "bench-password")
    out = {}
    with TestClient(create_app(settings)) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert token
        r = client.post("/login", data={"login": "bench", "password": "bench-password",
                                        "csrf": token.group(1)}, follow_redirects=False)
        assert r.status_code == 303, r.text
        for path in paths:
            assert client.get(path).status_code == 200  # warm up
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200
            times.sort()
            out[path] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return out


def run(label: str, url: str, a: argparse.Namespace) -> None:
    """Migrate, seed, measure, print."""
    upgrade(url)
    t0 = time.perf_counter()
    seed(url, a.students, 6, a.per)
    print(f"[{label}] seeded {a.students} students × 6 weeks × {a.per} submissions "
          f"({a.students * 6 * a.per} rows) in {time.perf_counter() - t0:.1f} s", flush=True)
    paths = ["/dashboard", "/dashboard?sort=w3&desc=true&page=4", "/dashboard?q=student-01",
             "/dashboard/weeks/2", "/dashboard/export/grades.csv"]
    for path, (p50, p95) in measure(url, a.requests, paths).items():
        print(f"[{label}] GET {path:<40} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms", flush=True)


def main() -> None:
    """Both databases by default."""
    p = argparse.ArgumentParser()
    p.add_argument("--students", type=int, default=500)
    p.add_argument("--per", type=int, default=20, help="submissions per student and week")
    p.add_argument("--requests", type=int, default=40)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    a = p.parse_args()
    if a.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as d:
            run("sqlite", f"sqlite:///{d}/bench.sqlite3", a)
    if a.db in ("postgres", "both"):
        admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"zg_bench_{secrets.token_hex(4)}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        try:
            run("postgres", url, a)
        finally:
            from app.db import _factory

            _factory.cache_clear()
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
