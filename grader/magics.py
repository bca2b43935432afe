"""IPython cell syntax -> plain Python, at intake on the trusted side (IPython's own transformer).

A cell that parses as Python is left as it is (IPython's transforms only touch text that is not
Python). Any other cell goes through IPython's `TransformerManager` (its cleanup and cell-magic
transforms, then its token transforms in one pass, bottom-up, so the cost stays linear in the
cell), which turns `%time x = f()`, `%%time` cells, `x = !ls`, `obj?`, prompts and indented cells
into plain Python calling `get_ipython()`. Then, wherever such a call stands alone on its lines,
the magics that only run code (`%time`, `%timeit`, `%prun` and the cell forms, `%%capture`) are
replaced by that code, so the runner's loop caps and line numbers see the student's own
statements. The remaining calls go to the sandbox's stub shell (grader/stubs/IPython/_shell.py):
every load of the bare name `get_ipython` becomes `__import__('IPython').get_ipython`, which the
stubs directory (first on the job's sys.path) resolves, so the job needs no real IPython.
"""

from __future__ import annotations

import ast
import re
from typing import Any

SHELL = "__import__('IPython').get_ipython"
RUN_LINE = {"time", "timeit", "prun"}  # line magics whose argument is a statement to run
RUN_CELL = RUN_LINE | {"capture"}  # cell magics whose body is Python run in the notebook
_OPTIONS = {  # the leading options each of those magics takes (IPython's option specs)
    "time": r"--no-raise-error",
    "timeit": r"-[nrp]\s*\d+|-[tcqo]+",
    "prun": r"-[lsTD]\s*\S+|-[rq]+",
    "capture": r"--no-(?:stdout|stderr|display)",
}
# where IPython's transforms can act: an escape (%, !, ?, autocall /,;) opening a line, a magic
# or shell assignment, a trailing `?`, or a >>> / In [n]: prompt
_CANDIDATE = re.compile(r"(?m)^[ \t]*[%!?/,;]|=[ \t]*[%!]|\?[ \t]*$|^[ \t]*(?:>>>|\.\.\.|In \[)")
EXTRA_PASSES = 3  # IPython-style re-scans after the single pass (none are needed in practice)


def strip_options(magic: str, line: str) -> str:
    """The magic's line without its leading options (`-n 10 f()` -> `f()` for timeit)."""
    opt = _OPTIONS.get(magic)
    if opt is None:
        return line.strip()
    return re.sub(rf"^\s*(?:(?:{opt})(?:\s+|$))*", "", line).strip()


class MagicLimitError(ValueError):
    """A cell holds more IPython constructs than intake will rewrite."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} IPython magics or shell lines")
        self.limit = limit


def to_python(cell: str, limit: int = 500) -> tuple[str, int]:
    """The cell as plain Python, and how many IPython constructs were rewritten (at most limit)."""
    code, count = cell, 0
    if needs_ipython(cell):
        code, count = _ipython(cell, limit)
    if "get_ipython" in code:
        code, inner = _inline(code, limit)
        code = _bind_shell(code)
        count += inner
    return code, count


def needs_ipython(cell: str) -> bool:
    """Whether IPython's transformer has work to do on this cell (it is not plain Python)."""
    return _maybe_ipython(cell) and not _parses(cell)


def _maybe_ipython(cell: str) -> bool:
    """Whether the cell holds anything IPython's transforms act on (a cheap superset test)."""
    first = next((line for line in cell.splitlines() if line.strip()), "")
    return first[:1].isspace() or _CANDIDATE.search(cell) is not None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _ipython(cell: str, limit: int) -> tuple[str, int]:
    """IPython's transform_cell, leading blank lines kept so line numbers match the notebook."""
    from IPython.core.inputtransformer2 import TransformerManager

    raw = cell.splitlines(keepends=True)
    blank = next((i for i, line in enumerate(raw) if line.strip()), len(raw))
    if blank == len(raw):
        return cell, 0
    text = "".join(raw[blank:])
    lines = (text if text.endswith("\n") else text + "\n").splitlines(keepends=True)
    tm: Any = TransformerManager()
    try:
        for transform in tm.cleanup_transforms + tm.line_transforms:
            lines = transform(lines)
        lines, count = _token_pass(tm, lines, limit)
        for _ in range(0 if _parses("".join(lines)) else EXTRA_PASSES):
            changed, lines = tm.do_one_token_transform(lines)
            if not changed:
                break
            count += 1
    except MagicLimitError:
        raise
    except Exception:  # noqa: BLE001 - IPython could not read it; the runner reports the syntax
        return cell, 0
    out = "\n" * blank + "".join(lines)
    return (out if cell.endswith("\n") else out.removesuffix("\n")), count


