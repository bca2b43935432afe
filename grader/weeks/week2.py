"""Week 2 — bigrams (makemore part 1): counts N, the count model P, the neural bigram W.

The notebook's `words` is pinned to a fresh made-up word list (grader/weeks/week2_words.py), so
every expected value is computed by reference/bigram.py from words no one has seen before. On
names.txt the same computation gives the lecture's numbers (N.sum() == 228146, N[0, 1] == 4410,
NLL 2.4546 with +1 smoothing, loss 3.7693 on "emma"); messages quote them, checks never use them.

Decisions:
- The vocabulary check wants the lecture's stoi ('.' -> 0, a-z -> 1..26). Where the student's
  stoi is some other one-to-one map onto 0..26, the other checks read N, P and W through it,
  so a different but consistent ordering costs only the vocabulary check. (Every letter occurs
  in the grader's words, so this mapping is the same for everyone: the contract fixes it.)
- P is accepted with +1 smoothing (the lecture) or without: both are correctly normalised count
  models. "P rows sum to 1" also wants P to be the student's own N normalised (not 1/27).
- "one-hot forward" judges the student's own `loss` at the first statement where W and loss exist
  (the lecture's bigrams of words[0], a 4-letter word as "emma" is), against the lecture forward
  pass on the student's W of that moment; "seeded W init" checks that W is the lecture's seeded
  randn (a public value by the contract's design).
- The trained W must go at least TRAINED_SHARE of the way from the seeded W's dataset NLL to what
  the lecture's loop (lr 50) reaches within ITERATION_CAP steps on these words (on names.txt:
  3.76 -> 2.573, so the bar would be 2.81; the contract's old bar was 2.60; the planted
  "softmax over dim 0" bug goes about 55% of the way).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from grader.checks import CheckSpec, Ctx, expect, expect_close
from grader.sandbox import Limits
from grader.weeks import week2_words
from reference import bigram

WEEK = 2
TITLE = "bigrams (makemore part 1)"
ITERATION_CAP = 20
HYPERPARAMS: dict = {}  # the fresh word list is pinned per submission (Inputs.pins["words"])
SNAPSHOTS = {"init": ["W", "loss"]}
LIMITS = Limits(wall_s=60, memory_mb=2048)
N_SAMPLES = 500
TRAINED_SHARE = 0.8  # the trained W must go 80% as far as the lecture's loop (a bug: ~55%)
V = len(bigram.SYMBOLS)


def make_inputs(rng: np.random.Generator, data_dir) -> dict[str, np.ndarray]:
    """A fresh word list (pinned as the notebook's `words`, see _job_inputs) and sampling seed
    per submission."""
    words = week2_words.make(rng, Path(data_dir))
    return {"words": week2_words.encode(words),
            "sample_seed": np.array([int(rng.integers(1, 2**31 - 1))], dtype=np.int64),
            "n_samples": np.array([N_SAMPLES], dtype=np.int64)}


def _reference(words: list[str]) -> dict:
    stoi, _ = bigram.build_vocab(words)
    xs, ys = bigram.bigrams(words, stoi)
    N = bigram.count_matrix(xs, ys)
    P1, P0 = bigram.probs_from_counts(N, 1), bigram.probs_from_counts(N, 0)
    nll1 = bigram.count_nll(P1, N)
    W = bigram.init_weights(torch.float64)
    untrained = bigram.weights_nll(W, N)
    bigram.train(W, xs, ys, ITERATION_CAP)  # the lecture's loop (lr 50), as capped here
    lecture = bigram.weights_nll(W.detach(), N)
    return {"words": words, "stoi": stoi, "N": N, "nll1": nll1, "nll0": bigram.count_nll(P0, N),
            "untrained": untrained, "lecture": lecture,
            "limit": untrained - TRAINED_SHARE * (untrained - lecture),
            "length": bigram.expected_length(P1), "P1": P1}


def _ref(ctx: Ctx) -> dict:
    return ctx.memo("ref", lambda: _reference(week2_words.decode(ctx.inputs["words"])))


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
    expect(wrong == 0, f"N differs from the bigram counts of `words` (each word wrapped as "
           f"'.name.') in {wrong} of 729 cells (max abs diff {np.max(np.abs(got - want)):g}); "
           f"expected N.sum() == {int(want.sum())} and N[0, 1] == {int(want[0, 1])}, got "
           f"{got.sum():g} and {got[0, 1]:g} (the grader gives your notebook its own `words`; "
           "on names.txt the lecture gets 228146 and 4410)",
           maxdiff=float(np.max(np.abs(got - want))))
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
    # rows that sum to 1 are only worth points as your own counts normalised (not e.g. 1/27)
    N = _square(ctx.arr("counts", "N"), "N")
    total, n_words = int(_ref(ctx)["N"].sum()), len(_ref(ctx)["words"])
    expect(bool(np.all(N >= 0)) and int(N.sum()) in (total, total - n_words), "P should be your "
           f"counts N (+1) normalised along each row, but N is not a count matrix of `words` "
           f"(sum {N.sum():g}, min {N.min():g}; the grader's {n_words} words have {total} "
           "bigrams); expected N[ix1, ix2] += 1 for every bigram")
    gaps = [float(np.max(np.abs(P - (N + k) / (N + k).sum(1, keepdims=True)))) for k in (1, 0)
            if bool(np.all((N + k).sum(1) > 0))]
    gap = min(gaps, default=float("inf"))
    expect(gap <= 1e-5, "P's rows sum to 1 but P is not your N normalised along each row: "
           f"expected (N+1) / (N+1).sum(1, keepdims=True) (or N without the +1); max abs diff "
           f"{gap:.3g}", maxdiff=gap)
    return f"rows of P sum to 1 (max abs diff {diff:.2g}) and P is your N, row-normalised"


def _nll_p(ctx: Ctx) -> str:
    ref = _ref(ctx)
    P = _lecture_order(ctx, _square(ctx.arr("probs", "P"), "P"))
    N = ref["N"].double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(N > 0, np.log(np.where(P > 0, P, 0.0)), 0.0)
    got = float(-(N * logp).sum() / N.sum())
    d1, d0 = abs(got - ref["nll1"]), abs(got - ref["nll0"])
    expect(math.isfinite(got) and min(d1, d0) <= 1e-4,
           f"the average NLL of the grader's `words` under your P is {got:.6g}; expected "
           f"{ref['nll1']:.6f} (P from N+1, the lecture; 2.4546 on names.txt) or "
           f"{ref['nll0']:.6f} (P from N); "
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
           f"`loss` (where W and loss first both exist) is {got:.10g}; the one-hot "
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
           f"(what {ITERATION_CAP} gradient steps reach; the grader stops longer loops at "
           f"{ITERATION_CAP}, so run at least that many). The seeded W before training gives "
           f"{ref['untrained']:.4f}, the lecture's loop reaches {ref['lecture']:.4f}. Check the "
           "loop's length, the update W.data += -50 * W.grad and the loss")
    return (f"dataset NLL of the trained W = {got:.4f} (untrained {ref['untrained']:.4f}, the "
            f"lecture's loop {ref['lecture']:.4f})")


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
    nll, (want, sd) = _sample_nll(ctx, words), _ref_sample_nll(ctx)
    tol = 5 * sd / math.sqrt(N_SAMPLES) + 0.05 * want
    expect(abs(nll - want) <= tol, f"the samples' mean negative log likelihood under the count "
           f"model of the grader's words is {nll:.3f}; samples of that model give {want:.3f} ± "
           f"{tol:.2f}: sample from P built from `words`", expected=want)
    return (f"{N_SAMPLES} samples end with '.', mean length {got:.2f} (expected {mean:.2f}), "
            f"mean NLL {nll:.2f} (expected {want:.2f})")


def _sample_nll(ctx: Ctx, words: list[str]) -> float:
    """Mean -log P1(sample) of the student's samples under the reference count model."""
    logp, stoi = torch.log(_ref(ctx)["P1"]).numpy(), _ref(ctx)["stoi"]
    total = 0.0
    for w in words:
        ix = [0] + [stoi[c] for c in w]
        total -= float(logp[ix[:-1], ix[1:]].sum())
    return total / len(words)


def _ref_sample_nll(ctx: Ctx) -> tuple[float, float]:
    """Mean and sd of -log P1(sample) over the grader's own samples of the count model."""
    def run() -> tuple[float, float]:
        P = _ref(ctx)["P1"].numpy()
        logp, cum = np.log(P), np.cumsum(P, 1)
        rng = np.random.default_rng(int(ctx.inputs["sample_seed"][0]))
        out = []
        for _ in range(4000):
            ix, nll = 0, 0.0
            for _ in range(100):
                nxt = min(int(np.searchsorted(cum[ix], rng.random())), V - 1)
                nll, ix = nll - logp[ix, nxt], nxt
                if ix == 0:
                    break
            out.append(nll)
        return float(np.mean(out)), float(np.std(out))
    return ctx.memo("sample_nll", run)


CHECKS = [
    CheckSpec("vocabulary", 10, _vocabulary, "stoi / itos: '.' -> 0, a..z -> 1..26"),
    CheckSpec("bigram counts N", 15, _counts, "N equals the bigram counts of the grader's words"),
    CheckSpec("P rows sum to 1", 10, _rows, "P is your N (+1) normalised along each row (keepdim)"),
    CheckSpec("dataset NLL under P", 15, _nll_p, "average NLL of the grader's words under P"),
    CheckSpec("seeded W init", 10, _seeded, "W starts as the lecture's seeded randn((27, 27))"),
    CheckSpec("one-hot forward", 15, _forward, "loss of the one-hot forward pass on words[0]"),
    CheckSpec("trained W", 15, _trained, "gradient descent lowers the dataset NLL of W"),
    CheckSpec("samples", 10, _samples, "samples from P end with '.' and look like the model"),
]



from grader.weeks import InputRequest, Inputs, JobSpec, Week  # noqa: E402 (beside WEEK_SPEC)


def _job_inputs(req: InputRequest) -> Inputs:
    """The arrays, and this submission's word list pinned as the notebook's `words`."""
    arrays = make_inputs(req.rng, req.data_dir)
    return Inputs(sandbox=arrays, pins={"words": week2_words.decode(arrays["words"])})


WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS, data=("names.txt",)),
    make_inputs=_job_inputs, checks=CHECKS)
