"""Week 6 (capstone): each track's correct notebook scores 100; planted bugs fail exactly their
checks; cheating (sleeps, forged step reports, NaN logits) gets no leaderboard entry."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.capstone import architect as A
from grader.capstone import inspector as I
from grader.capstone import measure, trusted
from grader.capstone import specialist as S
from grader.checks import Runtime
from grader.report import STATUS_GRADED, GradeReport
from grader.weeks import week6

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "week6"
CORPUS = (FIX / "data.txt").read_bytes()
ALL_ARCH = {A.ROPE_REL, A.ROPE_NORM, A.NOPOS, A.SW_FORMULA, A.SW_SHAPE, A.LEARNS, A.BENCH}


def notebook(track: str) -> bytes:
    return (FIX / f"week6_{track}.ipynb").read_bytes()


def mutate(track: str, *pairs: tuple[str, str]) -> bytes:
    """The track's correct notebook with each `old` (occurring exactly once) replaced."""
    nb = json.loads(notebook(track))
    for old, new in pairs:
        count = 0
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            count += src.count(old)
            cell["source"] = src.replace(old, new)
        assert count == 1, f"{old!r} occurs {count} times in the {track} notebook"
    return json.dumps(nb).encode()


def run(data: bytes, data_dir: Path, seed: int = 1, corpus: bytes | None = None) -> GradeReport:
    """Grade notebook bytes (plus an optional capstone/data.txt) in the real sandbox."""
    src = source.from_bytes(data, "week6.ipynb", 6)
    if corpus is not None:
        src = dataclasses.replace(src, extra_files={"capstone/data.txt": corpus})
    return grade.grade(src, data_dir, seed=seed)


@cache
def _correct(track: str, seed: int, data_dir: str) -> GradeReport:
    corpus = CORPUS if track == "specialist" else None
    return run(notebook(track), Path(data_dir), seed, corpus)


def correct(track: str, data_dir: Path, seed: int = 1) -> GradeReport:
    return _correct(track, seed, str(data_dir))


def failing(report: GradeReport) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def points(report: GradeReport) -> dict[str, float]:
    return {c.name: c.max_points for c in report.checks}


def test_each_track_and_piece_set_sums_to_100() -> None:
    for specs in (I.SPECS, S.SPECS):
        assert sum(s.points for s in specs) == 100
    for rope, sw in ((1, 1), (1, 0), (0, 1), (0, 0)):
        ctx = grade.Ctx({}, {"track": {"rope": np.array(rope), "swiglu": np.array(sw)}}, {})
        assert sum(s.points for s in A.specs(ctx)) == 100


@pytest.mark.parametrize(("track", "seed"), [("architect", 1), ("inspector", 1),
                                             ("inspector", 7), ("specialist", 1)])
def test_correct_notebook_scores_100(track: str, seed: int, data_dir: Path) -> None:
    r = correct(track, data_dir, seed)
    assert r.status == STATUS_GRADED, r.message
    assert r.score == r.max_score == 100, [(c.name, c.message) for c in r.checks if not c.passed]
    assert r.extras["track"] == track


def test_architect_benchmark_rows_carry_mean_and_std(data_dir: Path) -> None:
    r = correct("architect", data_dir)
    rows = {(b["metric"], b["seed"]): b for b in r.benchmarks}
    seeds = [b["seed"] for b in r.benchmarks if b["metric"] == "tokens_per_s" and b["seed"]]
    assert len(seeds) == 3 and len(set(seeds)) == 3
    for metric in ("tokens_per_s", "ms_per_iter", "val_loss", "speed_ratio",
                   "vanilla_tokens_per_s", "vanilla_val_loss"):
        assert (metric, None) in rows and (metric + "_std", None) in rows, metric
    assert all(b["device"] == "cpu" and np.isfinite(b["value"]) for b in r.benchmarks)
    assert not any(b["metric"].startswith("mfu") for b in r.benchmarks)  # CPU: no MFU
    for metric in ("tokens_per_s", "speed_ratio", "vanilla_tokens_per_s"):  # seeds, then mean
        per_seed = [rows[(metric, s)]["value"] for s in seeds]
        assert rows[(metric, None)]["value"] == pytest.approx(float(np.mean(per_seed)))
    assert 0.2 < rows[("speed_ratio", None)]["value"] < 5


