"""Read a child's stdout/stderr with a cap on what is kept and on the total."""

from __future__ import annotations

import selectors
import subprocess
import time
from collections.abc import Callable

TICK_S = 0.1


class OutputCap:
    """Pumps both pipes; keeps the head of each stream and counts the rest."""

    def __init__(self, proc: subprocess.Popen[bytes], keep: int, limit: int) -> None:
        self.proc = proc
        self.keep = keep
        self.limit = limit
        self.total = 0
        self.buf: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.dropped: dict[str, int] = {"stdout": 0, "stderr": 0}
        self.sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        self.sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
        self.sel.register(proc.stderr, selectors.EVENT_READ, "stderr")

    def pump(self, deadline: float,
             tick: Callable[[], str | None] = lambda: None) -> str | None:
        """Read until both pipes close; return "timeout", "output" or what tick() says (it is
        called about every TICK_S seconds) if a limit hit."""
        open_streams = 2
        next_tick = time.monotonic() + TICK_S
        while open_streams:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                return "timeout"
            if now >= next_tick:
                next_tick = now + TICK_S
                if reason := tick():
                    return reason
            for key, _ in self.sel.select(timeout=min(left, TICK_S)):
                chunk = key.fileobj.read1(65536)  # type: ignore[union-attr]
                if not chunk:
                    self.sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                self._add(key.data, chunk)
                if self.total > self.limit:
                    return "output"
        # pipes closed: wait for exit within the deadline
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                return "timeout"
            if reason := tick():
                return reason
            time.sleep(0.005)
        return None

    def _add(self, name: str, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.keep - len(self.buf[name])
        if room > 0:
            self.buf[name] += chunk[:room]
        self.dropped[name] += max(0, len(chunk) - max(room, 0))

    def text(self, name: str) -> str:
        """Kept text of one stream, with a note on what was cut."""
        s = self.buf[name].decode("utf-8", errors="replace")
        if self.dropped[name]:
            s += f"\n… [{self.dropped[name]} more bytes not shown]"
        return s

    def close(self) -> None:
        """Release the selector and pipes."""
        self.sel.close()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
