"""The web process's job sender: a child process that publishes grading jobs to Celery.

A web process's request threads share one interpreter lock, and publishing one Celery message
costs about as much CPU as the rest of a push delivery (≈2 M instructions), so it happens next
door: the broker URL and then `<submission id> <week>` lines go to the child's stdin, and the
child publishes whatever has arrived in one Redis pipeline. Lines are written in whole chunks
of at most PIPE_BUF bytes, so a write either hands a job over or does not; what the child cannot
take right now is returned to the caller. At shutdown the child drains its pipe (`close`); a job
lost with a crash stays queued for the sweeper. `python -m app.sender` runs the child.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent  # `-m app.sender` from here, whatever the cwd
Jobs = list[tuple[str, int]]


class Sender:
    """The parent's end: one child per broker URL, started (again) on demand."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None

    def put(self, jobs: Jobs) -> Jobs:
        """Hand jobs to the child without blocking; returns those it could not take."""
        with self.lock:
            done = 0
            for chunk, n in _chunks(jobs):
                try:
                    os.write(self._stdin(), chunk)  # ≤ PIPE_BUF: all of it or nothing
                except OSError as e:  # a full pipe (BlockingIOError), a dead child (EPIPE)
                    log.warning("job sender cannot take jobs (%s); sending them here", e)
                    if not isinstance(e, BlockingIOError):
                        self._drop()
                    return jobs[done:]
                done += n
            return []

    def close(self, timeout: float = 10.0) -> None:
        """End the child after it has published what is in its pipe (process shutdown)."""
        with self.lock:
            if self.proc is not None and self.proc.stdin is not None:
                self.proc.stdin.close()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._drop()
            self.proc = None

    def _stdin(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-m", "app.sender"], cwd=ROOT,
                                         stdin=subprocess.PIPE, close_fds=True)
            assert self.proc.stdin is not None
            os.write(self.proc.stdin.fileno(), self.redis_url.encode() + b"\n")  # not on argv
            os.set_blocking(self.proc.stdin.fileno(), False)
        assert self.proc.stdin is not None
        return self.proc.stdin.fileno()

    def _drop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _chunks(jobs: Jobs) -> list[tuple[bytes, int]]:
    """Whole lines packed into chunks of at most PIPE_BUF bytes (a pipe writes those
    atomically), each with the number of jobs it holds."""
    out: list[tuple[bytes, int]] = []
    buf, n = b"", 0
    for sid, week in jobs:
        line = f"{sid} {week}\n".encode()
        if buf and len(buf) + len(line) > select.PIPE_BUF:
            out.append((buf, n))
            buf, n = b"", 0
        buf, n = buf + line, n + 1
    return out + [(buf, n)] if buf else out


def publish(redis_url: str, lines: list[bytes]) -> None:
    """Send the jobs of whole lines in one pipeline, one by one (with retries) if that fails."""
    from app import queue  # the child's only use of the app: the Celery client and the task

    jobs: Jobs = []
    for line in lines:
        try:
            sid, week = line.decode().split()
            jobs.append((sid, int(week)))
        except ValueError:
            log.error("ignored a malformed job line %r", line[:80])
    app = queue.client(redis_url)
    try:
        with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
            for job_id, job_week in jobs:
                queue.send_grading(app, job_id, job_week, producer=producer)
    except Exception:  # the broker blinked: each job again (a duplicate is harmless: claimed once)
        log.exception("batch publish failed; sending %d job(s) one by one", len(jobs))
        for job_id, job_week in jobs:
            queue.send_one(redis_url, job_id, job_week)


def main() -> None:
    """Read the broker URL, then job lines until EOF; publish what has arrived, batch by batch."""
    logging.basicConfig(level=logging.WARNING, format="zerograd sender: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server; EOF ends us
    url, rest = b"", b""
    while chunk := os.read(0, 1 << 16):
        *lines, rest = (rest + chunk).split(b"\n")
        if not url and lines:
            url = lines.pop(0)
        if lines:
            publish(url.decode(), lines)


if __name__ == "__main__":
    main()
