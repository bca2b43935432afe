"""The grader's get_ipython(): magics that only run code run it, everything else does nothing.

Intake (grader/magics.py) has already turned IPython syntax into calls on this shell and
replaced the run-only magics by their code wherever it could; the calls that remain arrive here.
Code is run in the namespace of the frame that called the shell method (sys._getframe(1)): the
notebook's cell (its globals are the notebook namespace), or the function the magic sits in,
as IPython itself does for %time. Shell escapes (!cmd, x = !cmd) never run anything.
"""

import contextlib
import io
import re
import sys

from _anything import Anything

RUN = {"time", "timeit", "prun"}
_OPTIONS = {  # keep in step with grader/magics.py
    "time": r"--no-raise-error",
    "timeit": r"-[nrp]\s*\d+|-[tcqo]+",
    "prun": r"-[lsTD]\s*\S+|-[rq]+",
    "capture": r"--no-(?:stdout|stderr|display)",
    "writefile": r"-a|--append",
}


def strip_options(magic, line):
    """The magic's line without its leading options."""
    opt = _OPTIONS.get(magic)
    if opt is None:
        return line.strip()
    return re.sub(r"^\s*(?:(?:" + opt + r")(?:\s+|$))*", "", line).strip()


def _run(code, frame):
    """Run code in the frame's namespace; an expression's value is returned, as IPython does."""
    g, loc = frame.f_globals, frame.f_locals
    try:
        expr = compile(code, "<magic>", "eval")
    except SyntaxError:
        exec(compile(code, "<magic>", "exec"), g, loc)
        return None
    return eval(expr, g, loc)


class SList(list):
    """IPython's list of output lines (what `x = !cmd` gives): always empty here."""

    s = n = p = ""

    @property
    def l(self):  # noqa: E743
        return list(self)

    def grep(self, *args, **kwargs):
        return SList()

    def fields(self, *args):
        return SList()


class CapturedIO:
    """What `%%capture out` binds to `out`."""

    def __init__(self, stdout="", stderr=""):
        self.stdout, self.stderr, self.outputs = stdout, stderr, []

    def show(self):
        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)

    __call__ = show


class Shell:
    """Answers the calls that IPython syntax turns into."""

    def run_line_magic(self, magic_name, line, _stack_depth=1):
        if magic_name in RUN:
            return _run(strip_options(magic_name, line), sys._getframe(_stack_depth))
        return None  # %matplotlib, %pip, %load_ext, obj? (pinfo)...: nothing to do here

    def run_cell_magic(self, magic_name, line, cell):
        frame = sys._getframe(1)
        rest = strip_options(magic_name, line)
        if magic_name in RUN:
            if rest and magic_name != "time":  # %%timeit setup statement
                _run(rest, frame)
            _run(cell, frame)
        elif magic_name == "capture":
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    _run(cell, frame) if cell.strip() else None
            finally:
                if rest:
                    frame.f_locals[rest] = CapturedIO(out.getvalue(), err.getvalue())
        elif magic_name == "writefile" and rest:
            with open(rest, "a" if re.match(r"\s*(-a|--append)\b", line) else "w") as f:
                f.write(cell)
        return None  # %%bash, %%html, %%javascript...: nothing runs

    def magic(self, arg_s):
        name, _, line = arg_s.lstrip("%").partition(" ")
        return self.run_line_magic(name, line, _stack_depth=2)

    def system(self, cmd):
        return None  # `!cmd`: no shell commands in the autograder

    def getoutput(self, cmd, split=True):
        return SList() if split else ""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()

    def __repr__(self):
        return "<zerograd autograder shell: shell commands and most magics do nothing>"


_SHELL = Shell()


def get_ipython():
    return _SHELL
