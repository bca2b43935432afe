"""Course data: download from the canonical public URLs, verify SHA-256, cache."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Dataset:
    """One data file: where it comes from and what it must hash to."""

    name: str
    url: str
    sha256: str
    size: int


DATASETS = (
    Dataset(
        "names.txt",
        "https://raw.githubusercontent.com/karpathy/makemore/"
        "988aa59e4d8fefa526d06f3b453ad116258398d4/names.txt",
        "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d",
        228_145,
    ),
    Dataset(
        "tinyshakespeare.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/"
        "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        1_115_394,
    ),
)


class DataError(RuntimeError):
    """A download failed or did not match its checksum."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_cached(ds: Dataset, dest: Path) -> bool:
    """True when dest holds the file with the right hash."""
    p = dest / ds.name
    return p.is_file() and p.stat().st_size == ds.size and sha256_of(p) == ds.sha256


def _download(ds: Dataset, dest: Path, timeout: float) -> None:
    """Stream to a temp file, verify size and hash, then rename into place."""
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{ds.name}.")
    try:
        h, n = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(ds.url, timeout=timeout) as r:
            while block := r.read(1 << 16):
                n += len(block)
                if n > ds.size:
                    raise DataError(f"{ds.name}: server sent more than {ds.size} bytes")
                h.update(block)
                f.write(block)
        if h.hexdigest() != ds.sha256:
            raise DataError(f"{ds.name}: SHA-256 mismatch (got {h.hexdigest()}, want {ds.sha256})")
        os.replace(tmp, dest / ds.name)
    except OSError as e:
        raise DataError(f"{ds.name}: download from {ds.url} failed: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(dest: Path, datasets: tuple[Dataset, ...] = DATASETS, timeout: float = 60.0,
          log=print) -> list[Path]:  # type: ignore[no-untyped-def]
    """Make sure every dataset is in dest, downloading what is missing or corrupt."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        if is_cached(ds, dest):
            log(f"{ds.name}: cached, sha256 ok")
            continue
        log(f"{ds.name}: downloading {ds.url}")
        _download(ds, dest, timeout)
        log(f"{ds.name}: sha256 ok ({ds.size} bytes)")
    return [dest / ds.name for ds in datasets]
