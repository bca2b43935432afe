"""Rewrite a cell's top level: cap `for … in range(…)` loops, pin hyper-parameters.

Nothing the rewritten code uses can be rebound by the student's code: a pin is a literal
(`n_embd = 32` after each assignment to n_embd), and a capped loop indexes a constant
(`MARKER[range(…)]`) that `bind` replaces, in the compiled code object, by the runner's own
capping object. No name is looked up, so no namespace, builtins or module the student can
reach holds either.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
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


def _rewrite_body(body: list[ast.stmt], pins: Mapping[str, Any], marker: str,
                  cap: bool = True) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in body:
        if cap and isinstance(stmt, ast.For) and _is_range_call(stmt.iter):
            stmt.iter = ast.Subscript(ast.Constant(marker), stmt.iter, ast.Load())
        for field in ("body", "orelse", "finalbody"):
            # module-level code inside with/if/try still runs at the top level; inside a
            # loop it is pinned too, but its own loops keep their length
            if isinstance(stmt, ast.With | ast.If | ast.Try) and hasattr(stmt, field):
                setattr(stmt, field, _rewrite_body(getattr(stmt, field), pins, marker, cap))
            elif isinstance(stmt, ast.For | ast.While) and hasattr(stmt, field):
                setattr(stmt, field, _rewrite_body(getattr(stmt, field), pins, marker, False))
        if isinstance(stmt, ast.Try):
            for h in stmt.handlers:
                h.body = _rewrite_body(h.body, pins, marker, cap)
        out.append(stmt)
        for name in _assigned_names(stmt):
            if name in pins:
                out.append(_pin(name, pins[name]))
    return out


def _pin(name: str, value: Any) -> ast.stmt:
    literal = ast.parse(repr(value), mode="eval").body  # ints, floats, str, bool, None
    if not isinstance(literal, ast.Constant | ast.UnaryOp):
        raise ValueError(f"hyper-parameter {name} must be a plain number or string")
    return ast.Assign([ast.Name(name, ast.Store())], literal, lineno=0)


def rewrite(tree: ast.Module, pins: Mapping[str, Any], marker: str) -> ast.Module:
    """The module with loops capped (`marker[range(…)]`) and hyper-parameters pinned."""
    tree.body = _rewrite_body(tree.body, pins, marker)
    return ast.fix_missing_locations(tree)


def bind(code: CodeType, marker: str, cap: object) -> CodeType:
    """The top-level code object with the marker constant replaced by `cap` itself."""
    consts = tuple(cap if isinstance(c, str) and c == marker else c for c in code.co_consts)
    return code.replace(co_consts=consts)
