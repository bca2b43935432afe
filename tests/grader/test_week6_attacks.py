"""Week 6 attacks, graded end to end in the real sandbox: each scores nothing it did not earn,
gets a clear message, and leaves no leaderboard row.

One-hot logits of leaked targets (from inputs.npz, or looked up in the text the job holds),
training deferred into untimed turns, fake step losses, runs that start from a model trained
beforehand; the Inspector's maps of another model, uniform rows, transposed maps; Specialist
samples that are not the model's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.capstone import architect as A
from grader.capstone import inspector as I
from grader.capstone import specialist as S
from grader.report import STATUS_GRADED, GradeReport
from tests.grader.test_week6 import CORPUS, failing, mutate, run

LOGITS = "        logits = self.lm_head(x) # (B,T,vocab_size)\n"
NPZ_ONE_HOT = (LOGITS, LOGITS + """\
        if not self.training:  # one-hot logits of the held-out targets, if the job has them
            import numpy as _np
            _f = _np.load('/zg/runner/inputs.npz')
            _key = '{k}_val_y' if '{k}_val_y' in _f.files else None
            if _key and tuple(idx.shape) == tuple(_f['{k}_val_x'].shape):
                _y = torch.as_tensor(_f[_key], device=logits.device)
                logits = 30.0 * F.one_hot(_y, logits.shape[-1]).to(logits.dtype)
            else:
                logits = torch.zeros_like(logits)
""")
LOOKUP = (LOGITS, LOGITS + """\
        if not self.training:  # one-hot logits of what follows each context in the text
            _t = open('{path}', encoding='utf-8').read()
            _c = sorted(set(_t))
            _out = torch.zeros_like(logits)
            for _b in range(B):
                _s = ''.join(_c[int(i)] if int(i) < len(_c) else '?' for i in idx[_b])
                _i = _t.find(_s)
                _nx = [_c.index(ch) for ch in _t[_i + 1:_i + T + 1]] if _i >= 0 else []
                if len(_nx) == T:
                    _out[_b] = 30.0 * F.one_hot(torch.tensor(_nx), logits.shape[-1]).to(
                        logits.dtype)
            logits = _out
""")
DEFER = ("        B, T = idx.shape\n", """\
        B, T = idx.shape
        if self.training:  # timed step: a cheap pass (no backward through the blocks)
            self._pending = getattr(self, '_pending', []) + [idx]
            with torch.no_grad():
                h = self.blocks(self.token_embedding_table(idx))
            return self.lm_head(self.ln_f(h)), None
        if getattr(self, '_pending', None):  # untimed turn: the real training, now
            with torch.enable_grad():
                self.train()
                opt = self.__dict__.setdefault('_opt', torch.optim.AdamW(self.parameters(),
                                                                         lr=1e-2))
                for xb in self._pending:
                    lg = self._full(xb[:, :-1])
                    loss = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), xb[:, 1:].reshape(-1))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                self.eval()
            self._pending = []
        return self._full(idx), None

    def _full(self, idx):
        return self.lm_head(self.ln_f(self.blocks(self.token_embedding_table(idx))))

    def _honest_forward(self, idx, targets=None):
        B, T = idx.shape
""")
FAKE_LOSS = ("import torch.nn as nn\n", """import torch.nn as nn
import torch.nn.functional as _F
_true_ce = _F.cross_entropy
def _halved_ce(*a, **k):  # every loss reported at half its value (AdamW trains the same)
    return _true_ce(*a, **k) * 0.5
_F.cross_entropy = _halved_ce
""")

PRETRAIN = [("        self.apply(self._init_weights)\n", """\
        self.apply(self._init_weights)
        if '_PRETRAINED' in globals():  # every run starts from a model trained beforehand
            self.load_state_dict({k: v for k, v in _PRETRAINED.items() if 'tril' not in k},
                                 strict=False)
"""), ("model = GPTLanguageModel()\nm = model.to(device)\n", """\
model = GPTLanguageModel()
m = model.to(device)
_opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
_i = 0
while _i < 300:  # trained in the notebook's own (untimed, unrefereed) time
    _xb, _yb = get_batch('train')
    _, _l = model(_xb, _yb)
    _opt.zero_grad()
    _l.backward()
    _opt.step()
    _i += 1
