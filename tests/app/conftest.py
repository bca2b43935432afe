"""App test helpers: capture jobs sent after commit."""

from __future__ import annotations

import pytest

import app.queue


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(submission_id, week) of every job dispatched after a commit."""
    jobs: list[tuple[str, int]] = []
    monkeypatch.setattr(app.queue, "dispatch", lambda _s, sid, week: jobs.append((sid, week)))
    return jobs
