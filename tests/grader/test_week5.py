"""Week 5 (GPT): the lecture-style notebook scores 100; planted bugs fail exactly their checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from grader import grade, source
from grader.probes import week5 as probes
from grader.report import STATUS_GRADED, GradeReport
from grader.weeks import week5

NB_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "week5" / "week5.ipynb"
NB = NB_PATH.read_bytes()
POINTS = {c.name: c.points for c in week5.CHECKS}

CAUSAL, ROWS, SCALE = "causal mask", "attention rows sum to 1", "scaling head_size**-0.5"
HEAD, MHA_FF = "Head forward/backward", "MultiHeadAttention and FeedFoward"
BLOCK, GPT = "Block forward/backward", "GPT forward/backward"
INIT, TRAIN = "loss at init ≈ ln(vocab)", "training lowers loss"
GEN, WINDOW = "generate: length and vocabulary", "generate: last block_size tokens"


def run(data: bytes, data_dir: Path, seed: int) -> GradeReport:
    """Grade notebook bytes in the real sandbox."""
    return grade.grade(source.from_bytes(data, "week5.ipynb", 5), data_dir, seed=seed)


def mutate(old: str, new: str) -> bytes:
    """The correct notebook with `old` (which must occur exactly once) replaced."""
    nb = json.loads(NB)
    count = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        count += src.count(old)
        cell["source"] = src.replace(old, new)
    assert count == 1, f"{old!r} occurs {count} times in the notebook"
    return json.dumps(nb).encode()


def failing(report: GradeReport) -> set[str]:
    """Names of the checks that did not pass."""
    return {c.name for c in report.checks if not c.passed}


def test_points_sum_to_100() -> None:
    assert sum(POINTS.values()) == 100
    assert {CAUSAL, ROWS, SCALE, HEAD, MHA_FF, BLOCK, GPT, INIT, TRAIN, GEN, WINDOW} <= set(POINTS)


def test_probe_name_lookup_accepts_feedforward_and_names_what_is_missing() -> None:
    assert probes.need({"FeedForward": 1}, "FeedFoward", "FeedForward") == 1
    with pytest.raises(NameError, match="does not define `Head`"):
        probes.need({}, "Head")


def test_weights_load_by_name_else_by_order_and_shape() -> None:
    ref = [("key.weight", torch.ones(2, 3).double().numpy()),
           ("value.weight", 2 * torch.ones(4, 3).double().numpy())]
    by_name = torch.nn.ModuleDict({"value": torch.nn.Linear(3, 4, bias=False),
                                   "key": torch.nn.Linear(3, 2, bias=False)})
    probes.load(by_name, ref)
    w = dict(by_name.named_parameters())
    assert w["key.weight"].sum().item() == 6 and w["value.weight"].sum().item() == 24
    by_order = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False),
                                   torch.nn.Linear(3, 4, bias=False))
    pairs = probes.load(by_order, ref)
    assert [n for n, _ in pairs] == ["key.weight", "value.weight"]
    w = dict(by_order.named_parameters())
    assert w["1.weight"].sum().item() == 24 and w["1.weight"].dtype == torch.float64
    with pytest.raises(ValueError, match="could not match your 1 parameters"):
        probes.load(torch.nn.Linear(3, 2, bias=False), ref)


@pytest.mark.parametrize("seed", [1, 20240607])
def test_lecture_notebook_gets_full_marks(data_dir: Path, seed: int) -> None:
    report = run(NB, data_dir, seed)
    assert report.status == STATUS_GRADED, report.message
    assert report.cell_errors == []
    assert failing(report) == set(), [(c.name, c.message) for c in report.checks if not c.passed]
    assert report.score == 100


BUGS = [  # (old, new, failing checks, (check, words its message must contain))
    pytest.param("wei = wei.masked_fill(self.tril[:T, :T] == 0, float('-inf'))", "# no mask",
                 {CAUSAL, HEAD, MHA_FF, GPT}, (CAUSAL, "above the diagonal"),
                 id="no-causal-mask"),
    pytest.param("* k.shape[-1]**-0.5 #", "* C**-0.5 #", {SCALE},  # the lecture video's slip
                 (SCALE, "C**-0.5 with C = n_embd"), id="C**-0.5-scaling"),
    pytest.param("F.softmax(wei, dim=-1) # (B, T, T)", "F.softmax(wei, dim=1) # (B, T, T)",
                 {ROWS, CAUSAL, HEAD, MHA_FF, GPT}, (ROWS, "dim=-1"), id="softmax-wrong-dim"),
    pytest.param("x = x + self.sa(self.ln1(x))", "x = self.sa(self.ln1(x))", {BLOCK, GPT},
                 (BLOCK, "max abs diff"), id="missing-residual"),
    pytest.param("x = x + self.sa(self.ln1(x))\n        x = x + self.ffwd(self.ln2(x))",
                 "x = self.ln1(x + self.sa(x))\n        x = self.ln2(x + self.ffwd(x))",
                 {BLOCK, GPT}, (BLOCK, "Block (one position) output"), id="post-norm"),
    pytest.param("x = self.ln_f(x) # (B,T,C)", "# x = self.ln_f(x) # (B,T,C)", {GPT},
                 (GPT, "GPTLanguageModel logits"), id="missing-ln_f"),
    pytest.param("loss = F.cross_entropy(logits, targets)",
                 "loss = F.cross_entropy(logits, targets, reduction='sum')", {INIT, GPT},
                 (INIT, "mean cross-entropy"), id="summed-loss"),
    pytest.param("idx_cond = idx[:, -block_size:]", "idx_cond = idx", {WINDOW},
                 (WINDOW, "IndexError"), id="generate-no-crop"),
    pytest.param("idx_cond = idx[:, -block_size:]", "idx_cond = idx[:, :block_size]", {WINDOW},
                 (WINDOW, "idx[:, -block_size:]"), id="generate-first-block-crop"),
    pytest.param("idx_cond = idx[:, -block_size:]", "idx_cond = idx[:, -1:]", {WINDOW},
                 (WINDOW, "share only their last token"), id="generate-last-token-only"),
    pytest.param("logits, loss = self(idx_cond)", "logits, loss = self(torch.zeros_like(idx_cond))",
                 {GEN}, (GEN, "condition on the prompt"), id="generate-ignores-prompt"),
]


@pytest.mark.parametrize(("old", "new", "fails", "hint"), BUGS)
def test_planted_bug_fails_exactly_its_checks(data_dir: Path, old: str, new: str,
                                              fails: set[str], hint: tuple[str, str]) -> None:
    report = run(mutate(old, new), data_dir, seed=5)
    assert report.status == STATUS_GRADED, report.message
    assert failing(report) == fails, [(c.name, c.message[:200]) for c in report.checks]
    assert report.score == pytest.approx(100 - sum(POINTS[f] for f in fails))
    msg = {c.name: c.message for c in report.checks}
    assert hint[1] in msg[hint[0]], msg[hint[0]]
    for name in fails:  # every failure says what was expected
        assert any(w in msg[name] for w in ("expected", "should", "must")), msg[name]


def test_module_checks_use_the_students_own_scale_and_say_so(data_dir: Path) -> None:
    report = run(mutate("* k.shape[-1]**-0.5 #", "* C**-0.5 #"), data_dir, seed=8)
    assert failing(report) == {SCALE}, [(c.name, c.message[:200]) for c in report.checks]
    msg = {c.name: c.message for c in report.checks}
    for name in (HEAD, MHA_FF, GPT):
        assert "using your attention scale C**-0.5" in msg[name], msg[name]
    assert "your attention scale" not in msg[BLOCK]
    assert "only this check charges it" in msg[SCALE], msg[SCALE]


def test_lecture_video_bigram_named_gpt_gets_full_marks(data_dir: Path) -> None:
    """The video's final model is a no-argument `BigramLanguageModel`: graded as the GPT."""
    assert b"BigramLanguageModel" not in NB
    report = run(NB.replace(b"GPTLanguageModel", b"BigramLanguageModel"), data_dir, seed=2)
    assert failing(report) == set(), [(c.name, c.message) for c in report.checks if not c.passed]
    assert report.score == 100


