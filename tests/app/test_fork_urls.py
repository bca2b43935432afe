"""Fork URL validation: only https GitHub repos and explicitly allowed hosts."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.services.forks import ForkError, validate_ref, validate_repo_url

S = Settings(allowed_git_hosts=["127.0.0.1:8123", "git.example.edu"])

GOOD = [
    ("https://github.com/octocat/zero-to-hero", "https://github.com/octocat/zero-to-hero"),
    ("https://github.com/octocat/zero-to-hero.git", "https://github.com/octocat/zero-to-hero"),
    ("https://github.com/octocat/zero-to-hero/", "https://github.com/octocat/zero-to-hero"),
    ("  https://GitHub.com/Oct-o-cat/nn.zero_to-hero  ",
     "https://github.com/Oct-o-cat/nn.zero_to-hero"),
    ("https://github.com:443/a/b", "https://github.com/a/b"),
    ("http://127.0.0.1:8123/repo.git", "http://127.0.0.1:8123/repo.git"),
    ("https://git.example.edu/group/sub/repo.git", "https://git.example.edu/group/sub/repo.git"),
]

BAD = [
    ("", "no repository URL"),
    ("github.com/octocat/repo", "only https"),
    ("git@github.com:octocat/repo.git", "only https"),
    ("ssh://git@github.com/octocat/repo", "only https"),
    ("git://github.com/octocat/repo", "only https"),
    ("file:///etc/passwd", "only https"),
    ("ext::sh -c touch% /tmp/pwned", "only https"),
    ("ftp://github.com/a/b", "only https"),
    ("http://github.com/octocat/repo", "plain http"),
    ("https://user:pw@github.com/octocat/repo", "credentials"),
    ("https://token@github.com/octocat/repo", "credentials"),
    ("https://github.com/octocat/repo?x=1", "characters"),
    ("https://github.com/octocat/repo#main", "characters"),
    ("https://github.com/octocat/re po", "characters"),
    ("https://github.com/octocat/%2e%2e", "characters"),
    ("https://github.com/octo\ncat/repo", "characters"),
    ("https://github.com/octocat/r\x00", "characters"),
    ("https://github.com/octocat", "form https://github.com/<owner>/<repo>"),
    ("https://github.com/octocat/repo/tree/main", "form https://github.com/<owner>/<repo>"),
    ("https://github.com/-octocat/repo", "not a valid GitHub user"),
    ("https://github.com/octocat/..", "not a valid GitHub repository"),
    ("https://github.com:22/a/b", "not allowed"),
    ("https://gitlab.com/a/b", "host 'gitlab.com' is not allowed"),
    ("https://github.com.evil.io/a/b", "not allowed"),
    ("https://140.82.112.3/a/b", "IP addresses are not allowed"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[::1]/a/b", "characters"),
    ("http://127.0.0.1:9999/repo.git", "IP addresses are not allowed"),
    ("http://127.0.0.1/repo.git", "IP addresses are not allowed"),
    ("http://git.example.edu/a/b", "plain http"),
    ("https://git.example.edu/a/../b", "not a repository path"),
    ("https://github.com/" + "a" * 300, "too long"),
]


@pytest.mark.parametrize(("url", "expected"), GOOD)
def test_good_urls(url: str, expected: str) -> None:
    assert validate_repo_url(url, S) == expected


@pytest.mark.parametrize(("url", "why"), BAD)
def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(ForkError) as e:
        validate_repo_url(url, S)
    assert why in str(e.value)


def test_listed_ip_host_needs_exact_port() -> None:
    s = Settings(allowed_git_hosts=["127.0.0.1:8123"])
    with pytest.raises(ForkError):
        validate_repo_url("https://127.0.0.1:8124/r.git", s)
    metadata = Settings(allowed_git_hosts=["169.254.169.254:80"])
    with pytest.raises(ForkError, match="metadata"):
        validate_repo_url("http://169.254.169.254:80/r.git", metadata)


@pytest.mark.parametrize("ref", ["a" * 40, "A" * 40, "main", "feature/x-1", None, ""])
def test_good_refs(ref: str | None) -> None:
    assert validate_ref(ref)


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/x", "-x", "a..b", "main.lock",
                                 "ref with space", "x" * 300, "HEAD~1", "refs/heads/main/"])
def test_bad_refs(ref: str) -> None:
    with pytest.raises(ForkError):
        validate_ref(ref)
