"""Rewrite a cell's top level: cap training loops, pin hyper-parameters.

Nothing the rewritten code relies on can be rebound by the student's code: a pin is a literal
(`n_embd = 32` after each assignment to n_embd), and a capped loop

    for i in range(n):        ->   for i in (LOG(R := RANGE(n)), R[:CAP])[1]:
    for i in tqdm(range(n)):  ->   for i in (LOG(R := RANGE(n)), ISLICE(tqdm(R[:CAP]), CAP))[1]:
    for i in trange(n, **k):  ->   for i in (LOG(R := RANGE(n)),
                                             ISLICE(trange(R.start, R.stop, R.step, **k), CAP))[1]:
    while cond: body          ->   for R in RANGE(CAP + 1):
                                       if not cond: <the while's else>; break
                                       if R == CAP: LOG(RANGE(CAP + 1)); break   # shortened
                                       body

slices with a literal CAP a range built by RANGE (and ISLICE, itertools.islice, stops whatever
tqdm, enumerate or trange return after CAP items, even if the student rebinds them): constants
that `bind` replaces in the compiled code object by the builtin `range` type and `islice`
themselves (LOG by the runner's list.append, which only feeds the "loops were shortened"
note). All are C objects with no writable state; R is a per-run
random name; no name the student can rebind is looked up in between.

Which loops: top-level ones (also inside a top-level with/if/try), never nested ones, never
loops inside functions. A `for` loop over a range whose bounds read a size (`X.shape[0]`,
`len(X)`, `X.size(0)`, `X.numel()`, `X.nelement()`) is a pass over data, not training steps,
and keeps its full length: checks depend on it (week 4's `for k in range(Xb.shape[0])` builds
dC over the whole batch).
"""

from __future__ import annotations

import ast
import itertools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

WRAPPERS = {"tqdm", "enumerate", "tqdm_notebook"}  # f(range(…), …): the range is capped
SIZES = {"shape", "size", "numel", "nelement"}  # a range over X.shape[0]… walks data: not capped


def _is_range_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
    )


def _func_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def data_sized(call: ast.Call) -> bool:
    """The range's bounds read a size (X.shape[0], len(X), X.size(0), …): a pass over data."""
    for node in ast.walk(ast.Tuple([*call.args, *(k.value for k in call.keywords)])):
        if isinstance(node, ast.Attribute) and node.attr in SIZES:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "len":
            return True
    return False


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
    def islice(self) -> str:
        return f"__zg_islice_{self.token}__"

    @property
    def var(self) -> str:
        return f"__zg_r_{self.token}__"


def _capped(call: ast.Call, m: Markers, cap: int) -> ast.expr:
    """(LOG(R := RANGE(*args)), R[:cap])[1]"""
    head = ast.Subscript(ast.Name(m.var, ast.Load()),
                         ast.Slice(upper=ast.Constant(cap)), ast.Load())
    return _logged(call, m, head)


def _logged(call: ast.Call, m: Markers, then: ast.expr) -> ast.expr:
    """(LOG(R := RANGE(*call.args)), then)[1]"""
    built = ast.Call(ast.Constant(m.range), call.args, call.keywords)
    log = ast.Call(ast.Constant(m.log), [ast.NamedExpr(ast.Name(m.var, ast.Store()), built)], [])
    return ast.Subscript(ast.Tuple([log, then], ast.Load()), ast.Constant(1), ast.Load())


def _trange(call: ast.Call, m: Markers, cap: int) -> ast.expr:
    """(LOG(R := RANGE(*args)), ISLICE(trange(R.start, R.stop, R.step, **kw), cap))[1]"""
    r: list[ast.expr] = [ast.Attribute(ast.Name(m.var, ast.Load()), a, ast.Load())
         for a in ("start", "stop", "step")]
    inner = ast.Call(call.func, r, call.keywords)
    sliced = ast.Call(ast.Constant(m.islice), [inner, ast.Constant(cap)], [])
    return _logged(ast.Call(call.func, call.args, []), m, sliced)


def cap_iter(it: ast.expr, m: Markers, cap: int) -> ast.expr:
    """A `for` loop's iterable, capped if it is a (wrapped) range of training steps."""
    if not isinstance(it, ast.Call) or data_sized(it):
        return it
    if _is_range_call(it):
        return _capped(it, m, cap)
    name = _func_name(it)
    if name == "trange" and not any(isinstance(a, ast.Starred) for a in it.args):
        return _trange(it, m, cap)
    if name in WRAPPERS and it.args and _is_range_call(it.args[0]):
        first = it.args[0]
        assert isinstance(first, ast.Call)
        if not data_sized(first):
            head = ast.Subscript(ast.Name(m.var, ast.Load()),
                                 ast.Slice(upper=ast.Constant(cap)), ast.Load())
            wrapped = ast.Call(it.func, [head, *it.args[1:]], it.keywords)
            return _logged(first, m, ast.Call(ast.Constant(m.islice),
                                              [wrapped, ast.Constant(cap)], []))
    return it


def _cap_while(stmt: ast.While, m: Markers, cap: int) -> ast.For:
    """for R in RANGE(cap + 1): (if not test: orelse; break); (if R == cap: LOG(…); break); body"""
    stop = ast.If(ast.UnaryOp(ast.Not(), stmt.test), [*stmt.orelse, ast.Break()], [])
    shortened = ast.Expr(ast.Call(ast.Constant(m.log), [
        ast.Call(ast.Constant(m.range), [ast.Constant(cap + 1)], [])], []))
    at_cap = ast.If(ast.Compare(ast.Name(m.var, ast.Load()), [ast.Eq()], [ast.Constant(cap)]),
                    [shortened, ast.Break()], [])
    loop = ast.For(ast.Name(m.var, ast.Store()),
                   ast.Call(ast.Constant(m.range), [ast.Constant(cap + 1)], []),
                   [stop, at_cap, *stmt.body], [])
    return ast.copy_location(loop, stmt)


def _rewrite_body(body: list[ast.stmt], pins: Mapping[str, Any], m: Markers,
                  cap: int | None) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in body:
        if cap is not None and isinstance(stmt, ast.For):
            stmt.iter = cap_iter(stmt.iter, m, cap)
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
        if cap is not None and isinstance(stmt, ast.While):
            stmt = _cap_while(stmt, m, cap)
        out.append(stmt)
        for name in _assigned_names(stmt):
            if name in pins:
                out.append(_pin(name, pins[name]))
    return out


def fills(tree: ast.AST) -> frozenset[str]:
    """Names the code fills in place: `n[…] = …`, `n[…] += …`, `n.add_(…)` (a trailing _)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name):
            out.add(node.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.attr.endswith("_") \
                and not node.func.attr.startswith("_"):
            out.add(node.func.value.id)
    return frozenset(out)


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
    real = {m.range: _RANGE, m.log: log, m.islice: _ISLICE}
    consts = tuple(real.get(c, c) if isinstance(c, str) else c for c in code.co_consts)
    return code.replace(co_consts=consts)


# taken when the runner imports this module, before any student code
_RANGE, _ISLICE = range, itertools.islice