def test_inspector_stores_heatmaps_and_specialist_samples(data_dir: Path) -> None:
    att = correct("inspector", data_dir).extras["attention"]
    layers = att["layers"]
    assert len(layers) == 2 and len(layers[0]) == 4 and len(att["prompt"]) == 16
    row = np.array(layers[1][2])
    assert row.shape == (16, 16) and np.allclose(row.sum(-1), 1, atol=0.01)
    spec = correct("specialist", data_dir)
    assert len(spec.extras["samples"]) == 3 and all(len(s) == 81 for s in spec.extras["samples"])
    assert {b["metric"] for b in spec.benchmarks} == {"val_loss", "unigram_loss",
                                                      "val_loss_gain"}


# properties are judged before any training or benchmark: a broken piece also fails both of those
ARCH_BUGS = {
    "rope absolute-position leak (angles start at 1)": (
        [("ang = torch.arange(T, dtype", "ang = torch.arange(1, T + 1, dtype")],
        {A.ROPE_NORM, A.LEARNS, A.BENCH}),
    "rope not a rotation (sign)": (
        [("x1 * sin + x2 * cos), dim=-1)", "x1 * sin - x2 * cos), dim=-1)")],
        {A.ROPE_REL, A.ROPE_NORM, A.LEARNS, A.BENCH}),
    "position table kept beside RoPE": (
        [("        # no position table: RoPE rotates q and k inside every head\n",
          "        self.position_embedding_table = nn.Embedding(block_size, n_embd)\n"),
         ("        x = tok_emb # (B,T,C)\n",
          "        x = tok_emb + self.position_embedding_table(torch.arange(T, device=device))\n")],
        {A.NOPOS, A.LEARNS, A.BENCH}),
    "SwiGLU without gate": (
        [("self.w2(F.silu(self.w1(x)) * self.w3(x))", "self.w2(F.silu(self.w1(x)))")],
        {A.SW_FORMULA, A.LEARNS, A.BENCH}),
}


@pytest.mark.parametrize("bug", list(ARCH_BUGS))
def test_architect_planted_bug_fails_exactly_its_checks(bug: str, data_dir: Path) -> None:
    pairs, expected = ARCH_BUGS[bug]
    r = run(mutate("architect", *pairs), data_dir)
    assert r.status == STATUS_GRADED, r.message
    assert failing(r) == expected, [(c.name, c.message) for c in r.checks if not c.passed]
    assert r.score == pytest.approx(100 - sum(points(r)[n] for n in expected))
    assert r.benchmarks == []
    assert "not trained or benchmarked: fix" in {c.name: c.message for c in r.checks}[A.BENCH]


SLEEP = ("        B, T = idx.shape\n",
         "        B, T = idx.shape\n        if self.training:\n            time.sleep(0.08)\n")
FORGE = ("CAPSTONE_TRACK = \"architect\"",
         "CAPSTONE_TRACK = \"architect\"\nimport os\n"
         "fd = int(os.environ.get('ZG_PROGRESS_FD', '-1'))\n"
         "for r in range(3):\n    for s in range(40):\n"
         "        os.write(fd, f'zg {r} {s}\\n'.encode())\n"
         "print('tokens/s: 1e12 (trust me), ms/iter: 0.0001')")
NAN = ("        logits = self.lm_head(x) # (B,T,vocab_size)\n",
       "        logits = self.lm_head(x) # (B,T,vocab_size)\n"
       "        if not self.training:\n            logits = logits * float('nan')\n")
CHEATS = {
    "sleeps in forward": ([("import torch\n", "import time\nimport torch\n"), SLEEP], {A.BENCH},
                          "slower than the vanilla GPT"),
    # no refereed steps, so the training cannot be judged either (it ran outside any turn)
    "forges step reports": ([FORGE], {A.LEARNS, A.BENCH}, "timing channel carried"),
    "NaN logits": ([NAN], {A.LEARNS, A.BENCH}, "NaN or infinite logits"),
}


