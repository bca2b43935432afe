"""Capstone views and leaderboard: pseudonyms, labels and ranks, provenance, gradebook cells,
chart layout, and what the views draw when a report lacks a part (the browser tests in
tests/e2e/test_capstone_browser.py draw reports the real grader produced)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Benchmark, Student
from app.services import capstone, charts
from tests.app.conftest import sign_in
from tests.app.staff import login
from tests.factories import make_benchmark, make_student, make_submission
from workers.benchmarks import record_benchmarks

WHEN = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _graded(session: Session, student: Any, score: float | None = 90.0, **kw: Any) -> Any:
    return make_submission(session, student=student, week=kw.pop("week", 6), status="graded",
                           score=score, max_score=100.0, received_at=WHEN,
                           started_at=WHEN, finished_at=WHEN + timedelta(seconds=3), **kw)


def _architect(session: Session, login_: str, ratios: list[float], pseudonym: str | None = None,
               ) -> Any:
    st = make_student(session, github_login=login_, pseudonym=pseudonym)
    sub = _graded(session, st, commit_sha="c0ffee" + "0" * 34)
    for seed, v in enumerate(ratios):
        for metric, value, unit in (("speed_ratio", v, "x"), ("vanilla_tokens_per_s", 28_000.0,
                                    "tok/s"), ("tokens_per_s", 28_000.0 * v, "tok/s"),
                                    ("ms_per_iter", 4.0 / v, "ms"), ("vanilla_run_s", 0.2, "s"),
                                    ("run_s", 0.2 / v, "s"), ("whole_run_ratio", v, "x")):
            make_benchmark(session, submission=sub, track="architect", metric=metric,
                           value=value, unit=unit, seed=100 + seed, torch_version="2.13.0",
                           cuda_version="12.8")
    return sub


def test_pseudonym_opt_in_validated_and_unique(client, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    make_student(db_session, github_login="taken-login")
    make_student(db_session, github_login="other", pseudonym="Quick Fox")
    db_session.commit()
    csrf = sign_in(client, "pseudo-student")
    post = lambda name, token=csrf: client.post(  # noqa: E731
        "/me/pseudonym", data={"csrf": token, "pseudonym": name}, follow_redirects=False)
    assert post("Byte  Pair", "wrong").status_code == 403
    assert post("Byte  Pair").status_code == 303
    me = db_session.scalar(select(Student).where(Student.github_login == "pseudo-student"))
    db_session.refresh(me)
    assert me.pseudonym == "Byte Pair"  # spaces collapsed
    for bad, code in (("<script>", 422), ("ab", 422), ("quick fox", 409),
                      ("TAKEN-LOGIN", 409)):
        assert post(bad).status_code == code, bad
    db_session.refresh(me)
    assert me.pseudonym == "Byte Pair"
    assert 'value="Byte Pair"' in client.get("/me").text
    assert post("").status_code == 303  # opt out again
    db_session.refresh(me)
    assert me.pseudonym is None


def test_student_board_pseudonyms_ranks_labels_provenance(client, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/leaderboard", follow_redirects=False).status_code == 303  # sign in
    _architect(db_session, "slow-one", [0.5, 0.6, 0.7], pseudonym="Tortoise")
    _architect(db_session, "fast-one", [1.1, 1.2, 1.3])
    me = make_student(db_session, github_login="board-me")
    spec = _graded(db_session, me)
    for metric, v in (("val_loss", 1.5), ("unigram_loss", 3.0), ("val_loss_gain", 1.5)):
        make_benchmark(db_session, submission=spec, track="specialist", metric=metric, value=v,
                       unit="nats", seed=7)
    db_session.commit()
    sign_in(client, "board-me")
    html = client.get("/leaderboard").text
    for raw in ("slow-one", "fast-one", "vanilla_tokens_per_s", "speed_ratio", "whole_run_ratio",
                "vanilla_run_s", "e+0", "c0ffee"):  # no logins, raw names or others' commits
        assert raw not in html, raw
    arch = html[html.index('id="board-architect"'):html.index('id="board-specialist"')]
    assert arch.index("anonymous") < arch.index("Tortoise")  # ranked by speed ratio
    assert "1.2 ± 0.1" in arch and "Speed ratio" in arch and "tokens/s" in arch
    assert "Whole-run ratio" in arch and "Whole run" in arch and "vanilla 28,000" in arch
    assert "torch 2.13.0" in arch and "CUDA 12.8" in arch and "seeds 100, 101, 102" in arch
    mine = html[html.index('id="board-specialist"'):]
    assert 'class="mine"' in mine and "you" in mine and "Gain over unigram" in mine
    login(client, db_session)
    staff = client.get("/dashboard/leaderboard").text
    assert staff.index("fast-one") < staff.index("slow-one") and "Tortoise" in staff
    assert "c0ffee" in staff and "vanilla_tokens_per_s" not in staff


def test_benchmark_rows_keep_torch_and_cuda_versions(db_session: Session) -> None:
    sub = _graded(db_session, make_student(db_session))
    n = record_benchmarks(db_session, sub.id, {"benchmarks": [
        {"track": "architect", "metric": "speed_ratio", "value": 1.1, "unit": "x",
         "device": "NVIDIA H200", "seed": 3, "torch": "2.13.0+cu128", "cuda": "12.8"}]})
    db_session.flush()
    row = db_session.scalar(select(Benchmark).where(Benchmark.submission_id == sub.id))
    assert n == 1 and row is not None
    assert (row.torch_version, row.cuda_version, row.device) == ("2.13.0+cu128", "12.8",
                                                                   "NVIDIA H200")


def test_gradebook_tells_no_submission_from_failed_and_zero(client, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    st = make_student(db_session, github_login="cells-student")
    _graded(db_session, st, 0.0, week=1)
    make_submission(db_session, student=st, week=2, status="failed", error="bad notebook")
    db_session.commit()
    login(client, db_session)
    html = client.get("/dashboard?q=cells").text
    row = html[html.index("cells-student"):]
    row = row[:row.index("</tr>")]
    cells = re.findall(r"<td class=\"([^\"]+)\"", row)
    assert cells[0] == "c-lo" and "<b>0</b>" in row  # week 1: graded, scored 0
    assert cells[1] == "c-lo c-failed" and "✘ no score" in row  # week 2: submitted, failed
    assert row.count('title="no submission"') == 4  # weeks 3..6


def test_histogram_title_clears_the_tallest_bar() -> None:
    svg = str(charts.histogram([95.0] * 7 + [10.0], label="best score (%)"))
    count_y = [float(y) for y in re.findall(r'<text x="[\d.]+" y="([\d.]+)" font-size="10" '
                                            r'text-anchor="middle">7</text>', svg)]
    title_y = float(re.search(r'y="(\d+)" font-size="11" text-anchor="end"', svg)[1])  # type: ignore[index]
    assert count_y and min(count_y) - 10 > title_y  # the count's glyphs start below the title


def test_views_draw_nothing_for_absent_parts() -> None:
    assert capstone.view(None) == capstone.View()
    assert capstone.view({"extras": {"track": "architect"}}).architect is None
    empty = capstone.view({"extras": {"track": "inspector", "curves": {"steps": "x"}}})
    assert empty.curves is None and empty.inspector is None
    curves = capstone.view({"extras": {"curves": {
        "steps": [0, 10, 20], "student": [3.0, 2.0, 1.5], "reference": [3.0, 2.1, 1.4],
        "label": "Training loss, week 3"}}})
    assert str(curves.curves).count("<polyline") == 2 and curves.curve_label.endswith("week 3")


def test_inspector_long_prompt_is_capped_and_pooled() -> None:
    T = 100
    m = [[1.0 / (i + 1) if j <= i else 0.0 for j in range(T)] for i in range(T)]
    att = {"prompt": list("ab " * 34)[:T], "layers": [[m, m], [m, m]], "decimals": 3}
    v = capstone.view({"extras": {"track": "inspector", "attention": att}}, head="1-1")
    ins = v.inspector
    assert ins is not None and ins.selected == "1-1" and ins.shown == capstone.MAX_CHARS
    assert str(ins.svg).count("<rect") == capstone.MAX_CHARS ** 2
    assert all(str(t.thumb).count("<rect") == capstone.THUMB ** 2 for t in ins.maps)
    assert "␣" in str(ins.svg)  # spaces are visible on the axes
    bad = capstone.view({"extras": {"track": "inspector", "attention": att}}, head="9-9")
    assert bad.inspector is not None and bad.inspector.selected == "0-0"


def test_board_figures_never_use_exponent_notation() -> None:
    from app.services.leaderboard import fmt

    for v in (28_627.9, 550.2, 123.45, 20.0, 1.2, 0.0004, 1e-7, 0.0):
        for spread in (False, True):
            assert "e" not in fmt(v, spread), (v, spread, fmt(v, spread))
    assert (fmt(28_627.9), fmt(550.2, True), fmt(0.1, True)) == ("28,628", "550", "0.1")