def test_early_bigram_model_is_not_taken_for_the_gpt(data_dir: Path) -> None:
    """Only the lecture's first `BigramLanguageModel(vocab_size)`: GPTLanguageModel is missing."""
    nb = mutate("class GPTLanguageModel(nn.Module):\n\n    def __init__(self):",
                "class BigramLanguageModel(nn.Module):\n\n    def __init__(self, vocab_size):")
    report = run(nb, data_dir, seed=4)
    assert report.status == STATUS_GRADED, report.message
    msg = {c.name: c.message for c in report.checks}
    for name in ("parameter count", GPT, INIT, TRAIN, GEN, WINDOW):
        assert "does not define `GPTLanguageModel`" in msg[name], msg[name]
        assert "lecture's bigram model" in msg[name], msg[name]
        assert "required positional argument" not in msg[name], msg[name]
    assert {HEAD, MHA_FF, BLOCK, SCALE} & failing(report) == set()


def test_notebook_without_the_classes_scores_zero(data_dir: Path) -> None:
    nb = json.loads(NB)
    nb["cells"] = [c for c in nb["cells"] if "class " not in "".join(c["source"])]
    report = run(json.dumps(nb).encode(), data_dir, seed=1)
    assert report.status == STATUS_GRADED
    assert report.score == 0 and all(not c.passed for c in report.checks)
    msg = {c.name: c.message for c in report.checks}
    assert "does not define `GPTLanguageModel`" in msg["parameter count"]
    assert "does not define `Head`" in msg[HEAD]
    assert "does not define `Block`" in msg[BLOCK]