@pytest.mark.parametrize("cheat", list(CHEATS))
def test_cheating_gets_a_clear_error_and_no_leaderboard_entry(cheat: str, data_dir: Path) -> None:
    pairs, expected, phrase = CHEATS[cheat]
    r = run(mutate("architect", *pairs), data_dir)
    assert failing(r) == expected, [(c.name, c.message) for c in r.checks if not c.passed]
    assert phrase in {c.name: c.message for c in r.checks}[A.BENCH]
    assert r.benchmarks == []


BURN = ("CAPSTONE_TRACK = \"architect\"",
        "CAPSTONE_TRACK = \"architect\"\nimport os, signal, subprocess, sys\n"
        "_burner = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        "os.kill(_burner.pid, signal.SIGSTOP)\n_read = os.read\n"
        "def _waiting_read(fd, n):\n    os.kill(_burner.pid, signal.SIGCONT)\n    try:\n"
        "        return _read(fd, n)\n    finally:\n"
        "        os.kill(_burner.pid, signal.SIGSTOP)\n"
        "os.read = _waiting_read\n")


def _ratio(r: GradeReport) -> float:
    return next(b["value"] for b in r.benchmarks if b["metric"] == "speed_ratio")


def test_burning_cpu_in_the_baselines_turns_gains_nothing(data_dir: Path) -> None:
    """A notebook that runs a CPU burner process whenever its own loop waits for the turn,
    i.e. during the vanilla job's steps on the same core: frozen meanwhile, it cannot slow
    them down. Unfrozen, it would take half the core from the baseline and ~double its ratio."""
    cheat = run(mutate("architect", BURN), data_dir)
    honest = correct("architect", data_dir)
    assert cheat.score == 100, [(c.name, c.message) for c in cheat.checks if not c.passed]
    assert _ratio(cheat) < 1.2 * _ratio(honest), (_ratio(cheat), _ratio(honest))


def test_printed_timings_are_never_read(data_dir: Path) -> None:
    ok = correct("architect", data_dir)
    assert "tokens/s" not in ok.stdout  # the figures come only from the trusted side
    assert all("trust me" not in json.dumps(b) for b in ok.benchmarks)


# a wrong map is wrong on the random tokens (MATCH) and on the prompt's heatmaps (HEAT): both
# are compared with the reference on the same weights
INSPECTOR_BUGS = {
    "maps not softmaxed": ([("            wei = F.softmax(wei, dim=-1)\n", "")],
                           {I.ROWS, I.MATCH, I.HEAT}),
    "softmax over dim=-2": ([("F.softmax(wei, dim=-1)\n            heads",
                              "F.softmax(wei, dim=-2)\n            heads")],
                            {I.ROWS, I.MATCH, I.HEAT}),
    "no causal mask": ([("            wei = wei.masked_fill(head.tril[:T, :T] == 0, "
                         "float('-inf'))\n", "")], {I.CAUSAL, I.MATCH, I.HEAT}),
    "scaled by n_embd**-0.5": ([("k.transpose(-2, -1) * k.shape[-1]**-0.5 # (B,T,T)",
                            "k.transpose(-2, -1) * n_embd**-0.5 # (B,T,T)")], {I.MATCH}),
    # the lecture video's C**-0.5 slip in the model and its maps: one bug, one check
    "video's C**-0.5 everywhere": ([
        ("k.transpose(-2, -1) * k.shape[-1]**-0.5 # (B,T,T)",
         "k.transpose(-2, -1) * n_embd**-0.5 # (B,T,T)"),
        ("k.transpose(-2,-1) * k.shape[-1]**-0.5 # (B, T, hs)",
         "k.transpose(-2,-1) * n_embd**-0.5 # (B, T, hs)")], {I.MATCH}),
}


