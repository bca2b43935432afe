"""Golden files of the rendered feedback (CLI text, web page fragment, Gradescope JSON) for a
notebook whose imports cell fails; ZG_UPDATE_GOLDEN=1 rewrites them, CI compares."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from grader import celltrace, cli, feedback, grade, source
from grader.report import CheckResult, GradeReport

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "feedback"
UPDATE = os.environ.get("ZG_UPDATE_GOLDEN") == "1"


def _stable(text: str) -> str:
    """Timings and float round-off out: they change from run to run."""
    text = re.sub(r"\d+ ms\b", "N ms", text)
    text = re.sub(r"max abs diff [-+.\de]+", "max abs diff X", text)
    return re.sub(r"\(graded, [\d.]+ s\)", "(graded, N s)", text)


def _golden(name: str, text: str) -> None:
    path = FIX / name
    if UPDATE:
        path.write_text(text)
    assert path.is_file(), f"{path} missing: run with ZG_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} changed; review, then ZG_UPDATE_GOLDEN=1"


@pytest.fixture(scope="module")
def report(data_dir: Path) -> GradeReport:
    src = source.load(FIX / "week1_missing_import.ipynb", 1)
    r = grade.grade(src, data_dir, seed=4)
    r.timings = {"total": 1.0}
    for c in r.checks:
        c.duration_s = 0.0
    return r


def _html(r: GradeReport) -> str:
    from app.templating import templates

    html = templates.env.get_template("_feedback.html").render(
        report=r.to_dict(staff=False), view=None)
    return re.sub(r"\n\s*\n", "\n", html).strip() + "\n"


def test_cli_text_is_golden(report: GradeReport) -> None:
    _golden("week1_missing_import.cli.txt", _stable(cli.format_table(report)) + "\n")


def test_web_fragment_is_golden(report: GradeReport) -> None:
    _golden("week1_missing_import.html", _stable(_html(report)))


def test_gradescope_json_is_golden(report: GradeReport) -> None:
    _golden("week1_missing_import.gradescope.json",
            _stable(json.dumps(report.to_gradescope(), indent=2, sort_keys=True)) + "\n")


def test_root_cause_points_at_the_first_failing_cell(report: GradeReport) -> None:
    fb = feedback.build(report.to_dict(staff=False))
    assert fb.root_cause.startswith("cell 2 (`import not_installed_pkg`) failed first: "
                                    "ModuleNotFoundError: No module named 'not_installed_pkg'")
    assert "5 check(s) below failed because names it defines are missing" in fb.root_cause
    assert fb.cell_errors[0].where == "cell 2, line 1: `import not_installed_pkg`"
    assert all(e.caused_by == "cell 2" for e in fb.cell_errors[1:])


def test_same_content_everywhere(report: GradeReport) -> None:
    """The root cause and each cell error's headline are in all three renderings."""
    fb = feedback.build(report.to_dict(staff=False))
    text, gs, html = cli.format_table(report), report.to_gradescope(), _html(report)
    for line in [fb.root_cause] + [e.headline() for e in fb.cell_errors]:
        assert line in text and line in gs["output"]
        assert line.replace("'", "&#39;").replace("`", "`") in html
    assert text.index("Cell errors") < text.index("PASS")  # "see the cell errors below" is true
    assert "relu (optional)" in {t["name"] for t in gs["tests"]}
    assert "0/0 bonus" not in text


def _tb_report(tb: str, n: int) -> dict:
    checks = [CheckResult(f"c{i}", 0.0, 5.0, False, tb, 0.0) for i in range(n)]
    return GradeReport(week=1, title="t", status="graded", score=0.0, max_score=5.0 * n,
                       checks=checks).to_dict()


def test_a_traceback_is_shown_once() -> None:
    tb = ('  File "cell 12", line 69, in tanh\n    t = exp(x)\n'
          "RuntimeError: shape '[-1, 1000]' is invalid\n")
    fb = feedback.build(_tb_report(tb, 8))
    assert fb.checks[0].traceback and not any(c.traceback for c in fb.checks[1:])
    assert all(c.same_as == "check 'c0'" for c in fb.checks[1:])
    assert fb.checks[1].summary == ("RuntimeError: shape '[-1, 1000]' is invalid "
                                    "(at cell 12, line 69)")


