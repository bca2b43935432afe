"""Reading results back: only a finished job's own record counts; every size is bounded."""

from __future__ import annotations

import hashlib
import io
import json
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from grader import results
from grader.results import Budget, ResultRefused, load_npz, read_results

TOKEN = "a" * 32


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def write_job(out: Path, files: dict[str, bytes], token: str = TOKEN,
              digests: dict[str, str] | None = None) -> None:
    out.mkdir(exist_ok=True)
    for name, data in files.items():
        (out / f"{name}.npz").write_bytes(data)
    if digests is None:
        digests = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    rec = {"token": token, "cells": [],
           "probes": {n: {"ok": True, "error": None, "sha256": d} for n, d in digests.items()}}
    (out / "status.json").write_text(json.dumps(rec))


def test_a_finished_jobs_results_are_read(tmp_path: Path) -> None:
    write_job(tmp_path, {"p": npz(x=np.arange(3.0))})
    rec, outputs, errors = read_results(tmp_path, ["p", "q"], TOKEN, "no result")
    assert rec["token"] == TOKEN and np.array_equal(outputs["p"]["x"], [0, 1, 2])
    assert errors == {"q": "no result"}


@pytest.mark.parametrize("token", ["", "b" * 32, TOKEN[:-1]])
def test_a_record_of_another_job_voids_every_result(tmp_path: Path, token: str) -> None:
    write_job(tmp_path, {"p": npz(x=np.arange(3.0))}, token=token)
    rec, outputs, errors = read_results(tmp_path, ["p"], TOKEN, "ended early")
    assert rec == {} and outputs == {} and errors == {"p": "ended early"}


def test_no_record_voids_every_result(tmp_path: Path) -> None:
    write_job(tmp_path, {"p": npz(x=np.arange(3.0))})
    (tmp_path / "status.json").unlink()
    assert read_results(tmp_path, ["p"], TOKEN, "ended early")[1] == {}
    (tmp_path / "status.json").symlink_to(tmp_path / "p.npz")
    assert read_results(tmp_path, ["p"], TOKEN, "ended early")[1] == {}


def test_a_file_changed_after_the_runner_wrote_it_is_refused(tmp_path: Path) -> None:
    good = npz(x=np.arange(3.0))
    write_job(tmp_path, {"p": npz(x=np.full(3, 9.0))},
              digests={"p": hashlib.sha256(good).hexdigest()})
    _, outputs, errors = read_results(tmp_path, ["p"], TOKEN, "")
    assert outputs == {} and "changed after" in errors["p"]


def test_a_probe_without_a_digest_is_its_error_even_if_a_file_is_there(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "p.npz").write_bytes(npz(x=np.arange(3.0)))
    rec = {"token": TOKEN, "probes": {"p": {"ok": False, "error": "NameError: Value"}}}
    (tmp_path / "status.json").write_text(json.dumps(rec))
    _, outputs, errors = read_results(tmp_path, ["p"], TOKEN, "")
    assert outputs == {} and errors["p"] == "NameError: Value"


def test_pickles_and_non_numbers_are_refused() -> None:
    buf = io.BytesIO()
    np.savez(buf, o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ResultRefused, match="dtype"):
        load_npz(buf.getvalue(), Budget())
    with pytest.raises(ResultRefused, match="dtype"):
        load_npz(npz(s=np.array(["text"])), Budget())
    with pytest.raises(ResultRefused):
        load_npz(b"not a zip at all", Budget())


# -- zip bombs: each is refused from its directory / npy header, fast and without inflating

