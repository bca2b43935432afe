"""The web process's job sender: a child process that publishes grading jobs to Celery.

A web process's request threads share one interpreter lock, and publishing one Celery message
costs about as much CPU as the rest of a push delivery (≈2 M instructions), so it happens next
door: jobs travel as `<submission id> <week>` lines on the child's stdin, and the child
publishes whatever has arrived in one Redis pipeline. A job the child never publishes (it was
killed, the pipe was full) is sent in the caller's thread instead, or, lost with a crash, stays
queued for the sweeper. `python -m app.sender <redis url>` runs the child; it exits at EOF.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable

log = logging.getLogger(__name__)


class Sender:
    """The parent's end: one child per broker URL, started (again) on demand."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None

    def put(self, jobs: Iterable[tuple[str, int]]) -> bool:
        """Hand jobs to the child without blocking; False when they could not all be handed."""
        data = "".join(f"{sid} {week}\n" for sid, week in jobs).encode()
        with self.lock:
            try:
                fd = self._stdin()
                if os.write(fd, data) == len(data):
                    return True
            except OSError as e:  # a full pipe (BlockingIOError), a dead child (EPIPE)
                log.warning("job sender unavailable (%s); sending in this thread", e)
            self._stop()
            return False

    def _stdin(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.sender", self.redis_url], stdin=subprocess.PIPE,
                close_fds=True)
            assert self.proc.stdin is not None
            os.set_blocking(self.proc.stdin.fileno(), False)
        assert self.proc.stdin is not None
        return self.proc.stdin.fileno()

    def _stop(self) -> None:
        """Drop a child that failed a write (it may hold part of a line)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def publish(redis_url: str, lines: list[bytes]) -> None:
    """Send the jobs of whole lines in one pipeline, one by one (with retries) if that fails."""
    from app import queue  # the child's only use of the app: the Celery client and routing

    app = queue.client(redis_url)
    jobs = [(sid.decode(), int(week)) for sid, week in (line.split() for line in lines)]
    try:
        with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
            for sid, week in jobs:
                app.send_task(queue.GRADE_TASK, args=[sid], queue=queue.queue_for_week(week),
                              producer=producer)
    except Exception:  # the broker blinked: each job again with the usual retry policy
        log.exception("batch publish failed; sending %d job(s) one by one", len(jobs))
        for sid, week in jobs:
            queue.send_one(redis_url, sid, week)


def main(redis_url: str) -> None:
    """Read job lines from stdin until EOF and publish what has arrived, batch by batch."""
    logging.basicConfig(level=logging.WARNING, format="zerograd sender: %(message)s")
    rest = b""
    while chunk := os.read(0, 1 << 16):
        *lines, rest = (rest + chunk).split(b"\n")
        if lines:
            publish(redis_url, lines)


if __name__ == "__main__":
    main(sys.argv[1])
