"""reference/bigram.py against torch (float64), plain Python loops and the lecture's facts."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reference import bigram

D = torch.float64
WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "zq", "x"]


def _lecture_counts(words: list[str], stoi: dict[str, int]) -> torch.Tensor:
    N = torch.zeros((27, 27), dtype=torch.int32)
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:], strict=False):
            N[stoi[ch1], stoi[ch2]] += 1
    return N


def _full_vocab() -> tuple[dict[str, int], dict[int, str]]:
    return bigram.build_vocab(["abcdefghijklmnopqrstuvwxyz"])


def test_vocab() -> None:
    stoi, itos = _full_vocab()
    assert stoi["."] == 0 and stoi["a"] == 1 and stoi["z"] == 26 and len(stoi) == 27
    assert all(itos[i] == s for s, i in stoi.items()) and "".join(itos[i] for i in range(27)) == (
        bigram.SYMBOLS)


def test_counts_match_the_lecture_loop() -> None:
    stoi, _ = _full_vocab()
    xs, ys = bigram.bigrams(WORDS, stoi)
    assert xs.tolist()[:5] == [0, 5, 13, 13, 1] and ys.tolist()[:5] == [5, 13, 13, 1, 0]
    N = bigram.count_matrix(xs, ys)
    assert N.dtype == torch.int32 and torch.equal(N, _lecture_counts(WORDS, stoi))
    assert int(N.sum()) == sum(len(w) + 1 for w in WORDS)


def test_probs_and_nll_against_a_loop() -> None:
    stoi, _ = _full_vocab()
    xs, ys = bigram.bigrams(WORDS, stoi)
    N = bigram.count_matrix(xs, ys)
    for smoothing in (0, 1):
        P = bigram.probs_from_counts(N, smoothing)
        rows = P.sum(1)[N.sum(1) > 0] if smoothing == 0 else P.sum(1)
        torch.testing.assert_close(rows, torch.ones_like(rows))
        want = -sum(torch.log(P[x, y]) for x, y in zip(xs.tolist(), ys.tolist(), strict=True))
        assert abs(bigram.count_nll(P, N) - float(want) / len(xs)) < 1e-12


def test_keepdim_bug_keeps_the_dataset_nll() -> None:
    # row sums equal column sums for '.word.' bigrams, so P = N / N.sum(1) has the same NLL
    stoi, _ = _full_vocab()
    N = bigram.count_matrix(*bigram.bigrams(WORDS, stoi))
    torch.testing.assert_close(N.sum(0), N.sum(1))
    bad = (N + 1).double() / (N + 1).double().sum(1)
    assert abs(bigram.count_nll(bad, N) - bigram.count_nll(bigram.probs_from_counts(N), N)) < 1e-12
    assert not torch.allclose(bad.sum(1), torch.ones(27, dtype=D))


def test_forward_and_nll_equal_torch() -> None:
    g = torch.Generator().manual_seed(0)
    W = torch.randn((27, 27), generator=g, dtype=D)
    stoi, _ = _full_vocab()
    xs, ys = bigram.bigrams(WORDS, stoi)
    probs = bigram.forward(W, xs)
    torch.testing.assert_close(probs, F.softmax(W[xs], dim=1))
    want = F.cross_entropy(W[xs], ys).item()
    assert abs(bigram.nll(W, xs, ys) - want) < 1e-12
    assert abs(bigram.weights_nll(W, bigram.count_matrix(xs, ys)) - want) < 1e-12


def test_train_step_is_the_autograd_step() -> None:
    stoi, _ = _full_vocab()
    xs, ys = bigram.bigrams(WORDS, stoi)
    W = bigram.init_weights(D)
    W0 = W.clone().requires_grad_(True)
    loss = F.cross_entropy(W0[xs], ys) + 0.01 * (W0**2).mean()
    loss.backward()
    assert W0.grad is not None
    losses = bigram.train(W, xs, ys, steps=1, lr=50.0)
    assert abs(losses[0] - loss.item()) < 1e-12
    torch.testing.assert_close(W.detach(), W0.detach() - 50.0 * W0.grad)
    more = bigram.train(W, xs, ys, steps=5)
    assert more[-1] < more[0] < losses[0]


def test_expected_length_against_the_chain() -> None:
    stoi, _ = _full_vocab()
    P = bigram.probs_from_counts(bigram.count_matrix(*bigram.bigrams(WORDS, stoi)), 1)
    state = torch.zeros(27, dtype=D)
    state[0] = 1.0
    mean = second = 0.0
    for k in range(1, 3000):  # absorb the mass that reaches '.' at step k
        state = state @ P
        mean += k * float(state[0])
        second += k * k * float(state[0])
        state[0] = 0.0
    m, var = bigram.expected_length(P)
    assert abs(m - mean) < 1e-9 and abs(var - (second - mean**2)) < 1e-7


def test_real_names_figures(data_dir) -> None:
    words = bigram.load_words(data_dir / "names.txt")
    stoi, itos = bigram.build_vocab(words)
    assert "".join(itos[i] for i in range(27)) == bigram.SYMBOLS and words[0] == "emma"
    xs, ys = bigram.bigrams(words, stoi)
    N = bigram.count_matrix(xs, ys)
    assert int(N.sum()) == 228146 and int(N[0, 1]) == 4410
    assert round(bigram.count_nll(bigram.probs_from_counts(N, 1), N), 4) == 2.4546
    assert round(bigram.count_nll(bigram.probs_from_counts(N, 0), N), 4) == 2.4540
    ex, ey = bigram.bigrams(["emma"], stoi)
    assert bigram.nll(bigram.init_weights(), ex, ey) == 3.7693049907684326  # float32, as printed
    assert abs(bigram.nll(bigram.init_weights(D), ex, ey) - 3.7693049907684326) < 1e-6
