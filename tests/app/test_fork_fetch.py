"""fetch_fork against a loopback smart-HTTP git server: sha/HEAD, symlinks, size, time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.services.forks import ForkError, fetch_fork, head_sha
from grader import source
from tests.app.gitserver import GitServer, make_repo

OK_PY = (Path(__file__).parent.parent / "fixtures" / "service" / "week1_ok.py").read_bytes()
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GitServer, dict]]:
    root = tmp_path_factory.mktemp("repos")
    shas = {
        "ok": make_repo(root, "ok", {"week1.py": OK_PY, "README.md": b"hi\n",
                                     "docs/link": "../README.md"}),
        "symlink": make_repo(root, "symlink", {"weeks/week1.ipynb": "/etc/passwd"}),
        "symdir": make_repo(root, "symdir", {"real/week1.py": OK_PY, "submissions": "real"}),
        "giant": make_repo(root, "giant", {"week1.py": OK_PY, "data.bin": b"\0" * (8 * MiB)}),
    }
    with GitServer(root) as srv:
        yield srv, shas


def _settings(srv: GitServer, **kw: object) -> Settings:
    base: dict = {"allowed_git_hosts": [srv.hostport], "fork_max_bytes": 2 * MiB,
                  "fork_timeout_s": 20}
    return Settings(**{**base, **kw})


def test_fetch_by_sha(server, tmp_path: Path) -> None:
    srv, shas = server
    dest = fetch_fork(srv.url("ok"), shas["ok"], tmp_path / "co", _settings(srv))
    assert (dest / "week1.py").read_bytes() == OK_PY
    assert head_sha(dest) == shas["ok"]
    assert (dest / "docs" / "link").is_file() and not (dest / "docs" / "link").is_symlink()
    assert source.load(dest, 1).origin == "week1.py"


def test_fetch_default_branch(server, tmp_path: Path) -> None:
    srv, shas = server
    dest = fetch_fork(srv.url("ok"), None, tmp_path / "co", _settings(srv))
    assert head_sha(dest) == shas["ok"]


def test_unknown_commit_and_repo(server, tmp_path: Path) -> None:
    srv, _ = server
    with pytest.raises(ForkError, match="not found"):
        fetch_fork(srv.url("ok"), "f" * 40, tmp_path / "a", _settings(srv))
    with pytest.raises(ForkError, match="not found"):
        fetch_fork(srv.url("missing"), None, tmp_path / "b", _settings(srv))


def test_symlinked_notebook_refused(server, tmp_path: Path) -> None:
    srv, shas = server
    for name in ("symlink", "symdir"):
        with pytest.raises(ForkError, match="symbolic link"):
            fetch_fork(srv.url(name), shas[name], tmp_path / name, _settings(srv))


def test_giant_file_refused_before_checkout(server, tmp_path: Path) -> None:
    srv, shas = server
    dest = tmp_path / "giant"
    with pytest.raises(ForkError, match="MiB limit"):
        fetch_fork(srv.url("giant"), shas["giant"], dest, _settings(srv))
    assert not (dest / "data.bin").exists()


def test_timeout_kills_git(server, tmp_path: Path) -> None:
    srv, _ = server
    t0 = time.monotonic()
    with pytest.raises(ForkError, match="took too long"):
        fetch_fork(f"http://{srv.hostport}/slow/x.git", None, tmp_path / "s",
                   _settings(srv, fork_timeout_s=1.0))
    assert time.monotonic() - t0 < 10


def test_url_checked_again_at_fetch(tmp_path: Path) -> None:
    with pytest.raises(ForkError, match="only https"):
        fetch_fork("file:///etc", None, tmp_path / "x", Settings())
    with pytest.raises(ForkError, match="not a commit sha"):
        fetch_fork("https://github.com/a/b", "--upload-pack=touch /tmp/x", tmp_path / "y",
                   Settings())
