"""The worker's sandbox self-test: passes here, and refuses when isolation cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import grade, jail, sandbox, selftest, source
from grader.report import STATUS_GRADER_ERROR, GradeReport


def test_self_test_passes_on_this_machine() -> None:
    st = selftest.run()
    assert st.ok, st.failures
    assert st.facts["host_uids"] and 0 not in st.facts["host_uids"]  # type: ignore[operator]
    assert not any(st.facts[k] for k in selftest.FORBIDDEN)


def test_refuses_without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    st = selftest.run()
    assert not st.ok and "bubblewrap" in st.failures[0]


def test_refuses_when_the_job_would_be_host_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug this test suite was written for: bwrap started as root with its own user
    namespace maps the job's uid to host root, whatever it looks like inside."""
    monkeypatch.setattr(jail, "mode", lambda: "userns")
    monkeypatch.setattr(jail, "acquire", lambda wait_s=30.0: jail.Slot(None))
    st = selftest.run()
    assert not st.ok
    assert "a job ran as host root" in st.failures
    assert "a job could read root only file" in st.failures  # /proc/sys is a read-only mount too


def test_fallback_is_never_a_pass() -> None:
    st = selftest.run("fallback")
    assert not st.ok and "UNSAFE" in st.failures[0]


def _week1(tmp_path: Path, data_dir: Path, week: int = 1, **kw: object) -> GradeReport:
    src = source.from_bytes(b"x = 1\n", f"week{week}.py", week)
    return grade.grade(src, data_dir, seed=1, **kw)  # type: ignore[arg-type]


def test_missing_bubblewrap_is_a_grader_fault(tmp_path: Path, data_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    r = _week1(tmp_path, data_dir)
    assert r.status == STATUS_GRADER_ERROR and "not your fault" in r.message
    assert "bubblewrap" in (r.staff_traceback or "")


def test_missing_course_data_is_a_grader_fault(tmp_path: Path) -> None:
    r = _week1(tmp_path, tmp_path, week=2)  # an empty data volume, as a fresh deployment has
    assert r.status == STATUS_GRADER_ERROR and "not your fault" in r.message
    assert "zerograd data fetch" in (r.staff_traceback or "")


def test_fallback_reports_say_unsafe(tmp_path: Path, data_dir: Path) -> None:
    r = _week1(tmp_path, data_dir, backend="fallback")
    if r.status == STATUS_GRADER_ERROR:  # this interpreter sits in a private folder
        assert "would run" in (r.staff_traceback or "")
    else:
        assert r.message.startswith("[UNSAFE development sandbox")
        assert r.sandbox["backend"] == "fallback"
