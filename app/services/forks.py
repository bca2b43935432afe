"""Fork URLs (strict validation) and fetching one commit of a fork with git over https."""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from app.config import Settings

GITHUB = "github.com"
_URL_CHARS = re.compile(r"^[A-Za-z0-9:/._-]+$")
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$")
_STUDENT_FAULTS = ("repository not found", "not found", "could not read username",
                   "authentication failed", "couldn't find remote ref", "not our ref",
                   "unadvertised object", "invalid refspec", "does not appear to be a git")


class ForkError(ValueError):
    """A fork we cannot use; the message is shown to the student."""


def _allowed(settings: Settings) -> set[str]:
    return {h.strip().lower() for h in settings.allowed_git_hosts if h.strip()}


def _bad_ip(host: str) -> str | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.is_link_local or str(ip) in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254"):
        return "cloud metadata / link-local addresses are not allowed"
    return "IP addresses are not allowed; use https://github.com/<owner>/<repo>"


def validate_repo_url(url: str, settings: Settings) -> str:
    """The normalized URL of a fork, or ForkError saying why it is refused."""
    url = (url or "").strip()
    hint = "use the https address of your fork, e.g. https://github.com/<you>/<repo>"
    if not url:
        raise ForkError(f"no repository URL given; {hint}")
    if len(url) > 300:
        raise ForkError("repository URL is too long")
    low = url.lower()
    if low.startswith(("git@", "ssh:", "git:", "file:", "ext::")) or "://" not in url:
        raise ForkError(f"only https repository URLs are accepted; {hint}")
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("https", "http"):
        raise ForkError(f"only https repository URLs are accepted (got {scheme!r}); {hint}")
    if "@" in rest.split("/", 1)[0]:
        raise ForkError("repository URLs must not contain credentials (user:password@)")
    if not _URL_CHARS.match(url):
        raise ForkError("repository URL contains characters that are not allowed "
                        "(no spaces, query strings, fragments or percent-escapes)")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        raise ForkError("repository URL has an invalid port") from None
    hostport = f"{host}:{port}" if port else host
    allowed = _allowed(settings)
    listed = hostport in allowed or (port is None and host in allowed)
    why_ip = _bad_ip(host)
    if why_ip and (not listed or "metadata" in why_ip):
        raise ForkError(why_ip)
    if parts.scheme.lower() == "http" and not (port and hostport in allowed):
        raise ForkError(f"plain http is not allowed; {hint}")
    if host == GITHUB and port in (None, 443):
        return _github(parts.path, hint)
    if not listed:
        raise ForkError(f"host {host!r} is not allowed; {hint}")
    segs = [s for s in parts.path.split("/") if s]
    if not segs or len(segs) > 6 or any(s in (".", "..") or not _SEGMENT.match(s) for s in segs):
        raise ForkError("repository URL path is not a repository path")
    return f"{parts.scheme.lower()}://{hostport}/{'/'.join(segs)}"


def _github(path: str, hint: str) -> str:
    segs = path.strip("/").split("/") if path.strip("/") else []
    if len(segs) != 2:
        raise ForkError(f"a GitHub repository URL has the form https://github.com/<owner>/<repo>; "
                        f"{hint}")
    owner, repo = segs[0], segs[1].removesuffix(".git")
    if not _OWNER.match(owner):
        raise ForkError(f"{owner!r} is not a valid GitHub user or organization name")
    if repo in ("", ".", "..") or not _SEGMENT.match(repo):
        raise ForkError(f"{repo!r} is not a valid GitHub repository name")
    return f"https://{GITHUB}/{owner}/{repo}"


def repo_owner(url: str) -> tuple[str, str]:
    """(owner, repo) of a URL that validate_repo_url returned."""
    segs = urlsplit(url).path.strip("/").split("/")
    if len(segs) < 2:
        raise ForkError("the repository URL does not name an owner: use "
                        "https://<host>/<owner>/<repo>")
    return segs[0], segs[-1].removesuffix(".git")


def check_owner(url: str, login: str) -> None:
    """ForkError unless the repository belongs to `login` (case-insensitive)."""
    owner, _ = repo_owner(url)
    if owner.lower() != login.lower():
        raise ForkError(f"{url} belongs to {owner!r}, not to you ({login}); submit your own "
                        "fork")


def is_github(url: str) -> bool:
    """Is this a github.com repository URL?"""
    return urlsplit(url).hostname == GITHUB


def validate_ref(ref: str | None) -> str:
    """A commit sha or a plain ref name (never an option); HEAD when empty."""
    ref = (ref or "").strip() or "HEAD"
    if _SHA.match(ref.lower()):
        return ref.lower()
    if not _REF.match(ref) or ".." in ref or ref.endswith((".lock", "/", ".")):
        raise ForkError(f"{ref!r} is not a commit sha or branch name")
    return ref


