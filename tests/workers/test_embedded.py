"""Embedded mode (`make run`): SQLite and the in-process grading pool, no Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import queue
from app.config import Settings
from tests.dbfixtures import alembic_run
from tests.workers.conftest import week1
from tests.workers.e2e import api, wait_for


@pytest.fixture
def esettings(tmp_path: Path, data_dir: Path) -> Iterator[Settings]:
    """A fresh SQLite database at Alembic head and one embedded worker thread."""
    url = f"sqlite:///{tmp_path / 'zg.sqlite3'}"
    alembic_run(url, "upgrade", "head")
    s = Settings(database_url=url, redis_url=None, data_dir=data_dir, embedded_workers=1,
                 sweep_interval_s=0.5, stuck_after_s=60, max_upload_bytes=256 * 1024)
    queue.start_embedded_workers(s)
    yield s
    queue.stop_embedded_workers()


def test_upload_is_graded_in_process(esettings: Settings) -> None:
    with api(esettings) as client:
        sids = [client.post("/api/submissions/upload",
                            data={"github_login": f"bob{i}", "week": "1"},
                            files={"file": ("week1.py", week1(), "text/x-python")}).json()["id"]
                for i in range(2)]

        def done() -> bool:
            return all(client.get(f"/api/submissions/{s}").json()["status"] == "graded"
                       for s in sids)

        wait_for(done, 90, "graded in process")
        for sid in sids:
            res = client.get(f"/api/submissions/{sid}/results").json()
            assert res["status"] == "graded" and len(res["checks"]) > 0


def test_bad_upload_in_embedded_mode_fails_cleanly(esettings: Settings) -> None:
    # bypass the API's validation: a row whose bytes do not parse
    from app.db import session_scope
    from tests.factories import make_submission

    with session_scope(esettings) as s:
        sid = make_submission(s, notebook=b"{broken", filename="week1.ipynb").id
        queue.enqueue_grading(s, sid, 1, esettings)
    with api(esettings) as client:
        wait_for(lambda: client.get(f"/api/submissions/{sid}").json()["status"] == "failed",
                 60, "failed")
        assert client.get(f"/api/submissions/{sid}/results").json()["error"]
