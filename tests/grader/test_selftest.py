"""The worker's sandbox self-test: passes here, and refuses when isolation cannot be had."""

from __future__ import annotations

import pytest

from grader import jail, sandbox, selftest


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
    assert "a job could write proc sys" in st.failures


def test_fallback_is_never_a_pass() -> None:
    st = selftest.run("fallback")
    assert not st.ok and "UNSAFE" in st.failures[0]
