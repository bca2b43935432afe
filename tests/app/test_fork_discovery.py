"""Issue 11, fork discovery end to end: Colab's file names in a fetched fork and in a push,
and a push whose commit list GitHub truncated (the commit's tree, from the fake GitHub)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Submission, WebhookDelivery
from app.services.forks import ForkError, fetch_fork
from app.services.pushes import changed_paths, commits_truncated
from grader import source
from tests.app.fakegithub import FakeGitHub
from tests.app.gitserver import GitServer, make_repo
from tests.app.test_webhooks import post
from tests.grader.test_discover import VARIANTS

FIXTURES = Path(__file__).parent.parent / "fixtures"
COLAB1 = (FIXTURES / "colab" / "week1_colab.ipynb").read_bytes()
WEEK2 = (FIXTURES / "week2" / "week2.ipynb").read_bytes()


def payload(name: str, **kw: Any) -> dict[str, Any]:
    """A recorded-shape push payload from tests/fixtures/forks/."""
    return {**json.loads((FIXTURES / "forks" / name).read_text()), **kw}


def _subs(session: Session) -> list[tuple[int, str]]:
    return [(s.week, s.commit_sha or "") for s in
            session.scalars(select(Submission).order_by(Submission.week))]


def test_push_of_colab_default_path_enqueues_week_1(
        client: TestClient, db_session: Session, sent: list, fake_github: FakeGitHub) -> None:
    p = payload("push_colab_save.json")
    r = post(client, p, delivery="colab-1")
    assert r.status_code == 202, r.text
    assert _subs(db_session) == [(1, p["after"])]
    assert [w for _, w in sent] == [1]
    assert fake_github.tree_requests == []  # the payload said what changed: no API call


def test_push_changed_path_variants(client: TestClient, db_session: Session, sent: list) -> None:
    p = payload("push_colab_save.json")
    p["commits"][0]["added"] = ["weeks/Copy of week2.ipynb", "notebooks/Week03.ipynb"]
    p["commits"][0]["modified"] = ["week_4 (1).ipynb", "draft_week5.ipynb", "week6.txt"]
    assert post(client, p, delivery="variants").status_code == 202
    assert [w for w, _ in _subs(db_session)] == [2, 3, 4]


@pytest.mark.parametrize("rel, week", VARIANTS)
def test_push_uses_the_intake_rule(client: TestClient, db_session: Session, sent: list,
                                   tmp_path: Path, rel: str, week: int) -> None:
    """One rule: the path intake finds in a fork is the path a push maps to that week."""
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text("x = 1\n" if rel.endswith(".py") else json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []}]}))
    assert source.load(tmp_path, week).origin == rel
    p = payload("push_colab_save.json")
    p["commits"][0]["added"] = [rel]
    assert post(client, p, delivery=f"rule-{rel}").status_code == 202
    assert [w for w, _ in _subs(db_session)] == [week]


def test_truncated_push_uses_the_commits_tree(
        client: TestClient, db_session: Session, sent: list, fake_github: FakeGitHub) -> None:
    p = payload("push_truncated.json")
    assert commits_truncated(p) and set(changed_paths(p)) == {"README.md"}
    fake_github.trees[f"ada/zero-to-hero@{p['after']}"] = [
        "README.md", "Copy_of_week1.ipynb", "notebooks/Week 2.ipynb", "notes/lecture3.ipynb",
        ".ipynb_checkpoints/week4-checkpoint.ipynb"]
    r = post(client, p, delivery="trunc-1")
    assert r.status_code == 202, r.text
    assert _subs(db_session) == [(1, p["after"]), (2, p["after"])]
    assert fake_github.tree_requests == [f"ada/zero-to-hero@{p['after']}"]
    # the same commit delivered again (new id) dedupes
    assert post(client, p, delivery="trunc-2").status_code == 202
    assert len(_subs(db_session)) == 2


def test_truncated_push_without_week_is_ignored(
        client: TestClient, db_session: Session, sent: list, fake_github: FakeGitHub) -> None:
    p = payload("push_truncated.json", commits=[])  # e.g. a new branch: size 25, none listed
    fake_github.trees[f"ada/zero-to-hero@{p['after']}"] = ["README.md"]
    r = post(client, p, delivery="trunc-none")
    assert r.json()["outcome"] == "ignored: no week notebook in the pushed commit"
    assert _subs(db_session) == [] and sent == []


def test_truncated_push_github_down_is_503_and_not_recorded(
        client: TestClient, db_session: Session, sent: list, fake_github: FakeGitHub) -> None:
    p = payload("push_truncated.json")
    fake_github.trees[f"ada/zero-to-hero@{p['after']}"] = ["weeks/week5.ipynb"]
    fake_github.tree_status = 502
    r = post(client, p, delivery="trunc-down")
    assert r.status_code == 503 and "redeliver" in r.json()["detail"]
    assert db_session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.delivery_id == "trunc-down")) is None  # a redelivery will be handled
    assert _subs(db_session) == [] and sent == []
    fake_github.tree_status = 200
    assert post(client, p, delivery="trunc-down").status_code == 202
    assert [w for w, _ in _subs(db_session)] == [5]


def test_truncated_push_tree_not_visible_is_refused_with_reason(
        client: TestClient, db_session: Session, sent: list, fake_github: FakeGitHub) -> None:
    p = payload("push_truncated.json")  # the fake has no tree for it: 404, as for a private fork
    r = post(client, p, delivery="trunc-private")
    assert r.status_code == 202
    assert r.json()["outcome"].startswith("refused: the push lists only part of its commits")
    row = db_session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.delivery_id == "trunc-private"))
    assert row is not None and "private repository" in row.outcome
    assert _subs(db_session) == [] and sent == []


def test_untruncated_payloads() -> None:
    p = payload("push_colab_save.json")
    assert not commits_truncated(p)
    assert not commits_truncated({**p, "size": 1, "distinct_size": 1})
    assert commits_truncated({**p, "size": 2})
    assert commits_truncated({**p, "distinct_size": 2})
    assert commits_truncated({**p, "commits": [p["commits"][0]] * 2048})
    assert not commits_truncated({**p, "commits": [{**p["commits"][0], "distinct": False}],
                                  "distinct_size": 0})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GitServer, dict]]:
    root = tmp_path_factory.mktemp("repos")
    shas = {
        "colab": make_repo(root, "colab", {"Copy_of_week1.ipynb": COLAB1, "README.md": b"hi\n",
                                           "notebooks/Week02.ipynb": WEEK2}),
        "linkdir": make_repo(root, "linkdir", {"real/Copy_of_week1.ipynb": COLAB1,
                                               "notebooks": "real"}),
        "linkout": make_repo(root, "linkout", {"nb": "/etc", "README.md": b"hi\n"}),
        "linkto": make_repo(root, "linkto", {"homework": "weeks/week1.ipynb",
                                             "weeks/week1.ipynb": COLAB1}),
    }
    with GitServer(root) as srv:
        yield srv, shas


def _settings(srv: GitServer) -> Settings:
    return Settings(allowed_git_hosts=[srv.hostport], fork_max_bytes=2 * 1024 * 1024,
                    fork_timeout_s=20)


def test_fetched_colab_fork_finds_each_week(server, tmp_path: Path) -> None:
    srv, shas = server
    dest = fetch_fork(srv.url("colab"), shas["colab"], tmp_path / "co", _settings(srv))
    w1 = source.load(dest, 1)
    assert w1.origin == "Copy_of_week1.ipynb"
    assert w1.cells == source.from_bytes(COLAB1, "week1.ipynb", 1).cells
    assert source.load(dest, 2).origin == "notebooks/Week02.ipynb"
    with pytest.raises(source.SourceError, match=r"no week 3 notebook found; the notebooks and "
                                                 r"\.py files in your repository: "
                                                 r"Copy_of_week1\.ipynb \(looks like week 1\)"):
        source.load(dest, 3)


@pytest.mark.parametrize("repo", ["linkdir", "linkout", "linkto"])
def test_fork_links_the_grader_could_follow_are_refused(server, tmp_path: Path,
                                                        repo: str) -> None:
    srv, shas = server
    with pytest.raises(ForkError, match="symbolic link"):
        fetch_fork(srv.url(repo), shas[repo], tmp_path / repo, _settings(srv))