def _git_env(git: str, scheme: str, home: str) -> dict[str, str]:
    """A minimal environment: no inherited credentials, config, askpass or proxies."""
    found = shutil.which(git)
    path = os.pathsep.join(filter(None, [os.path.dirname(found or ""), os.defpath]))
    env = dict(PATH=path, LC_ALL="C")  # C locale: git's messages are matched below
    env.update(GIT_TERMINAL_PROMPT="0", GIT_LFS_SKIP_SMUDGE="1", GIT_CONFIG_NOSYSTEM="1",
               GIT_CONFIG_GLOBAL=os.devnull, HOME=home, GIT_ASKPASS="/bin/false",
               SSH_ASKPASS="/bin/false", GIT_ALLOW_PROTOCOL=scheme)
    return env


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _run(args: list[str], env: dict[str, str], deadline: float, watch: Path,
         max_bytes: int, what: str) -> str:
    """Run git; kill its process group on timeout or when `watch` grows past max_bytes."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        reason, last = "", 0.0
        while proc.poll() is None:
            now = time.monotonic()
            if now > deadline:
                reason = "timeout"
            elif now - last > 0.5:
                last = now
                if _tree_bytes(watch) > max_bytes:
                    reason = "size"
            if reason:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
        err.seek(0)
        stderr = err.read()[-4000:].decode("utf-8", "replace")
    if reason == "timeout":
        raise ForkError(f"{what} took too long; keep your repository small")
    if reason == "size":
        raise ForkError(f"{what} stopped: the repository is larger than "
                        f"{max_bytes // (1024 * 1024)} MiB")
    if proc.returncode != 0:
        low = stderr.lower()
        if any(s in low for s in _STUDENT_FAULTS) or re.search(r"returned error: [34]\d\d", low):
            raise ForkError(f"{what} failed: the repository or commit was not found, "
                            "or the repository is private")
        raise RuntimeError(f"git {args[3:5]} failed ({proc.returncode}): {stderr.strip()}")
    return stderr


def _grader_reads(link: str) -> bool:
    """Whether the grader could read `link`: a week notebook by the discovery rule, or an
    extra file (capstone/data.txt) or a folder above one."""
    from grader import discover, source

    extras = [p for extra in source.EXTRA_FILES.values() for p in extra]
    return discover.week_of_path(link) is not None or any(
        p == link or p.startswith(link + "/") for p in extras)


def _check_tree(dest: Path, git: list[str], max_bytes: int) -> None:
    """Refuse giant trees, before checkout, and symlinks the grader could read through: a
    week notebook's name, a link to one, to a folder (the grader looks in any folder) or out."""
    out = subprocess.run([*git, "ls-tree", "-r", "-l", "-z", "FETCH_HEAD"], cwd=dest,
                         capture_output=True, check=True, timeout=60).stdout
    total, links, folders = 0, list[tuple[str, str]](), set[str]()
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, raw = entry.partition(b"\t")
        mode, _kind, blob, size = meta.split()
        path = raw.decode("utf-8", "replace")
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if mode == b"120000":
            links.append((path, blob.decode()))
        if size != b"-":
            total += int(size)
    if total > max_bytes:
        raise ForkError(f"the repository's files add up to {total // (1024 * 1024)} MiB, over the "
                        f"{max_bytes // (1024 * 1024)} MiB limit; do not commit data or models")
    targets = _link_targets(dest, git, [sha for _, sha in links])
    for link, link_sha in links:
        target = targets.get(link_sha, "/")
        into = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
        if (_grader_reads(link) or _grader_reads(into) or into in folders
                or posixpath.isabs(target) or into.startswith("..")):
            raise ForkError(f"{link} is a symbolic link in your repository; "
                            "commit the real file instead")


def _link_targets(dest: Path, git: list[str], shas: list[str]) -> dict[str, str]:
    """What each symlink blob points to, read in one `git cat-file --batch`."""
    if not shas:
        return {}
    out = subprocess.run([*git, "cat-file", "--batch"], cwd=dest, capture_output=True, check=True,
                         timeout=60, input="".join(f"{s}\n" for s in set(shas)).encode()).stdout
    targets, pos = {}, 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].decode().split()
        if len(header) != 3:  # "<sha> missing": refused as an unknown target
            pos = header_end + 1
            continue
        sha, _kind, size = header
        start = header_end + 1
        targets[sha] = out[start:start + int(size)].decode("utf-8", "replace")
        pos = start + int(size) + 1
    return targets


def fetch_fork(repo_url: str, commit_sha: str | None, dest: Path, settings: Settings) -> Path:
    """Shallow-fetch one commit of a fork into the empty directory `dest`; return it."""
    url = validate_repo_url(repo_url, settings)
    ref = validate_ref(commit_sha)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise RuntimeError(f"fetch_fork: {dest} is not empty")
    deadline = time.monotonic() + settings.fork_timeout_s
    limit = settings.fork_max_bytes
    with tempfile.TemporaryDirectory(prefix="zg-git-home-") as home:
        env = _git_env(settings.git_binary, urlsplit(url).scheme, home)
        git = [settings.git_binary, "-c", "protocol.file.allow=never", "-c", "core.symlinks=false",
               "-c", "core.hooksPath=/dev/null", "-c", "submodule.recurse=false",
               "-c", "http.followRedirects=false", "-c", "core.longpaths=false"]
        subprocess.run([*git, "init", "-q", str(dest)], env=env, check=True, timeout=30,
                       capture_output=True)
        subprocess.run([*git, "-C", str(dest), "remote", "add", "origin", url], env=env,
                       check=True, timeout=30, capture_output=True)
        _run([*git, "-C", str(dest), "fetch", "-q", "--depth", "1", "--no-tags",
              "--no-recurse-submodules", "origin", ref], env, deadline, dest, limit,
             "fetching your repository")
        _check_tree(dest, [*git, "-C", str(dest)], limit)
        _run([*git, "-C", str(dest), "checkout", "-q", "--detach", "FETCH_HEAD"], env, deadline,
             dest, 2 * limit, "checking out your repository")
    if _tree_bytes(dest) - _tree_bytes(dest / ".git") > limit:
        raise ForkError(f"the checkout is larger than {limit // (1024 * 1024)} MiB")
    return dest


def head_sha(checkout: Path) -> str:
    """The commit sha checked out in `checkout` (after fetch_fork)."""
    out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                         check=True, timeout=30, text=True)
    return out.stdout.strip()