def _token_pass(tm: Any, lines: list[str], limit: int) -> tuple[list[str], int]:
    """IPython's token transforms, each logical line's first one, applied bottom-up in one pass."""
    from IPython.core.inputtransformer2 import TokenTransformBase, make_tokens_by_line

    found = []
    for tokens in make_tokens_by_line(lines):
        hits = [t for cls in tm.token_transformers if (t := cls.find([tokens])) is not None]
        if hits:
            found.append(min(hits, key=TokenTransformBase.sortby))
            if len(found) > limit:
                raise MagicLimitError(limit)
    for t in sorted(found, key=TokenTransformBase.sortby, reverse=True):
        try:
            lines = t.transform(lines)
        except SyntaxError:
            pass
    return lines, len(found)


def _magic_call(stmt: ast.stmt) -> tuple[str, list[str]] | None:
    """(method, string args) of a statement `get_ipython().run_*_magic('name', …)`."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    fn = call.func
    if not (isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Call)
            and isinstance(fn.value.func, ast.Name) and fn.value.func.id == "get_ipython"
            and not fn.value.args and not call.keywords):
        return None
    args = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return (fn.attr, args) if len(args) == len(call.args) else None


def _replacement(stmt: ast.stmt, indent: str, limit: int) -> tuple[list[str], int] | None:
    """The code a run-only magic statement stands for, or None to leave it to the stub shell."""
    found = _magic_call(stmt)
    if found is None:
        return None
    method, args = found
    if method == "run_line_magic" and len(args) == 2 and args[0] in RUN_LINE:
        code = strip_options(args[0], args[1])
        return ([indent + code + "\n"], 0) if code and _parses(code) else None
    if method == "run_cell_magic" and len(args) == 3 and args[0] in RUN_CELL and not indent:
        name, line, body = args
        rest = strip_options(name, line)
        head = ""
        if name == "capture" and rest:  # `%%capture out`: the stub binds `out`, the body runs
            head = f"get_ipython().run_cell_magic('capture', {rest!r}, '')"
        elif name != "time" and rest and _parses(rest):  # timeit/prun: setup statement
            head = rest
        code, count = to_python(body, limit)
        return [head + "\n"] + code.splitlines(keepends=True), count + 1
    return None


def _inline(code: str, limit: int) -> tuple[str, int]:
    """Replace each run-only magic call that stands alone on its lines by the code it runs."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code, 0
    lines = code.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    count = 0
    for node in ast.walk(tree):
        for value in vars(node).values():
            if not (isinstance(value, list) and value and isinstance(value[0], ast.stmt)):
                continue
            for stmt in value:
                if _magic_call(stmt) is None or not _alone(stmt, lines):
                    continue  # not a magic, or it shares its lines: the stub shell runs it
                first, last = stmt.lineno - 1, (stmt.end_lineno or stmt.lineno) - 1
                indent = lines[first][:len(lines[first]) - len(lines[first].lstrip())]
                new = _replacement(stmt, indent, limit - count - len(edits))
                if new is not None:
                    edits.append((first, last, new[0]))
                    count += new[1]
                    if count + len(edits) > limit:
                        raise MagicLimitError(limit)
    out: list[str] = []
    pos = 0
    for first, last, new_lines in sorted(edits):
        if last == len(lines) - 1 and not code.endswith("\n"):
            new_lines[-1] = new_lines[-1].removesuffix("\n")
        out += lines[pos:first] + new_lines
        pos = last + 1
    return "".join(out + lines[pos:]), count + len(edits)


def _alone(stmt: ast.stmt, lines: list[str]) -> bool:
    """Whether nothing but blanks shares the statement's first and last lines."""
    head = lines[stmt.lineno - 1].encode()[:stmt.col_offset]
    tail = lines[(stmt.end_lineno or stmt.lineno) - 1].encode()[stmt.end_col_offset or 0:]
    return not head.strip() and not tail.strip()


def _bind_shell(code: str) -> str:
    """Point each load of the bare name `get_ipython` at the sandbox's stub shell."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    loads: list[ast.Name] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "get_ipython":
            if not isinstance(node.ctx, ast.Load):
                return code  # the cell binds the name itself: its own binding wins
            loads.append(node)
        elif _binds(node):
            return code
    lines = code.splitlines(keepends=True)
    by_line: dict[int, list[ast.Name]] = {}
    for n in loads:
        by_line.setdefault(n.lineno - 1, []).append(n)
    for i, names in by_line.items():
        raw, pieces, pos = lines[i].encode(), [], 0
        for n in sorted(names, key=lambda n: n.col_offset):
            pieces += [raw[pos:n.col_offset], SHELL.encode()]
            pos = n.end_col_offset or n.col_offset
        lines[i] = b"".join(pieces + [raw[pos:]]).decode()
    return "".join(lines)


def _binds(node: ast.AST) -> bool:
    """Whether a def/class/import/argument binds the name `get_ipython`."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == "get_ipython"
    if isinstance(node, ast.Import | ast.ImportFrom):
        return any((a.asname or a.name) == "get_ipython" for a in node.names)
    if isinstance(node, ast.arg):
        return node.arg == "get_ipython"
    return False
