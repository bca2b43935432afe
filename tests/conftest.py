"""Shared fixtures: the course data directory and small self-made data."""

from __future__ import annotations

import os
import random
import string
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.dbfixtures"]


def _default_data_dir() -> Path:
    env = os.environ.get("ZEROGRAD_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real course data (names.txt, tinyshakespeare.txt); fails in CI if absent."""
    d = _default_data_dir()
    if not (d / "names.txt").exists() or not (d / "tinyshakespeare.txt").exists():
        if os.environ.get("CI"):
            pytest.fail(f"course data missing in {d} (set ZEROGRAD_DATA_DIR)")
        pytest.skip(f"course data missing in {d}")
    return d


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small made-up data with the same shape as the course files."""
    d = tmp_path_factory.mktemp("tinydata")
    rng = random.Random(0)
    names = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 8)))
             for _ in range(2000)]
    names += list(string.ascii_lowercase)  # every letter appears
    (d / "names.txt").write_text("\n".join(names))
    words = ["thou", "art", "the", "king", "and", "I", "shall", "speak", "ROMEO:", "JULIET:"]
    text = "\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(3000))
    (d / "tinyshakespeare.txt").write_text(text + "\n" + string.ascii_letters + ".,;:!?'-&$3\n")
    return d
