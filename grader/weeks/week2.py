"""Week 2 — bigrams (makemore part 1): counts N, the count model P, the neural bigram W.

Every expected value is computed by reference/bigram.py from the names file in data_dir
(on the real names.txt: N.sum() == 228146, N[0, 1] == 4410, NLL 2.4546 with +1 smoothing).

Decisions:
- The vocabulary check wants the lecture's stoi ('.' -> 0, a-z -> 1..26). Where the student's
  stoi is some other one-to-one map onto 0..26, the other checks read N, P and W through it,
  so a different but consistent ordering costs only the vocabulary check.
- P is accepted with +1 smoothing (the lecture; NLL 2.4546) or without (NLL 2.4540): both are
  correctly normalised count models. Any other P (wrong counts, other smoothing) is not.
- "one-hot forward" judges the student's own `loss` at the first cell where W and loss both exist
  (the lecture's 5 bigrams of words[0] = "emma"), against the lecture forward pass on the
  student's W of that moment; "seeded W init" checks that W is the lecture's seeded randn.
- The trained W must reach a dataset NLL <= (NLL of the smoothed count model) + 0.15
  (2.60 on names.txt) within ITERATION_CAP steps; the lecture's loop (lr 50) gets 2.573 in 20.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from grader.checks import CheckSpec, Ctx, expect, expect_close
from grader.sandbox import Limits
from reference import bigram

WEEK = 2
TITLE = "bigrams (makemore part 1)"
ITERATION_CAP = 20
HYPERPARAMS: dict = {}
SNAPSHOTS = {"init": ["W", "loss"]}
LIMITS = Limits(wall_s=60, memory_mb=2048)
N_SAMPLES = 500
TRAINED_MARGIN = 0.15
V = len(bigram.SYMBOLS)


def make_inputs(rng: np.random.Generator, data_dir) -> dict[str, np.ndarray]:
    """A fresh sampling seed per submission."""
    return {"sample_seed": np.array([int(rng.integers(1, 2**31 - 1))], dtype=np.int64),
            "n_samples": np.array([N_SAMPLES], dtype=np.int64)}


def _reference(data_dir) -> dict:
    words = bigram.load_words(data_dir / "names.txt")
    stoi, _ = bigram.build_vocab(words)
    xs, ys = bigram.bigrams(words, stoi)
    N = bigram.count_matrix(xs, ys)
    P1, P0 = bigram.probs_from_counts(N, 1), bigram.probs_from_counts(N, 0)
    nll1 = bigram.count_nll(P1, N)
    return {"words": words, "stoi": stoi, "N": N, "nll1": nll1, "nll0": bigram.count_nll(P0, N),
            "untrained": bigram.weights_nll(bigram.init_weights(), N),
            "limit": nll1 + TRAINED_MARGIN, "length": bigram.expected_length(P1)}


def _ref(ctx: Ctx) -> dict:
    return ctx.memo("ref", lambda: _reference(ctx.data_dir))


def _perm(ctx: Ctx) -> np.ndarray:
    """The student's index of each symbol if stoi is one-to-one onto 0..26, else the lecture's."""
    got = ctx.outputs.get("vocab", {}).get("stoi")
    if got is not None and got.shape == (V,) and sorted(got.tolist()) == list(range(V)):
        return got.astype(np.int64)
    return np.array([_ref(ctx)["stoi"][s] for s in bigram.SYMBOLS], dtype=np.int64)


def _square(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    expect(a.shape == (V, V), f"{what} should have shape (27, 27), got {tuple(a.shape)}")
    expect(bool(np.all(np.isfinite(a))), f"{what} contains inf or nan")
    return a


def _lecture_order(ctx: Ctx, a: np.ndarray) -> np.ndarray:
    """Rows/columns reordered from the student's stoi to the lecture's."""
    p = _perm(ctx)
    return a[p][:, p]


def _vocabulary(ctx: Ctx) -> str:
    out = ctx.out("vocab")
    want = [_ref(ctx)["stoi"][s] for s in bigram.SYMBOLS]
    got = out["stoi"].tolist()
    bad = [f"{s!r}->{g}" for s, g, w in zip(bigram.SYMBOLS, got, want, strict=True) if g != w]
    expect(not bad, f"stoi should map '.' to 0 and a..z to 1..26; differs at: {', '.join(bad[:6])}"
           " (-1 means missing)")
    expect(int(out["stoi_len"]) == V, f"stoi has {int(out['stoi_len'])} entries, expected 27")
    bad = [f"{i}->{chr(c) if c >= 0 else None!r}" for i, c in enumerate(out["itos"].tolist())
           if c != ord(bigram.SYMBOLS[i])]
    expect(not bad, f"itos should be the inverse of stoi; differs at: {', '.join(bad[:6])}")
    expect(int(out["itos_len"]) == V, f"itos has {int(out['itos_len'])} entries, expected 27")
    return "stoi and itos: '.' is 0, a..z are 1..26"


def _counts(ctx: Ctx) -> str:
    got = _lecture_order(ctx, _square(ctx.arr("counts", "N"), "N"))
    want = _ref(ctx)["N"].double().numpy()
    wrong = int(np.sum(got != want))
    expect(wrong == 0, f"N differs from the bigram counts of names.txt (each name wrapped as "
           f"'.name.') in {wrong} of 729 cells (max abs diff {np.max(np.abs(got - want)):g}); "
           f"expected N.sum() == {int(want.sum())} and N[0, 1] == {int(want[0, 1])}, got "
           f"{got.sum():g} and {got[0, 1]:g}", maxdiff=float(np.max(np.abs(got - want))))
    return f"N.sum() == {int(want.sum())}, N[0, 1] == {int(want[0, 1])}"


def _rows(ctx: Ctx) -> str:
    P = _square(ctx.arr("probs", "P"), "P")
    expect(bool(np.all(P >= 0)), f"P has negative entries (min {P.min():g})")
    sums = P.sum(1)
    diff = float(np.max(np.abs(sums - 1)))
    expect(diff <= 1e-4, f"every row of P should sum to 1, but row sums range "
           f"{sums.min():.4g}..{sums.max():.4g} (max abs diff {diff:.3g}). Normalise each row "
           "with P.sum(1, keepdims=True); without keepdim the (27,) sums broadcast along the "
           "wrong dimension", maxdiff=diff)
    return f"rows of P sum to 1 (max abs diff {diff:.2g})"


def _nll_p(ctx: Ctx) -> str:
    ref = _ref(ctx)
    P = _lecture_order(ctx, _square(ctx.arr("probs", "P"), "P"))
    N = ref["N"].double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(N > 0, np.log(np.where(P > 0, P, 0.0)), 0.0)
    got = float(-(N * logp).sum() / N.sum())
    d1, d0 = abs(got - ref["nll1"]), abs(got - ref["nll0"])
    expect(math.isfinite(got) and min(d1, d0) <= 1e-4,
           f"the average NLL of names.txt under your P is {got:.6g}; expected "
           f"{ref['nll1']:.6f} (P from N+1, the lecture) or {ref['nll0']:.6f} (P from N); "
           f"max abs diff {min(d1, d0):.3g}", maxdiff=min(d1, d0))
    kind = "+1 smoothed" if d1 <= d0 else "unsmoothed"
    return f"average NLL under P = {got:.4f} ({kind} counts)"


def _seeded(ctx: Ctx) -> str:
    W = _square(ctx.arr("init", "W"), "W (when `loss` is first defined)")
    want = bigram.init_weights(torch.float64).numpy()
    expect_close(W, want, "W", rtol=0, atol=1e-6)
    return "W was created by torch.randn((27, 27), generator=g) with g seeded 2147483647"


def _forward(ctx: Ctx) -> str:
    ref = _ref(ctx)
    W = torch.from_numpy(_square(ctx.arr("init", "W"), "W (when `loss` is first defined)"))
    got = float(ctx.arr("init", "loss"))
    p = _perm(ctx)
    first = ref["words"][0]
    xs, ys = bigram.bigrams([first], {s: int(p[i]) for i, s in enumerate(bigram.SYMBOLS)})
    want = bigram.nll(W, xs, ys)
    expect(math.isfinite(got) and abs(got - want) <= 1e-4 * abs(want),
           f"`loss` (at the first cell where W and loss both exist) is {got:.10g}; the one-hot "
           f"forward pass on the bigrams of words[0] ({first!r}) with that W gives {want:.10g} "
           f"(max abs diff {abs(got - want):.3g}). Check xenc = F.one_hot(xs, num_classes=27)"
           ".float(), logits = xenc @ W and the softmax over dim 1 with keepdims=True",
           maxdiff=abs(got - want))
    return f"loss on {first!r} = {got:.10g}"


def _trained(ctx: Ctx) -> str:
    ref = _ref(ctx)
    W = torch.from_numpy(_lecture_order(ctx, _square(ctx.arr("trained", "W"), "W")))
    got = bigram.weights_nll(W, ref["N"])
    expect(math.isfinite(got) and got <= ref["limit"],
           f"the dataset NLL of your trained W is {got:.4f}; expected <= {ref['limit']:.4f} "
           f"after {ITERATION_CAP} gradient steps (the seeded W before training gives "
           f"{ref['untrained']:.4f}). Check the update W.data += -50 * W.grad and the loss")
    return f"dataset NLL of the trained W = {got:.4f} (untrained {ref['untrained']:.4f})"


def _samples(ctx: Ctx) -> str:
    codes, lengths = ctx.arr("samples", "codes"), ctx.arr("samples", "lengths")
    finished = ctx.arr("samples", "finished")
    expect(len(lengths) == N_SAMPLES, f"expected {N_SAMPLES} samples, got {len(lengths)}")
    expect(bool(np.all(finished == 1)), f"{int(np.sum(finished != 1))} samples did not reach '.' "
           "(index 0) within 100 characters")
    text = "".join(chr(int(c)) for c in codes.tolist() if 0 <= c < 0x110000)
    expect(len(text) == int(lengths.sum()), "the samples contain characters that are not text")
    words = []
    for n in lengths.tolist():
        words.append(text[:n])
        text = text[n:]
    odd = sorted({c for w in words for c in w} - set(bigram.SYMBOLS))
    expect(not odd, f"samples contain symbols outside '.', a..z: {odd[:10]}")
    bad = [w for w in words if not w.endswith(".") or w.count(".") != 1]
    expect(not bad, f"every sample should end with a single '.', e.g. {bad[:3]}")
    mean, var = ref_len = _ref(ctx)["length"]
    tol = 5 * math.sqrt(var / N_SAMPLES) + 0.1
    got = sum(len(w) for w in words) / len(words)
    expect(abs(got - mean) <= tol, f"mean sample length {got:.3f} (final '.' included); the count "
           f"model gives {mean:.3f} ± {tol:.2f}", expected=ref_len[0])
    return f"{N_SAMPLES} samples end with '.', mean length {got:.2f} (expected {mean:.2f})"


CHECKS = [
    CheckSpec("vocabulary", 10, _vocabulary, "stoi / itos: '.' -> 0, a..z -> 1..26"),
    CheckSpec("bigram counts N", 15, _counts, "N equals the bigram counts of names.txt"),
    CheckSpec("P rows sum to 1", 10, _rows, "P is normalised along each row (keepdim)"),
    CheckSpec("dataset NLL under P", 15, _nll_p, "average NLL of names.txt under P"),
    CheckSpec("seeded W init", 10, _seeded, "W starts as the lecture's seeded randn((27, 27))"),
    CheckSpec("one-hot forward", 15, _forward, "loss of the one-hot forward pass on words[0]"),
    CheckSpec("trained W", 15, _trained, "gradient descent lowers the dataset NLL of W"),
    CheckSpec("samples", 10, _samples, "samples from P end with '.' and look like the model"),
]


from grader.weeks import JobSpec, Week, sandbox_only  # noqa: E402 (kept beside WEEK_SPEC)

WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS),
    make_inputs=sandbox_only(make_inputs), checks=CHECKS)
