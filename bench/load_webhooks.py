"""Burst of signed GitHub push deliveries at a real API process: ack latency and zero loss.

    .venv/bin/python bench/load_webhooks.py [--n 500] [--concurrency 16] [--db postgres|sqlite]

Starts uvicorn on a loopback port against a fresh database (Postgres `zg_bench_<random>`, or a
temporary SQLite file), sends N push deliveries (each a new commit changing weeks/week1.ipynb),
prints p50/p95/p99 ack latency, then checks that N webhook_delivery rows and N submissions exist
(and that re-sent deliveries are deduplicated). Exit status 1 when anything was lost or p99 is
over the target.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.models import Submission, WebhookDelivery  # noqa: E402

SECRET = "bench-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def push(i: int) -> tuple[str, bytes]:
    """Delivery id and body of the i-th push (student i % 50, a fresh commit each time)."""
    login = f"bench{i % 50}"
    repo = f"https://github.com/{login}/zero-to-hero"
    payload = {"ref": "refs/heads/main", "after": hashlib.sha1(f"c{i}".encode()).hexdigest(),
               "repository": {"html_url": repo, "clone_url": repo + ".git",
                              "full_name": f"{login}/zero-to-hero", "owner": {"login": login}},
               "sender": {"login": login},
               "commits": [{"added": [], "modified": ["weeks/week1.ipynb"], "removed": []}]}
    return f"bench-{i}-{secrets.token_hex(4)}", json.dumps(payload).encode()


def headers(delivery: str, body: bytes) -> dict[str, str]:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig, "Content-Type": "application/json"}


async def burst(base: str, items: list[tuple[str, bytes]], concurrency: int
                ) -> tuple[list[float], list[int], float]:
    """Send all deliveries with at most `concurrency` in flight; latencies (s) and statuses."""
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    codes: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        async def one(delivery: str, body: bytes) -> None:
            async with sem:
                t = time.perf_counter()
                r = await client.post("/webhooks/github", content=body,
                                      headers=headers(delivery, body))
                lat.append(time.perf_counter() - t)
                codes.append(r.status_code)
        t0 = time.perf_counter()
        await asyncio.gather(*(one(d, b) for d, b in items))
        return lat, codes, time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=1000, method="inclusive")[int(p * 10) - 1] if len(xs) > 1 \
        else xs[0]


def make_db(kind: str, admin_url: str) -> tuple[str, object]:
    """A fresh database URL at Alembic head, and a cleanup callable."""
    if kind == "sqlite":
        d = tempfile.mkdtemp(prefix="zg-bench-")
        url = f"sqlite:///{d}/bench.sqlite3"
        cleanup: object = lambda: None
    else:
        name = f"zg_bench_{secrets.token_hex(4)}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

        def cleanup() -> None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    subprocess.run([sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
                   cwd=ROOT, check=True, capture_output=True)
    return url, cleanup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/8",
                    help="jobs are sent here (flushed after); '' to send none")
    ap.add_argument("--target-p99-ms", type=float, default=100.0)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = ap.parse_args()

    url, cleanup = make_db(args.db, args.pg_admin_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROGRAD_")}
    # open enrolment and no daily quota: the bench measures the ack path, not the policy
    policy = Path(tempfile.mkdtemp(prefix="zg-bench-")) / "course.toml"
    policy.write_text("[roster]\nopen_enrolment = true\n")
    env.update(DATABASE_URL=url, REDIS_URL=args.redis_url, ZEROGRAD_WEBHOOK_SECRET=SECRET,
               ZEROGRAD_EMBEDDED_WORKERS="0", PYTHONPATH=str(ROOT),
               ZEROGRAD_COURSE_CONFIG=str(policy))
    if not args.redis_url:
        env.pop("REDIS_URL")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--workers", str(args.workers)],
        cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        items = [push(i) for i in range(args.n)]
        asyncio.run(burst(base, [push(10**6 + i) for i in range(20)], 4))  # warm-up
        lat, codes, wall = asyncio.run(burst(base, items, args.concurrency))
        dup_lat, dup_codes, _ = asyncio.run(burst(base, items[:50], args.concurrency))
        ms = [x * 1000 for x in lat]
        p50, p95, p99 = pct(ms, 50), pct(ms, 95), pct(ms, 99)
        print(f"{args.n} deliveries, concurrency {args.concurrency}, {args.workers} uvicorn "
              f"worker(s), db {args.db}, "
              f"jobs to {'redis' if args.redis_url else 'nowhere'}: {wall:.2f}s "
              f"({args.n / wall:.0f}/s)")
        print(f"ack latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {max(ms):.1f}")
        eng = create_engine(url)
        expected = {f"https://github.com/bench{i % 50}/zero-to-hero@"
                    f"{hashlib.sha1(f'c{i}'.encode()).hexdigest()}#1" for i in range(args.n)}
        with eng.connect() as c:
            n_del = int(c.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.delivery_id.like("bench-%"))) or 0)
            keys = set(c.scalars(select(Submission.dedupe_key)).all())
        eng.dispose()
        lost = expected - keys
        ok = (all(cd == 202 for cd in codes + dup_codes) and n_del == args.n + 20
              and not lost and len(keys) == args.n + 20)
        print(f"statuses {sorted(set(codes))}, deliveries stored {n_del - 20}/{args.n}, "
              f"submissions {len(keys & expected)}/{args.n}, lost {len(lost)}, "
              f"50 re-sent deliveries deduplicated: {len(keys) == args.n + 20}")
        print(f"p99 {'<' if p99 < args.target_p99_ms else '>='} {args.target_p99_ms:.0f} ms "
              f"target; {'OK' if ok else 'LOST OR FAILED DELIVERIES'}")
        return 0 if ok and p99 < args.target_p99_ms else 1
    finally:
        server.terminate()
        server.wait(30)
        if args.redis_url:
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
        cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    sys.exit(main())
