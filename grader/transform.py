"""Rewrite a cell's top level: cap `for … in range(…)` loops, pin hyper-parameters."""

from __future__ import annotations

import ast

CAP_FN = "__zg_cap__"
HP_VAR = "__zg_hp__"


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


def _rewrite_body(body: list[ast.stmt], overrides: set[str]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.For) and _is_range_call(stmt.iter):
            stmt.iter = ast.Call(ast.Name(CAP_FN, ast.Load()), [stmt.iter], [])
        for field in ("body", "orelse", "finalbody"):
            # module-level code inside with/if/try still runs at the top level
            if isinstance(stmt, ast.With | ast.If | ast.Try) and hasattr(stmt, field):
                setattr(stmt, field, _rewrite_body(getattr(stmt, field), overrides))
        if isinstance(stmt, ast.Try):
            for h in stmt.handlers:
                h.body = _rewrite_body(h.body, overrides)
        out.append(stmt)
        for name in _assigned_names(stmt):
            if name in overrides:
                out.append(_pin(name))
    return out


def _pin(name: str) -> ast.stmt:
    value = ast.Subscript(ast.Name(HP_VAR, ast.Load()), ast.Constant(name), ast.Load())
    return ast.Assign([ast.Name(name, ast.Store())], value, lineno=0)


def rewrite(tree: ast.Module, overrides: set[str]) -> ast.Module:
    """Return the module with loops capped and hyper-parameters pinned."""
    tree.body = _rewrite_body(tree.body, overrides)
    return ast.fix_missing_locations(tree)
