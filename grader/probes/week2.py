"""Week 2 probes (run inside the sandbox): read the bigram globals, sample from the student's P.

Strings never leave the sandbox as strings: characters travel as their code points.
"""

import torch

SYMBOLS = "." + "abcdefghijklmnopqrstuvwxyz"
MAX_SAMPLE_LEN = 100  # a sample that has not reached '.' by then is cut (and judged unfinished)


def _get(ns, name):
    if name not in ns:
        raise NameError(f"name {name!r} is not defined in your notebook")
    return ns[name]


def _tensor(value, name):
    t = value.detach() if hasattr(value, "detach") else torch.as_tensor(value)
    if t.dim() != 2:
        raise ValueError(f"{name} should be a 2-D tensor, got shape {tuple(t.shape)}")
    return t.cpu()


def vocab(ns, inputs):
    """stoi of each symbol ('.', a-z; -1 if absent) and the code point of each itos[0..26]."""
    stoi, itos = _get(ns, "stoi"), _get(ns, "itos")
    ix = [stoi[s] if s in stoi and isinstance(stoi[s], int) else -1 for s in SYMBOLS]
    ch = []
    for i in range(len(SYMBOLS)):
        s = itos.get(i) if hasattr(itos, "get") else None
        ch.append(ord(s) if isinstance(s, str) and len(s) == 1 else -1)
    return {"stoi": ix, "stoi_len": len(stoi), "itos": ch, "itos_len": len(itos)}


def counts(ns, inputs):
    """The count matrix N as it stands at the end of the notebook."""
    N = _tensor(_get(ns, "N"), "N")
    return {"N": N.double()}


def probs(ns, inputs):
    """The count model P."""
    return {"P": _tensor(_get(ns, "P"), "P").double()}


def init(ns, inputs):
    """W and loss at the first statement where both exist (the lecture's seeded W on 'emma')."""
    W = _tensor(_get(ns, "W"), "W")
    loss = _get(ns, "loss")
    loss = loss.item() if hasattr(loss, "item") else float(loss)
    return {"W": W.double(), "loss": loss}


def trained(ns, inputs):
    """W at the end of the notebook, after the (capped) gradient descent."""
    return {"W": _tensor(_get(ns, "W"), "W").double()}


def _sample(P, itos, g):
    out: list = []
    ix = 0
    while len(out) < MAX_SAMPLE_LEN:
        p = P[ix]
        ix = int(torch.multinomial(p, num_samples=1, replacement=True, generator=g).item())
        out.append(itos[ix])
        if ix == 0:
            return "".join(out), 1
    return "".join(out), 0


def samples(ns, inputs):
    """The lecture's sampling loop with the student's P and itos and the grader's seed."""
    P = _tensor(_get(ns, "P"), "P").float()
    itos = _get(ns, "itos")
    g = torch.Generator().manual_seed(int(inputs["sample_seed"][0]))
    codes: list[int] = []
    lengths: list[int] = []
    finished: list[int] = []
    for _ in range(int(inputs["n_samples"][0])):
        s, done = _sample(P, itos, g)
        s = str(s)
        codes.extend(ord(c) for c in s)
        lengths.append(len(s))
        finished.append(done)
    return {"codes": codes, "lengths": lengths, "finished": finished}


PROBES = {
    "vocab": (None, vocab),
    "counts": (None, counts),
    "probs": (None, probs),
    "init": ("init", init),
    "trained": (None, trained),
    "samples": (None, samples),
}
