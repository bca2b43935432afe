"""Week 4, Exercise 1 integrity: what the sandbox is sent, and how a gradient earns its points.

Three defences, all decided here in the trusted process:
- Inherited credit (a gradient that is the right step from a wrong upstream) needs every
  upstream gradient it is computed from to be non-degenerate: right, or with a norm within
  NORM_BAND of the reference's. Zeros are "the right step" from zeros; they earn nothing.
- The student's Exercise 1 statements (the source, from the first statement that assigns a d*
  gradient to where the runner's snapshot of it closes: see scan) are sent back to the sandbox
  and re-run on fresh parameters and a fresh batch chosen from `bp_seed`, whose forward tensors
  carry no `.grad`. The trusted side regenerates the same values (probes.week4.fresh_values)
  and judges the re-run against its own autograd. A hand-written backward passes both runs; a
  `.grad` copy only the first, and so fails.
- A static scan flags assignments of a d* name from a `.grad` attribute, for the staff
  (details["staff_note"]; JobInputs.trusted, never sent to the sandbox).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from grader.probes.week4 import CAP_FN, fresh_values
from grader.transform import data_sized
from reference import backprop as bp

# |upstream| / |reference upstream| for inherited credit: zero (or numerically nothing) is out;
# real bugs stay well inside (a missing counts_sum_inv scales everything after it by ~20)
NORM_BAND = (1e-3, 1e3)
ZERO_REF = 1e-6  # a reference upstream this small (dlogit_maxes) is zero in theory: no ratio
# the gradients each step of Exercise 1 reads (reference.backprop.backward's `u[...]`)
DEPS: dict[str, tuple[str, ...]] = {
    "dlogprobs": (), "dprobs": ("dlogprobs",), "dcounts_sum_inv": ("dprobs",),
    "dcounts_sum": ("dcounts_sum_inv",), "dcounts": ("dprobs", "dcounts_sum"),
    "dnorm_logits": ("dcounts",), "dlogit_maxes": ("dnorm_logits",),
    "dlogits": ("dnorm_logits", "dlogit_maxes"), "dh": ("dlogits",), "dW2": ("dlogits",),
    "db2": ("dlogits",), "dhpreact": ("dh",), "dbngain": ("dhpreact",),
    "dbnbias": ("dhpreact",), "dbnraw": ("dhpreact",), "dbnvar_inv": ("dbnraw",),
    "dbnvar": ("dbnvar_inv",), "dbndiff2": ("dbnvar",), "dbndiff": ("dbnraw", "dbndiff2"),
    "dbnmeani": ("dbndiff",), "dhprebn": ("dbndiff", "dbnmeani"), "dembcat": ("dhprebn",),
    "dW1": ("dhprebn",), "db1": ("dhprebn",), "demb": ("dembcat",), "dC": ("demb",),
}
GRADS = set(bp.GRAD_NAMES)
INPUTS = {*bp.PARAM_NAMES, "Xb", "Yb"}


class JobInputs(dict[str, np.ndarray]):
    """The arrays the sandbox receives (the items) and what only the trusted side keeps."""

    def __init__(self, arrays: dict[str, np.ndarray], trusted: dict[str, Any]) -> None:
        super().__init__(arrays)
        self.trusted = trusted


@dataclass
class Exercise:
    """Exercise 1 as found in the source: the statements to re-run and the staff flags."""

    code: str = ""
    flags: list[str] = field(default_factory=list)


def _stores(node: ast.AST) -> set[str]:
    """Every name a statement assigns (including `dC[ix] += …` and loop bodies)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}
    for n in ast.walk(node):
        if isinstance(n, ast.AugAssign | ast.Assign):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                while isinstance(t, ast.Subscript | ast.Attribute):
                    t = t.value
                if isinstance(t, ast.Name):
                    names.add(t.id)
    return names


def _reads_grad(value: ast.AST) -> bool:
    for n in ast.walk(value):
        if isinstance(n, ast.Attribute) and n.attr == "grad":
            return True
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "getattr"
                and any(isinstance(a, ast.Constant) and a.value == "grad" for a in n.args)):
            return True
    return False


def _flags(cell: int, tree: ast.Module, code: str) -> list[str]:
    lines = code.splitlines()
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign) and n.value is not None:
            if _stores(n) & GRADS and _reads_grad(n.value):
                text = lines[n.lineno - 1].strip() if n.lineno <= len(lines) else ""
                out.append(f"cell {cell}, line {n.lineno}: `{text[:120]}`")
    return out


