"""The job's only way to hand back results: framed records on a capped pipe ($ZG_RESULT_FD).

There is no writable host folder in the sandbox. The job writes `NAME LENGTH\\n` followed by
LENGTH bytes per record; the trusted side stores each record as a file in the job's out/
folder (which the job never sees) and stops the job the moment it sends too many records,
too many bytes, a bad name or a malformed frame.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

RESULT_ENV = "ZG_RESULT_FD"
NAME = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
HEADER_MAX = 100


class ResultChannel:
    """Read the job's result records into `out`, within a count and a byte budget."""

    def __init__(self, out: Path, max_files: int, max_bytes: int) -> None:
        self.out, self.max_files, self.max_bytes = out, max_files, max_bytes
        self.read_fd, self.write_fd = os.pipe()
        os.set_inheritable(self.write_fd, True)
        self.names: list[str] = []
        self.total = 0
        self.violation: str | None = None
        self.thread = threading.Thread(target=self._pump, daemon=True)

    def env(self) -> dict[str, str]:
        """The variable that tells the job its fd."""
        return {RESULT_ENV: str(self.write_fd)}

    def started(self) -> None:
        """Call once the child holds its end: close ours, start reading."""
        os.close(self.write_fd)
        self.thread.start()

    def finish(self, timeout: float = 5.0) -> None:
        """Wait for the reader (every writer has exited or was killed)."""
        self.thread.join(timeout)

    def _pump(self) -> None:
        with os.fdopen(self.read_fd, "rb", buffering=0) as f:
            try:
                self._records(f)
            except _Stop as e:
                self.violation = str(e)
                for part in self.out.glob(".*.part"):
                    part.unlink()
            while self.violation and f.read(65536):
                pass  # drain until the job is killed, so it never blocks on a full pipe

    def _records(self, f: object) -> None:
        while True:
            header = _read_line(f)
            if header is None:
                return
            parts = header.split(b" ")
            if len(parts) != 2 or not NAME.fullmatch(parts[0]) or not parts[1].isdigit():
                raise _Stop("a malformed result record")
            name, size = parts[0].decode(), int(parts[1])
            if name in self.names or len(self.names) >= self.max_files:
                raise _Stop(f"more than {self.max_files} result records (or one twice)")
            if self.total + size > self.max_bytes:
                raise _Stop(f"results over {self.max_bytes // (1024 * 1024)} MB")
            self.total += size
            self.names.append(name)
            part = self.out / f".{name}.part"  # a record counts only once it is whole
            with open(part, "wb") as dst:
                left = size
                while left:
                    chunk = f.read(min(left, 1 << 20))  # type: ignore[attr-defined]
                    if not chunk:
                        raise _Stop("a result record cut short")
                    dst.write(chunk)
                    left -= len(chunk)
            part.rename(self.out / name)


class _Stop(Exception):
    """The job broke the channel's rules."""


def _read_line(f: object) -> bytes | None:
    buf = b""
    while not buf.endswith(b"\n"):
        c = f.read(1)  # type: ignore[attr-defined]
        if not c:
            if buf:
                raise _Stop("a result record cut short")
            return None
        buf += c
        if len(buf) > HEADER_MAX:
            raise _Stop("a malformed result record")
    return buf[:-1]
