"""Runs INSIDE the sandbox, beside runner.py: snapshots of the notebook's namespace.

A snapshot part (a week's JobSpec.snapshots: a name and the names it needs) is watched after
every top-level statement, so cell boundaries don't matter:
- it opens after the first statement after which all its names are bound and fresh: rebinding
  a name makes every name bound since its old value stale (gradients computed from parameters
  that are then re-initialised don't count) until those are bound again;
- while open it is re-taken after each statement that keeps every name bound to the same
  object with the same value, except the names the statement fills in place (`dC[ix] += …`,
  `W.add_(…)`: transform.fills), so `dC = zeros` then its loop, in one cell or two, is read
  filled; the first statement that rebinds or otherwise changes a name closes it for good
  (W of the moment `loss` was computed, before `W.data += …`);
- the part's own names are frozen copies (tensors by detach().clone(), non-leaf ones too;
  others by deepcopy); a copy that fails is a note in the completion record, never silent;
  the rest of the snapshot is the namespace of that moment.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

_MISSING = object()


class Snapshots:
    """Each part's names, watched after every top-level statement (the rule: module docstring)."""

    def __init__(self, wanted: dict[str, list[str]], torch: Any,
                 say: Callable[[str], None] = print) -> None:
        self.wanted, self.snaps, self.cells = wanted, {}, {}  # type: ignore[var-annotated]
        self.notes: list[str] = []
        self.say = say  # a note for the notebook's output
        self.seen: dict[str, dict[str, Any]] = {p: {} for p in wanted}
        self.fresh: dict[str, dict[str, int | None]] = {p: {} for p in wanted}
        self.open: dict[str, dict[str, Any]] = {}  # part -> the objects it opened with
        self.frozen: dict[str, dict[str, Any]] = {}
        self.closed: set[str] = set()
        self.step = 0
        # the runner's own references, taken before any student code
        self.tensor: Any = torch.Tensor if torch else None
        self.detach: Any = torch.Tensor.detach if torch else None
        self.clone: Any = torch.Tensor.clone if torch else None
        self.equal: Any = torch.equal if torch else None

    def freeze(self, part: str, name: str, value: Any) -> Any:
        """A copy later in-place training can't change; a copy that fails is a visible note."""
        try:
            if self.tensor is not None and isinstance(value, self.tensor):
                return self.clone(self.detach(value))
            return copy.deepcopy(value)
        except Exception as e:  # noqa: BLE001 - whatever the student's object raises
            self.notes.append(f"snapshot {part!r}: could not copy {name} "
                              f"({type(value).__name__}: {type(e).__name__}: {e}); "
                              "its checks read the live object, as it is later")
            self.say(self.notes[-1])
            return value

    def unchanged(self, frozen: Any, live: Any) -> bool:
        try:
            if self.tensor is not None and isinstance(frozen, self.tensor):
                return isinstance(live, self.tensor) and frozen.shape == live.shape \
                    and frozen.dtype == live.dtype and bool(self.equal(frozen, self.detach(live)))
            return frozen is live or bool(frozen == live)
        except Exception:  # noqa: BLE001
            return False

    def after(self, ns: dict[str, Any], fills: frozenset[str], cell: int) -> None:
        """Called after each top-level statement: open, follow or close each part."""
        self.step += 1
        for part, names in self.wanted.items():
            if part in self.closed:
                continue
            if part in self.open:
                self._follow(part, names, ns, fills, cell)
            else:
                self._watch(part, names, ns, cell)

    def _watch(self, part: str, names: list[str], ns: dict[str, Any], cell: int) -> None:
        seen, fresh, t = self.seen[part], self.fresh[part], self.step
        for n in names:
            cur = ns.get(n, _MISSING)
            if cur is seen.get(n, _MISSING):
                continue
            old, seen[n] = fresh.pop(n, None), cur
            if cur is _MISSING:
                continue
            if old is not None:  # rebound: what was bound since its old value is stale
                for k, s in fresh.items():
                    if s is not None and old <= s < t:
                        fresh[k] = None
            fresh[n] = t
        if all(fresh.get(n) is not None for n in names):
            self.open[part] = {n: ns[n] for n in names}
            self.frozen[part] = {n: self.freeze(part, n, ns[n]) for n in names}
            self._take(part, ns, cell)

    def _follow(self, part: str, names: list[str], ns: dict[str, Any],
                fills: frozenset[str], cell: int) -> None:
        objs, frozen = self.open[part], self.frozen[part]
        if all(ns.get(n, _MISSING) is objs[n] and (n in fills or self.unchanged(frozen[n], objs[n]))
               for n in names):
            for n in fills.intersection(names):
                frozen[n] = self.freeze(part, n, ns[n])
            self._take(part, ns, cell)
        else:
            self.closed.add(part)

    def _take(self, part: str, ns: dict[str, Any], cell: int) -> None:
        snap = dict(ns)
        snap.update(self.frozen[part])
        self.snaps[part], self.cells[part] = snap, cell
