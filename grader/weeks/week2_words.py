"""Week 2, trusted side: a fresh word list for every submission.

The notebook's `words` (the lecture's `words = open('names.txt', 'r').read().splitlines()`) is
pinned to these words: a random sample of names.txt written in a random letter substitution
(a -> some letter, b -> another, ...), so every count, probability and loss the checks ask for
is one no one could look up or reuse: it only comes out of running the lecture's code on them.
On names.txt itself the same checks give the lecture's numbers (N.sum() 228146, NLL 2.4546).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reference import bigram

LETTERS = "abcdefghijklmnopqrstuvwxyz"
MAX_SAMPLE_MEAN = 40.0


def make(rng: np.random.Generator, data_dir: Path) -> list[str]:
    """Ciphered names: every letter occurs, words[0] has 4 letters (the lecture hard-codes the 5
    bigrams of "emma"), and even a loop that climbs the loss instead of descending it leaves a
    model whose samples end (so such a bug costs the trained-W check, not the whole notebook)."""
    names = [w for w in bigram.load_words(data_dir / "names.txt") if w]
    for _ in range(50):
        table = str.maketrans(LETTERS, "".join(rng.permutation(list(LETTERS))))
        picked = rng.choice(len(names), min(len(names), int(rng.integers(2000, 3000))),
                            replace=False)
        words = [names[i].translate(table) for i in picked]
        words += [c * 2 for c in sorted(set(LETTERS) - set("".join(words)))]
        first = next((w for w in words if len(w) == 4), None)
        if first is not None and _ascent_ends(words):
            words.remove(first)
            return [first] + words
    raise RuntimeError("no usable word list")  # a grader fault, never the student's


def _ascent_ends(words: list[str]) -> bool:
    """Whether 20 steps of gradient ascent (lr 50) from the seeded W still sample finite words."""
    stoi, _ = bigram.build_vocab(words)
    N = bigram.count_matrix(*bigram.bigrams(words, stoi)).double()
    rows, n = N.sum(1, keepdim=True), N.sum()
    W = bigram.init_weights(torch.float64)
    for _ in range(20):  # the mean NLL's gradient for one-hot inputs, from the counts
        W = W + 50 * ((rows * torch.softmax(W, 1) - N) / n + 0.02 * W / W.numel())
    try:
        mean = bigram.expected_length(torch.softmax(W, 1))[0]
    except RuntimeError:
        return False
    return 0 < mean < MAX_SAMPLE_MEAN


def encode(words: list[str]) -> np.ndarray:
    """Rows of letter codes 1..26, 0-padded."""
    arr = np.zeros((len(words), max(len(w) for w in words)), dtype=np.int8)
    for i, w in enumerate(words):
        arr[i, :len(w)] = [LETTERS.index(c) + 1 for c in w]
    return arr


def decode(arr: np.ndarray) -> list[str]:
    """The words back from encode()."""
    return ["".join(LETTERS[c - 1] for c in row if c) for row in arr.tolist()]
