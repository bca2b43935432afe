"""Reading the job's claims back: its completion record and its bounded .npz results.

A result set counts only when the runner's completion record (status.json, written last)
carries this job's token; a result file counts only when its bytes hash to the digest in that
record. Every size is checked before anything is inflated: a zip bomb is refused from its
directory and npy headers, without decompressing it.

What the token proves: this record was written for this job, after the last probe (a job that
was killed, exited early or left stale files has none). It is not a secret from the student's
code, which shares the runner's interpreter and can read job.json: a deliberate forger can
write a record, so no check may rely on it for more than that (fresh inputs do the rest).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import stat
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

MAX_STATUS_BYTES = 1024 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024  # one result file as written
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # all arrays of one grading, decompressed
MAX_ARRAY_BYTES = 128 * 1024 * 1024  # one array
MAX_MEMBERS = 256  # arrays in one result file
MAX_RESULT_FILES = 64  # probes considered per job
MAX_HEADER_BYTES = 10_000
NUMERIC = "biuf"
EOCD = struct.Struct("<4s4H2LH")  # zip end of central directory record
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 1024


class ResultRefused(ValueError):
    """A result file that is not a small, plain, numeric .npz."""


class Budget:
    """Decompressed bytes one grading may still load."""

    def __init__(self, total: int | None = None) -> None:
        self.left = MAX_TOTAL_BYTES if total is None else total

    def take(self, n: int, what: str) -> None:
        """Spend n bytes, or refuse."""
        if n > self.left:
            raise ResultRefused(f"{what} would exceed the {MAX_TOTAL_BYTES >> 20} MB limit on "
                                "all results together")
        self.left -= n


def read_capped(path: Path, limit: int) -> bytes | None:
    """A regular file's bytes (no symlinks), or None if absent or over limit."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def completion_record(out: Path, token: str) -> dict[str, Any] | None:
    """The runner's final record if it belongs to this job, else None."""
    raw = read_capped(out / "status.json", MAX_STATUS_BYTES)
    if raw is None:
        return None
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("token"), str):
        return None
    if not token or not _same(rec["token"], token):
        return None
    return rec if _well_formed(rec) else None


def _well_formed(rec: dict[str, Any]) -> bool:
    """The record has the runner's shape (a forged one must not crash the grader)."""
    num = (int, float)
    cells, probes = rec.get("cells", []), rec.get("probes", {})
    if not isinstance(cells, list) or not isinstance(probes, dict):
        return False
    if not all(isinstance(c, dict) and isinstance(c.get("cell", 0), int)
               and isinstance(c.get("seconds", 0.0), num)
               and isinstance(c.get("shortened_loops", 0), int)
               and isinstance(c.get("error"), str | None) for c in cells):
        return False
    if not all(isinstance(p, dict) for p in probes.values()):
        return False
    return all(isinstance(rec.get(k, 0.0), num) for k in ("exec_seconds", "probe_seconds")) \
        and isinstance(rec.get("snapshots", {}), dict) \
        and isinstance(rec.get("runner_error", ""), str)


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def read_results(out: Path, probe_names: list[str], token: str, no_result: str
                 ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """(completion record, probe -> arrays, probe -> why it has none); {} record if unfinished."""
    rec = completion_record(out, token)
    if rec is None:
        return {}, {}, {n: no_result for n in probe_names}
    probes = rec.get("probes", {})
    outputs: dict[str, dict[str, np.ndarray]] = {}
    errors: dict[str, str] = {}
    budget = Budget()
    for i, name in enumerate(probe_names):
        ps = probes.get(name)
        ps = ps if isinstance(ps, dict) else {}
        digest = ps.get("sha256")
        if i >= MAX_RESULT_FILES:
            errors[name] = f"{name}: too many results ({MAX_RESULT_FILES} at most)"
        elif isinstance(digest, str):
            try:
                outputs[name] = _verified(out / f"{name}.npz", digest, budget)
            except ResultRefused as e:
                errors[name] = f"{name}: result refused ({e})"
        else:
            err = ps.get("error")
            errors[name] = str(err)[:4000] if err else no_result
    return rec, outputs, errors


def _verified(path: Path, digest: str, budget: Budget) -> dict[str, np.ndarray]:
    data = read_capped(path, MAX_FILE_BYTES)
    if data is None:
        raise ResultRefused("missing, not a plain file, or too large")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ResultRefused("it was changed after the grader's runner wrote it")
    return load_npz(data, budget)


def load_npz(data: bytes, budget: Budget) -> dict[str, np.ndarray]:
    """Numeric arrays of an .npz, every size checked before it is read (no pickles)."""
    _check_directory(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ResultRefused(f"{len(infos)} arrays ({MAX_MEMBERS} at most)")
            keys: list[str] = []
            for info in infos:
                keys.append(_member_key(info, keys))
            budget.take(sum(i.file_size for i in infos), "its arrays")
            arrays: dict[str, np.ndarray] = {}
            for key, info in zip(keys, infos, strict=True):
                with zf.open(info) as f:
                    arrays[key] = _read_npy(f, info.file_size, key)
            return arrays
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
            NotImplementedError, RuntimeError) as e:
        raise ResultRefused(f"unreadable ({e.__class__.__name__})") from e


def _check_directory(data: bytes) -> None:
    """Refuse a zip whose directory is large or zip64 before zipfile parses it."""
    i = data.rfind(b"PK\x05\x06", max(0, len(data) - EOCD.size - 0xFFFF))
    if i < 0 or len(data) - i < EOCD.size:
        raise ResultRefused("not an .npz file")
    _, _, _, _, entries, size_cd, _, _ = EOCD.unpack_from(data, i)
    if entries > MAX_MEMBERS or size_cd > MAX_DIRECTORY_BYTES:
        raise ResultRefused(f"{entries} arrays ({MAX_MEMBERS} at most)")
    if i >= 20 and data[i - 20:i - 16] == b"PK\x06\x07":  # zip64: never written by the runner
        raise ResultRefused("zip64 directory")


def _member_key(info: zipfile.ZipInfo, seen: list[str]) -> str:
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ResultRefused(f"{info.filename}: unsupported compression")
    if not info.filename.endswith(".npy") or info.file_size > MAX_ARRAY_BYTES + MAX_HEADER_BYTES:
        raise ResultRefused(f"{info.filename[:80]!r}: not a small .npy member")
    key = info.filename[:-4]
    if key in seen:
        raise ResultRefused(f"{key[:80]!r} appears twice")
    return key


def _read_npy(f: IO[bytes], member_size: int, key: str) -> np.ndarray:
    """One .npy member: header first, then exactly the bytes its shape and dtype need."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
        else:
            raise ResultRefused(f"{key[:80]!r}: npy format {version}")
    except ValueError as e:
        raise ResultRefused(f"{key[:80]!r}: bad npy header") from e
    if any(d < 0 for d in shape):
        raise ResultRefused(f"{key[:80]!r}: bad shape {shape}")
    if dtype.kind not in NUMERIC or dtype.hasobject or dtype.subdtype is not None:
        raise ResultRefused(f"{key[:80]!r} has dtype {dtype}")
    n = math.prod(shape) * dtype.itemsize
    if n > MAX_ARRAY_BYTES or n > member_size:
        raise ResultRefused(f"{key[:80]!r}: shape {shape} is larger than allowed or stored")
    raw = f.read(n)
    if len(raw) != n:
        raise ResultRefused(f"{key[:80]!r}: truncated")
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.copy()