@pytest.mark.parametrize("bug", list(INSPECTOR_BUGS))
def test_inspector_planted_bug_fails_exactly_its_checks(bug: str, data_dir: Path) -> None:
    pairs, expected = INSPECTOR_BUGS[bug]
    r = run(mutate("inspector", *pairs), data_dir)
    assert failing(r) == expected, [(c.name, c.message) for c in r.checks if not c.passed]
    assert r.score == pytest.approx(100 - sum(points(r)[n] for n in expected))


def test_specialist_bad_corpus_and_uncropped_generate(data_dir: Path) -> None:
    bad = run(notebook("specialist"), data_dir, corpus=CORPUS[:5000] + b"\xff\xfe" + CORPUS[5000:])
    assert failing(bad) == {S.CORPUS, S.TRAINS, S.HELDOUT, S.SAMPLES}
    assert "not valid UTF-8" in bad.checks[0].message and bad.benchmarks == []
    nocrop = run(mutate("specialist", ("idx_cond = idx[:, -block_size:]", "idx_cond = idx")),
                 data_dir, corpus=CORPUS)
    assert failing(nocrop) == {S.SAMPLES} and nocrop.score == 80


def test_missing_track_scores_0_naming_capstone_track(data_dir: Path) -> None:
    r = run(mutate("inspector", ('CAPSTONE_TRACK = "inspector"', "pass")), data_dir)
    assert r.status == STATUS_GRADED and r.score == 0 and r.max_score == 100
    assert [c.name for c in r.checks] == [week6.NO_TRACK]
    assert "CAPSTONE_TRACK" in r.checks[0].message and r.benchmarks == []


def _vanilla_vs_vanilla(inputs: dict[str, np.ndarray], data_dir: Path) -> list[float]:
    """The trusted baseline paired with itself through two sandboxed jobs: per-seed ratios."""
    rt = Runtime(limits=week6.LIMITS)
    p = trusted.pair(inputs, rt, data_dir)
    a = trusted.run_vanilla(inputs, rt, data_dir, p.student)
    base = p.baseline()
    assert not a.error and base is not None and not base.error, (a.error, base)
    assert p.referee.violation is None, p.referee.violation
    steps, B, T = inputs["b_train_x"].shape[:3]
    warm = int(inputs["b_warmup"][0])
    mine, van = (measure.run_stats(measure.step_times(p.referee.durations[k], 3, steps), warm,
                                   B * T) for k in ("a", "b"))
    return [x.tokens_per_s / y.tokens_per_s for x, y in zip(mine, van, strict=True)]


def test_repeated_paired_benchmark_agrees_with_itself(data_dir: Path) -> None:
    """The same pairing three times: every step reported and timed, and identical code runs
    at the same speed as its partner in each repeat (the steps alternate on one core).

    Absolute tokens/s are judged by bench/capstone_bench.py (CV over repeats), not by a timed
    test: this VM's single-core speed swings 1.6x within seconds. The ratio of two identical
    jobs is what the pairing controls; a wide band (≈20 σ of what the bench measures) so
    that only a broken pairing fails (e.g. the two jobs on different cores, or one frozen
    inside its own turns).
    """
    inputs = week6.make_inputs(np.random.default_rng(3), data_dir)
    for _ in range(3):
        ratios = _vanilla_vs_vanilla(inputs, data_dir)
        assert all(0.8 < r < 1.25 for r in ratios), ratios


@pytest.mark.gpu
def test_architect_on_cuda_pairs_with_vanilla_and_reports_mfu(data_dir: Path) -> None:
    """The CUDA path unchanged: bound /dev/nvidiaN, bf16 autocast, turns, MFU from the table."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    nodes = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))[:1]
    src = source.from_bytes(notebook("architect"), "week6.ipynb", 6)
    r = grade.grade(src, data_dir, seed=1, gpu_devices=nodes)
    assert r.score == 100, [(c.name, c.message) for c in r.checks if not c.passed]
    rows = {b["metric"]: b for b in r.benchmarks if b["seed"] is None}
    name = torch.cuda.get_device_name(0)
    assert rows["speed_ratio"]["device"] == name and 0 < rows["speed_ratio"]["value"] < 3
    if measure.peak_flops(name) is not None:  # a card in the peak table
        assert 0 < rows["mfu"]["value"] < 1
