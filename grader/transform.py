"""Rewrite a cell's top level: cap `for … in range(…)` loops, pin hyper-parameters.

Nothing the rewritten code relies on can be rebound by the student's code: a pin is a literal
(`n_embd = 32` after each assignment to n_embd), and a capped loop

    for i in range(n):   ->   for i in (LOG(R := RANGE(n)), R[:CAP])[1]:

slices with a literal CAP a range built by RANGE, a constant that `bind` replaces in the
compiled code object by the builtin `range` type itself (LOG by the runner's list.append, which
only feeds the "loops were shortened" message). Both are C objects with no writable state; R is
a per-run random name; no name the student can rebind is looked up in between.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any


def _is_range_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
    )


def _assigned_names(stmt: ast.stmt) -> list[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    names: list[str] = []
    for t in targets:
        for node in ast.walk(t):
            if isinstance(node, ast.Name):
                names.append(node.id)
    return names


@dataclass(frozen=True)
class Markers:
    """Per-run random names: the constants `bind` replaces and the loop's range variable."""

    token: str

    @property
    def range(self) -> str:
        return f"__zg_range_{self.token}__"

    @property
    def log(self) -> str:
        return f"__zg_log_{self.token}__"

    @property
    def var(self) -> str:
        return f"__zg_r_{self.token}__"


def _capped(call: ast.Call, m: Markers, cap: int) -> ast.expr:
    """(LOG(R := RANGE(*args)), R[:cap])[1]"""
    built = ast.Call(ast.Constant(m.range), call.args, call.keywords)
    log = ast.Call(ast.Constant(m.log), [ast.NamedExpr(ast.Name(m.var, ast.Store()), built)], [])
    head = ast.Subscript(ast.Name(m.var, ast.Load()),
                         ast.Slice(upper=ast.Constant(cap)), ast.Load())
    return ast.Subscript(ast.Tuple([log, head], ast.Load()), ast.Constant(1), ast.Load())


def _rewrite_body(body: list[ast.stmt], pins: Mapping[str, Any], m: Markers,
                  cap: int | None) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in body:
        if cap is not None and isinstance(stmt, ast.For) and _is_range_call(stmt.iter):
            assert isinstance(stmt.iter, ast.Call)
            stmt.iter = _capped(stmt.iter, m, cap)
        for field in ("body", "orelse", "finalbody"):
            # module-level code inside with/if/try still runs at the top level; inside a
            # loop it is pinned too, but its own loops keep their length
            if isinstance(stmt, ast.With | ast.If | ast.Try) and hasattr(stmt, field):
                setattr(stmt, field, _rewrite_body(getattr(stmt, field), pins, m, cap))
            elif isinstance(stmt, ast.For | ast.While) and hasattr(stmt, field):
                setattr(stmt, field, _rewrite_body(getattr(stmt, field), pins, m, None))
        if isinstance(stmt, ast.Try):
            for h in stmt.handlers:
                h.body = _rewrite_body(h.body, pins, m, cap)
        out.append(stmt)
        for name in _assigned_names(stmt):
            if name in pins:
                out.append(_pin(name, pins[name]))
    return out


def _pin(name: str, value: Any) -> ast.stmt:
    literal = ast.parse(repr(value), mode="eval").body  # numbers, str, bool, str lists
    plain = isinstance(literal, ast.Constant | ast.UnaryOp) or (
        isinstance(literal, ast.List | ast.Tuple)
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in literal.elts))
    if not plain:
        raise ValueError(f"hyper-parameter {name} must be a plain number, string or string list")
    return ast.Assign([ast.Name(name, ast.Store())], literal, lineno=0)


def rewrite(tree: ast.Module, pins: Mapping[str, Any], m: Markers, cap: int) -> ast.Module:
    """The module with top-level range loops capped and hyper-parameters pinned."""
    tree.body = _rewrite_body(tree.body, pins, m, cap)
    return ast.fix_missing_locations(tree)


def compile_cell(tree: ast.Module, name: str) -> CodeType:
    """compile(), without the warning about calling a constant (our markers, until bound)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'str' object is not callable", SyntaxWarning)
        return compile(tree, name, "exec")


def bind(code: CodeType, m: Markers, log: Callable[[range], None]) -> CodeType:
    """The top-level code object with the markers replaced by `range` and `log` themselves."""
    real = {m.range: _RANGE, m.log: log}
    consts = tuple(real.get(c, c) if isinstance(c, str) else c for c in code.co_consts)
    return code.replace(co_consts=consts)


_RANGE = range  # taken when the runner imports this module, before any student code