def _npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def bomb(shape: tuple[int, ...], zeros: int, declared: int | None = None,
         members: int = 1) -> bytes:
    """An .npz of deflated members: npy header for `shape`, then `zeros` zero bytes.

    declared: the uncompressed size written in the zip directory (default: the true one).
    """
    header = _npy_header(shape)
    comp, chunk = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(1 << 20)
    parts, crc = [comp.compress(header)], zlib.crc32(header)
    for _ in range(zeros >> 20):  # in 1 MB chunks: the test never holds the inflated bytes
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    data = b"".join(parts)
    size = len(header) + zeros if declared is None else declared
    if declared is not None and declared < 0xFFFFFFFF:  # the CRC of what the directory claims
        crc = zlib.crc32(bytes(max(0, declared - len(header))), zlib.crc32(header[:declared]))
    out, central = io.BytesIO(), io.BytesIO()
    for m in range(members):
        name = f"a{m}.npy".encode()
        off = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data),
                              min(size, 0xFFFFFFFF), len(name), 0) + name + data)
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                                  len(data), min(size, 0xFFFFFFFF), len(name), 0, 0, 0, 0, 0,
                                  off) + name)
    cd = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, members, members, len(cd), out.tell(), 0)
    return out.getvalue() + cd + end


def _refused_cheaply(data: bytes, match: str) -> None:
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ResultRefused, match=match):
        load_npz(data, Budget())
    assert time.perf_counter() - t0 < 2.0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mb < 64, f"refusing the bomb took {grown_mb:.0f} MB"


def test_a_small_file_declaring_gigabytes_is_refused_from_its_directory() -> None:
    data = bomb((4 << 30,), zeros=1 << 20, declared=0xFFFFFFFF)  # 1 KB claiming 4 GB
    assert len(data) < 4096
    _refused_cheaply(data, "not a small .npy member")


def test_a_header_claiming_more_than_the_member_holds_is_refused() -> None:
    data = bomb((10 << 30 >> 3,), zeros=1 << 20, declared=1000)  # 10 GB shape, 1000 B declared
    _refused_cheaply(data, "larger than allowed or stored")


def test_a_member_that_inflates_past_its_declared_size_is_read_only_that_far() -> None:
    """A real bomb (64 MB of zeros in ~64 KB) whose directory and header say 80 bytes."""
    data = bomb((10,), zeros=64 << 20, declared=len(_npy_header((10,))) + 80)
    assert len(data) < 128 * 1024
    t0 = time.perf_counter()
    try:
        arrays = load_npz(data, Budget())
        assert arrays["a0"].shape == (10,)  # exactly what the header promised, nothing more
    except ResultRefused:
        pass  # or refused (CRC): either way not inflated
    assert time.perf_counter() - t0 < 2.0


def test_arrays_over_the_total_budget_are_refused_before_inflating() -> None:
    per = 100 << 20  # three honest 100 MB members: each allowed, together over 256 MB
    data = bomb((per >> 3,), zeros=per, members=3)
    _refused_cheaply(data, "would exceed")


def test_a_directory_with_too_many_members_is_refused() -> None:
    data = bomb((1,), zeros=0, declared=None, members=results.MAX_MEMBERS + 1)
    _refused_cheaply(data, "arrays")


def test_the_budget_is_shared_by_all_results_of_one_grading(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(results, "MAX_TOTAL_BYTES", 1000)
    files = {n: npz(x=np.zeros(100)) for n in ("p", "q")}  # 800 B each
    write_job(tmp_path, files)
    _, outputs, errors = read_results(tmp_path, ["p", "q"], TOKEN, "")
    assert set(outputs) == {"p"} and "would exceed" in errors["q"]


@pytest.mark.parametrize("bad", [{"cells": "x"}, {"cells": [1]}, {"cells": [{"error": 3}]},
                                 {"exec_seconds": "soon"}, {"probes": {"p": "yes"}},
                                 {"cells": [{"seconds": "1"}]}])
def test_a_malformed_record_counts_as_no_record(tmp_path: Path, bad: dict) -> None:
    write_job(tmp_path, {"p": npz(x=np.arange(3.0))})
    rec = json.loads((tmp_path / "status.json").read_text()) | bad
    (tmp_path / "status.json").write_text(json.dumps(rec))
    assert read_results(tmp_path, ["p"], TOKEN, "ended early") == (
        {}, {}, {"p": "ended early"})
