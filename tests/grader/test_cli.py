"""The `zerograd` command: grade with a table and JSON/Gradescope output, reference-check."""

from __future__ import annotations

import json
from pathlib import Path

from grader import cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "week1" / "week1.ipynb"


def test_grade_prints_table_and_writes_reports(tmp_path: Path, data_dir: Path, capsys) -> None:
    out, gs = tmp_path / "r.json", tmp_path / "results.json"
    rc = cli.main(["grade", str(FIXTURE), "--week", "1", "--seed", "4", "--data-dir",
                   str(data_dir), "--json", str(out), "--gradescope", str(gs)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "Score: 100 / 100" in text and "PASS" in text
    report = json.loads(out.read_text())
    assert report["score"] == 100 and report["status"] == "graded"
    g = json.loads(gs.read_text())
    assert g["score"] == 100 and {t["status"] for t in g["tests"]} <= {"passed", "failed"}
    assert sum(t["max_score"] for t in g["tests"]) == 100


def test_grade_reports_failures_readably(tmp_path: Path, data_dir: Path, capsys) -> None:
    bad = tmp_path / "week1.py"
    bad.write_text("class Value:\n    pass\n")
    rc = cli.main(["grade", str(bad), "--week", "1", "--data-dir", str(data_dir)])
    text = capsys.readouterr().out
    assert rc == 0 and "FAIL" in text and "Score: 0 / 100" in text


def test_grade_rejects_bad_input_clearly(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "week1.ipynb"
    bad.write_bytes(b"not json")
    assert cli.main(["grade", str(bad), "--week", "1"]) == 2
    assert "not a valid notebook" in capsys.readouterr().err


def test_reference_check_passes(data_dir: Path, capsys) -> None:
    assert cli.main(["reference-check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "10,788,929" in out and "228146" in out


def test_report_json_is_strict_even_with_nan_and_inf() -> None:
    from grader.report import CheckResult, GradeReport

    r = GradeReport(week=1, title="t", status="graded", score=0.0, max_score=1.0, checks=[
        CheckResult("c", 0.0, 1.0, False, "diverged", 0.1, details={"maxdiff": float("inf"),
                                                                   "got": [float("nan"), 1.0]})],
        benchmarks=[{"metric": "val_loss", "value": float("-inf")}])
    text = r.to_json()
    json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert '"Infinity"' in text and '"NaN"' in text and '"-Infinity"' in text