def _rebinds(stmt: ast.stmt) -> set[str]:
    """The names a statement binds anew (`x = …`, loop targets), not `x[…] = …` fills."""
    inplace = {id(n.target) for n in ast.walk(stmt) if isinstance(n, ast.AugAssign)}
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store) and id(n) not in inplace}


def scan(cells: tuple[str, ...] | list[str]) -> Exercise:
    """Exercise 1's statements (to re-run) and every d* assignment from a `.grad` (to flag).

    The statements mirror the runner's snapshots (grader/runner.py): from the first one that
    assigns a d* gradient, across cells, until all 26 exist and then until a statement rebinds
    a gradient (Exercise 2's dlogits; in-place fills such as a later `dC[ix] += …` loop are
    kept) — the "backprop" snapshot; if they never all exist, until a statement rebinds a
    parameter or the batch (Exercise 4's init) — the "backprop_partial" snapshot.
    """
    flags: list[str] = []
    picked: list[ast.stmt] = []
    seen: set[str] = set()
    done = False
    for i, code in enumerate(cells, start=1):
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        flags += _flags(i, tree, code)
        for stmt in tree.body:
            if done:
                break
            stores, bound = _stores(stmt), _rebinds(stmt)
            if picked and bound & (GRADS if seen >= GRADS else INPUTS):
                done = True
            elif picked or stores & GRADS:
                picked.append(stmt)
                seen |= stores & GRADS
    code = ast.unparse(cap_loops(ast.Module(picked, []))) if picked else ""
    return Exercise(code, flags)


def cap_loops(tree: ast.Module) -> ast.Module:
    """Top-level `for … in range(…)` loops of the re-run call the probe's own cap (CAP_FN);
    loops over a size (`range(Xb.shape[0])`: the dC loop) keep their length, as in the runner."""
    for stmt in tree.body:
        if isinstance(stmt, ast.For) and isinstance(stmt.iter, ast.Call) and \
                isinstance(stmt.iter.func, ast.Name) and stmt.iter.func.id == "range" \
                and not data_sized(stmt.iter):
            stmt.iter = ast.Call(ast.Name(CAP_FN, ast.Load()), [stmt.iter], [])
    return ast.fix_missing_locations(tree)


def make_job_inputs(arrays: dict[str, np.ndarray], rng: np.random.Generator,
                    cells: tuple[str, ...] | list[str]) -> JobInputs:
    """Add the re-run's seed and code to the sandbox's arrays; keep the staff flags back."""
    ex = scan(cells)
    arrays = dict(arrays)
    arrays["bp_seed"] = np.array([int(rng.integers(0, 2**31))])
    arrays["bp_code"] = np.frombuffer(ex.code.encode(), dtype=np.uint8).copy()
    return JobInputs(arrays, {"grad_copies": ex.flags})


def staff_note(trusted: Mapping[str, Any]) -> str | None:
    """The static flag for the staff, if any line assigns a d* gradient from `.grad`."""
    flags = trusted.get("grad_copies", [])
    if not flags:
        return None
    return ("gradient copied from autograd's .grad (not allowed in Exercise 1): "
            + "; ".join(flags[:10]))


# ----------------------------------------------------------------------------- judging

def _norm(t: torch.Tensor) -> float:
    return float(t.norm())


def degenerate(name: str, got: dict[str, torch.Tensor], want: dict[str, torch.Tensor],
               close: Any) -> list[str]:
    """The upstream gradients of `name` that are zero or far off in size (no inherited credit)."""
    bad = []
    for u in DEPS[name]:
        g = got.get(u)
        if g is None:
            bad.append(u)
            continue
        w = want[u]
        if close(g, w) or _norm(w) <= ZERO_REF * max(_norm(want["dlogprobs"]), 1e-300):
            continue
        ratio = _norm(g) / max(_norm(w), 1e-300)
        if not NORM_BAND[0] <= ratio <= NORM_BAND[1]:
            bad.append(u)
    return bad


def fresh_reference(seed: int, shapes: dict[str, tuple[int, ...]]) -> tuple[dict, Any, Any]:
    """The re-run's parameters and batch, regenerated here (float64) from the same seed."""
    vals = fresh_values(seed, shapes)
    p = {k: torch.from_numpy(np.asarray(vals[k], dtype=np.float64)) for k in bp.PARAM_NAMES}
    return p, torch.from_numpy(vals["Xb"].astype(np.int64)), torch.from_numpy(
        vals["Yb"].astype(np.int64))