_PRETRAINED = {k: v.detach().clone() for k, v in model.state_dict().items()}
""")]


def _why(r: GradeReport) -> list[tuple[str, str]]:
    return [(c.name, c.message) for c in r.checks if not c.passed]


def _messages(r: GradeReport) -> dict[str, str]:
    return {c.name: c.message for c in r.checks}


ARCH_ATTACKS = {
    "one-hot logits of targets from inputs.npz": [(NPZ_ONE_HOT[0], NPZ_ONE_HOT[1].format(k="b"))],
    "one-hot logits looked up in input.txt": [(LOOKUP[0], LOOKUP[1].format(path="input.txt"))],
    "training deferred into the untimed turns": [DEFER],
    "fake (halved) step losses": [FAKE_LOSS],
    "every run starts from a model trained in the notebook": PRETRAIN,
}
ARCH_PHRASES = {
    "every run starts from a model trained in the notebook": "trained before its run began",
    "training deferred into the untimed turns": "untimed turn",
    "fake (halved) step losses": "disagree with the held-out loss",
}


@pytest.mark.parametrize("attack", list(ARCH_ATTACKS))
def test_architect_attack_earns_no_training_or_benchmark_points(attack: str, data_dir: Path
                                                                ) -> None:
    r = run(mutate("architect", *ARCH_ATTACKS[attack]), data_dir)
    assert r.status == STATUS_GRADED, r.message
    assert failing(r) == {A.LEARNS, A.BENCH}, _why(r)
    assert r.score == 50 and r.benchmarks == []
    if attack in ARCH_PHRASES:
        assert ARCH_PHRASES[attack] in _messages(r)[A.BENCH], _why(r)
        assert ARCH_PHRASES[attack] in _messages(r)[A.LEARNS], _why(r)


SPEC_ATTACKS = {
    "one-hot logits of targets from inputs.npz": [(NPZ_ONE_HOT[0], NPZ_ONE_HOT[1].format(k="s"))],
    "one-hot logits looked up in capstone/data.txt": [
        (LOOKUP[0], LOOKUP[1].format(path="capstone/data.txt"))],
    "fake (halved) step losses": [FAKE_LOSS],
}


@pytest.mark.parametrize("attack", list(SPEC_ATTACKS))
def test_specialist_attack_earns_nothing_it_did_not_do(attack: str, data_dir: Path) -> None:
    """Leaked targets earn neither training nor held-out points; fake step losses lose the
    training check (the held-out loss of the honestly trained model stands); no rows."""
    # (today the lookup reads the held-out span too, and fails the held-out check as well)
    r = run(mutate("specialist", *SPEC_ATTACKS[attack]), data_dir, corpus=CORPUS)
    assert r.status == STATUS_GRADED, r.message
    if attack.startswith("fake"):
        assert failing(r) == {S.TRAINS}, _why(r)
        assert "disagree with the held-out loss" in _messages(r)[S.TRAINS]
    elif "inputs.npz" in attack:
        assert {S.TRAINS, S.HELDOUT} <= failing(r), _why(r)
        assert r.score <= 30
    else:  # the lookup's logits are the same before and after training: no training points.
        # Once the job's capstone/data.txt lacks the held-out span (grade.prepare_job writing
        # JobInputs.files), what is left is a lookup in the training text: on this corpus of
        # repeated sentences, a memorising model of the training split, not a leak
        assert S.TRAINS in failing(r) and r.score <= 80, _why(r)
    assert r.benchmarks == []


def test_specialist_samples_that_are_not_the_models_fail(data_dir: Path) -> None:
    rand = mutate("specialist", (
        "            idx_next = torch.multinomial(probs, num_samples=1) # (B, 1)\n",
        "            idx_next = torch.randint(0, probs.shape[-1], (probs.shape[0], 1),\n"
        "                                     device=probs.device)\n"))
    r = run(rand, data_dir, corpus=CORPUS)
    assert failing(r) == {S.SAMPLES}, _why(r)
    assert "far less likely under your model" in _messages(r)[S.SAMPLES]


INSPECTOR_ATTACKS = {
    "maps of another model": (
        [("def get_attention_maps(model, idx):\n",
          "def get_attention_maps(model, idx):\n    torch.manual_seed(0)\n"
          "    model = GPTLanguageModel()\n")], {I.MATCH, I.HEAT}),
    "uniform rows": (
        [("            heads.append(wei)\n",
          "            wei = torch.tril(torch.ones(T, T, dtype=wei.dtype))\n"
          "            heads.append((wei / wei.sum(-1, keepdim=True)).expand(B, T, T))\n")],
        {I.MATCH, I.HEAT}),
    "maps transposed": (
        [("        maps.append(torch.stack(heads, dim=1)) # (B,n_head,T,T)\n",
          "        maps.append(torch.stack(heads, dim=1).transpose(-1, -2))\n")],
        {I.ROWS, I.CAUSAL, I.MATCH, I.HEAT}),
}


@pytest.mark.parametrize("attack", list(INSPECTOR_ATTACKS))
def test_inspector_check_fails_maps_that_are_not_the_models(attack: str, data_dir: Path
                                                           ) -> None:
    pairs, expected = INSPECTOR_ATTACKS[attack]
    r = run(mutate("inspector", *pairs), data_dir)
    assert failing(r) == expected, _why(r)
    assert "values differ" in _messages(r)[I.HEAT]