def test_multi_line_exception_messages_stay_whole() -> None:
    tb = ('  File "<cell 20>", line 3, in <module>\n    torch.cat(xs, 1.5)\n'
          "TypeError: cat() received an invalid combination of arguments - got (list, float):\n"
          " * (tuple of Tensors tensors, int dim, *, Tensor out)\n")
    num = celltrace.Numbering((23,), ("xs = []",), (), "", ("",))
    loc = num.locate(tb.replace("<cell 20>", "<cell 1>"))
    assert loc.type == "TypeError" and loc.message.startswith("cat() received")
    assert loc.exception.splitlines()[1].startswith(" * (tuple")
    assert loc.where.startswith("cell 23, line 3")


def test_loop_note_only_on_errors_a_loop_can_cause() -> None:
    num = celltrace.Numbering((1, 3), ("a", "b"), (), "", ("for i in range(9): pass", "x"))
    cells = [{"cell": 1, "error": None, "shortened_loops": 1},
             {"cell": 2, "error": "NameError: name 'q' is not defined\n", "shortened_loops": 0}]
    assert celltrace.cell_errors(cells, num)[0]["note"] == ""
    cells[1]["error"] = "AssertionError: needs the full loop\n"
    assert "shortens" in celltrace.cell_errors(cells, num)[0]["note"]


def test_values_differ_shows_the_first_differing_elements() -> None:
    import numpy as np

    from grader.checks import CheckFailed, expect_close

    got, want = np.array([1.0, 2.0, 3.0, 4.0, 9.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(CheckFailed) as e:
        expect_close(got, want, "logits")
    assert "first differing at flat index [4]: got [9.0] expected [5.0]" in e.value.message


def test_optional_checks_read_as_optional() -> None:
    r = GradeReport(week=1, title="t", status="graded", score=5.0, max_score=5.0, checks=[
        CheckResult("core", 5.0, 5.0, True, "ok", 0.0),
        CheckResult("relu", 0.0, 0.0, False, "AttributeError: no relu", 0.0, bonus=True)])
    text = cli.format_table(r)
    assert "0/0 bonus" not in text and "FAIL" not in text
    assert "OPT   relu" in text and "Optional, no points: AttributeError" in text
    gs = {t["name"]: t for t in r.to_gradescope()["tests"]}
    assert gs["relu (optional)"]["output"].startswith("Optional, no points")


def test_py_exports_name_file_lines() -> None:
    text = "# In[1]:\n\n\nimport math\n\n\n# In[2]:\n\n\nx = 1\ny = 1 / 0\n"
    src = source.from_bytes(text.encode(), "week1.py", 1)
    num = grade.numbering_of(src)
    tb = '  File "<cell 2>", line 5, in <module>\nZeroDivisionError: division by zero\n'
    assert num.renumber(tb).startswith('  File "week1.py", line 11 (cell 2)')
    assert num.locate(tb).where == "cell 2, line 5 (week1.py line 11): `y = 1 / 0`"


def test_week1_crash_names_the_expressions_and_the_fix() -> None:
    from grader.weeks import week1

    hint = week1._wrap_hint("add")
    assert "`a + k`" in hint and "`a + 2.3`" in hint and "Value(other)" in hint


@pytest.mark.parametrize(("error", "hinted"), [
    ("NameError: name 'GPTLanguageModel' is not defined", False),
    ("ModuleNotFoundError: No module named 'google.colab'", False),
    ("IndexError: index out of range in self", True),
])
def test_week5_crop_hint_only_where_a_missing_crop_shows(error: str, hinted: bool) -> None:
    from grader.checks import CheckFailed, Ctx
    from grader.weeks import week5_generate

    with pytest.raises(CheckFailed) as e:
        week5_generate.window(Ctx({}, {}, {"window": error}))
    assert ("must crop" in e.value.message) is hinted and error in e.value.message


def test_reports_stored_before_the_feedback_pass_still_render() -> None:
    """Old cell_errors records carry only cell/error: named by index, never a raw dict."""
    from app.templating import templates

    old = {"checks": [], "message": "1 cell(s) raised an error; see the cell errors below.",
           "cell_errors": [{"cell": 3, "error": '  File "<cell 3>", line 1, in <module>\n'
                            "    1 / 0\nZeroDivisionError: division by zero\n",
                            "seconds": 0.1, "shortened_loops": 0}]}
    fb = feedback.build(old)
    assert fb.cell_errors[0].headline() == "cell 3 raised ZeroDivisionError: division by zero"
    html = templates.env.get_template("_feedback.html").render(report=old, view=None)
    assert "cell 3 raised ZeroDivisionError" in html and "{&#39;cell&#39;" not in html
