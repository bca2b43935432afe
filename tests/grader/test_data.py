"""`zerograd data fetch`: download, verify SHA-256, cache — against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import cli, data


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A loopback HTTP server over a folder; yields (base URL, folder, request log)."""
    root = tmp_path / "srv"
    root.mkdir()
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a: object) -> None:
            log.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, log
    httpd.shutdown()


def _dataset(base: str, name: str, content: bytes) -> data.Dataset:
    return data.Dataset(name, f"{base}/{name}", hashlib.sha256(content).hexdigest(), len(content))


def test_fetch_downloads_verifies_and_caches(server, tmp_path: Path) -> None:
    base, root, log = server
    content = b"emma\nolivia\nava\n"
    (root / "names.txt").write_bytes(content)
    ds = (_dataset(base, "names.txt", content),)
    dest = tmp_path / "cache"
    data.fetch(dest, ds, log=lambda *_: None)
    assert (dest / "names.txt").read_bytes() == content
    data.fetch(dest, ds, log=lambda *_: None)  # second time: from the cache
    assert log.count("/names.txt") == 1


def test_real_files_served_locally_match_pinned_hashes(server, tmp_path: Path,
                                                       data_dir: Path) -> None:
    base, root, _ = server
    pinned = []
    for ds in data.DATASETS:
        (root / ds.name).write_bytes((data_dir / ds.name).read_bytes())
        pinned.append(data.Dataset(ds.name, f"{base}/{ds.name}", ds.sha256, ds.size))
    paths = data.fetch(tmp_path / "c", tuple(pinned), log=lambda *_: None)
    assert [data.sha256_of(p) for p in paths] == [ds.sha256 for ds in data.DATASETS]


def test_corrupt_download_is_rejected_and_not_cached(server, tmp_path: Path) -> None:
    base, root, _ = server
    (root / "names.txt").write_bytes(b"tampered\n")
    ds = (data.Dataset("names.txt", f"{base}/names.txt", "0" * 64, 9),)
    with pytest.raises(data.DataError, match="SHA-256 mismatch"):
        data.fetch(tmp_path / "c", ds, log=lambda *_: None)
    assert list((tmp_path / "c").iterdir()) == []


def test_oversized_and_missing_downloads_fail_cleanly(server, tmp_path: Path) -> None:
    base, root, _ = server
    (root / "names.txt").write_bytes(b"x" * 100)
    with pytest.raises(data.DataError, match="more than"):
        data.fetch(tmp_path / "c", (data.Dataset("names.txt", f"{base}/names.txt", "0" * 64, 10),),
                   log=lambda *_: None)
    with pytest.raises(data.DataError, match="failed"):
        data.fetch(tmp_path / "c", (data.Dataset("gone.txt", f"{base}/gone.txt", "0" * 64, 10),),
                   log=lambda *_: None)
    assert list((tmp_path / "c").iterdir()) == []


def test_cli_data_fetch_uses_cache(tmp_path: Path, data_dir: Path, capsys) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    for ds in data.DATASETS:
        (dest / ds.name).write_bytes((data_dir / ds.name).read_bytes())
    assert cli.main(["data", "fetch", "--dir", str(dest)]) == 0
    assert "cached, sha256 ok" in capsys.readouterr().out
