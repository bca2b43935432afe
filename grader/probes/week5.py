"""Week 5 probes (run inside the sandbox): call the student's GPT classes on the grader's inputs.

The lecture's classes read module globals (n_embd, block_size, …), so each probe first sets
those globals in the student's namespace to the grader's config, then instantiates.
"""

import inspect
import random

import numpy as np
import torch

CFG_NAMES = ("vocab_size", "block_size", "n_embd", "n_head", "n_layer")


def configure(ns, inputs, **over):
    """Set the hyper-parameter globals the student's classes read; return them."""
    cfg = {k: int(v) for k, v in zip(CFG_NAMES, inputs["cfg"], strict=True)}
    cfg.update(over)
    ns.update(cfg)
    ns["dropout"] = 0.0
    ns["device"] = "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_grad_enabled(True)
    return cfg


def need(ns, *names):
    """The first of names the notebook defines, or a clear error naming it."""
    for n in names:
        if n in ns:
            return ns[n]
    also = f" (or `{names[1]}`)" if len(names) > 1 else ""
    raise NameError(f"your notebook does not define `{names[0]}`{also}")


def gpt_class(ns):
    """GPTLanguageModel, or the lecture video's no-argument BigramLanguageModel GPT."""
    if "GPTLanguageModel" in ns:
        return ns["GPTLanguageModel"]
    cls = need(ns, "GPTLanguageModel", "BigramLanguageModel")
    try:
        inspect.signature(cls).bind()
    except TypeError:
        raise NameError(
            f"your notebook does not define `GPTLanguageModel`; its `BigramLanguageModel"
            f"{inspect.signature(cls)}` takes arguments, so it is the lecture's bigram model, "
            "not the GPT (GPTLanguageModel() reads the hyper-parameter globals)") from None
    except ValueError:  # no signature to read: try it as it is
        pass
    return cls


def ref_weights(inputs, prefix):
    """[(name, array)] of the reference weights sent under `prefix.`, in reference order."""
    return [(k[len(prefix) + 1:], v) for k, v in inputs.items() if k.startswith(prefix + ".")]


def match(module, ref):
    """Pair the module's parameters with the reference's: by name, else by order and shape."""
    params = list(module.named_parameters())
    mine = dict(params)
    if set(mine) == {n for n, _ in ref} and all(mine[n].shape == a.shape for n, a in ref):
        return [(n, mine[n], a) for n, a in ref]
    if len(params) == len(ref) and all(
            p.shape == a.shape for (_, p), (_, a) in zip(params, ref, strict=True)):
        return [(n, p, a) for (_, p), (n, a) in zip(params, ref, strict=True)]
    got = ", ".join(f"{n} {tuple(p.shape)}" for n, p in params[:12])
    want = ", ".join(f"{n} {tuple(a.shape)}" for n, a in ref[:12])
    raise ValueError(f"{type(module).__name__}: could not match your {len(params)} "
                     f"parameters to the lecture's {len(ref)}. Yours: {got}. "
                     f"Expected (lecture names): {want}")


def load(module, ref):
    """Copy the reference weights in (by name, else by order and shape); float64, eval."""
    module.double()
    pairs = match(module, ref)
    with torch.no_grad():
        for _, p, a in pairs:
            p.copy_(torch.from_numpy(a))
    module.eval()
    return [(n, p) for n, p, _ in pairs]


def grads(pairs):
    """Per-parameter gradients under the reference names (zeros where none flowed)."""
    return {"g." + n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in pairs}


def tensor(inputs, key):
    """An input array as a tensor (float64 or int64)."""
    return torch.from_numpy(np.ascontiguousarray(inputs[key]))


def run_module(module, inputs, prefix, x_key, g_key):
    """Load weights, forward x, backward <out, g>: out, grad of x, grads of parameters."""
    pairs = load(module, ref_weights(inputs, prefix))
    x = tensor(inputs, x_key).clone().requires_grad_(True)
    out = module(x)
    (out * tensor(inputs, g_key).reshape(out.shape)).sum().backward()
    return {"out": out, "gx": x.grad, **grads(pairs)}


def head(ns, inputs):
    """Head(head_size) on x with the grader's weights."""
    cfg = configure(ns, inputs)
    return run_module(need(ns, "Head")(cfg["n_embd"] // cfg["n_head"]), inputs, "head", "x", "g_hs")


def attn(ns, inputs):
    """Head whose values are one-hot positions: its output IS the attention matrix (B,T,T)."""
    cfg = configure(ns, inputs)
    h = need(ns, "Head")(cfg["n_embd"] // cfg["n_head"])
    load(h, ref_weights(inputs, "attn"))
    with torch.no_grad():
        return {"wei": h(tensor(inputs, "x_attn"))}


def mha(ns, inputs):
    """MultiHeadAttention(num_heads, head_size) with the grader's weights."""
    cfg = configure(ns, inputs)
    m = need(ns, "MultiHeadAttention")(cfg["n_head"], cfg["n_embd"] // cfg["n_head"])
    return run_module(m, inputs, "mha", "x", "g_c")


def ffwd(ns, inputs):
    """FeedFoward(n_embd) with the grader's weights."""
    cfg = configure(ns, inputs)
    return run_module(need(ns, "FeedFoward", "FeedForward")(cfg["n_embd"]), inputs, "ffwd",
                      "x", "g_c")


def block(ns, inputs):
    """Block(n_embd, n_head) on one-position sequences (attention reduces to the values)."""
    cfg = configure(ns, inputs)
    b = need(ns, "Block")(cfg["n_embd"], cfg["n_head"])
    return run_module(b, inputs, "block", "x1", "g1")


def model(ns, inputs):
    """The whole GPTLanguageModel with the grader's weights: logits, loss, gradients."""
    configure(ns, inputs)
    m = gpt_class(ns)()
    pairs = load(m, ref_weights(inputs, "model"))
    logits, loss = m(tensor(inputs, "idx"), tensor(inputs, "targets"))
    loss.backward()
    with torch.no_grad():
        logits_nt = m(tensor(inputs, "idx"))[0]
    return {"logits": logits, "loss": loss, "logits_nt": logits_nt, **grads(pairs)}


def own_model(ns, inputs, **over):
    """The student's GPTLanguageModel with its own init, seeded by the grader."""
    configure(ns, inputs, **over)
    torch.manual_seed(int(inputs["seed"][0]))
    return gpt_class(ns)()


def causal(ns, inputs):
    """Logits of two sequences that differ only from position k on (student's own init)."""
    m = own_model(ns, inputs).double().eval()
    with torch.no_grad():
        return {"a": m(tensor(inputs, "idx"))[0], "b": m(tensor(inputs, "idx_future"))[0]}


def shapes(ns, inputs):
    """Output shapes of every piece on float32 input (student's own init), and their spread."""
    cfg = configure(ns, inputs)
    C, hs = cfg["n_embd"], cfg["n_embd"] // cfg["n_head"]
    x = tensor(inputs, "x").float()
    got = {}
    with torch.no_grad():
        got["head"] = need(ns, "Head")(hs)(x)
        got["mha"] = need(ns, "MultiHeadAttention")(cfg["n_head"], hs)(x)
        got["ffwd"] = need(ns, "FeedFoward", "FeedForward")(C)(x)
        got["block"] = need(ns, "Block")(C, cfg["n_head"])(x)
        m = own_model(ns, inputs).eval()
        got["logits"], loss = m(tensor(inputs, "idx"), tensor(inputs, "targets"))
    out: dict = {k: np.array(v.shape, dtype=np.int64) for k, v in got.items()}
    out["loss"] = np.array(loss.shape, dtype=np.int64)
    out.update({f"spread_{k}": v.double().std() if v.numel() > 1 else torch.zeros(())
                for k, v in got.items()})
    return out


def params(ns, inputs):
    """Parameter count of GPTLanguageModel() at the grader's fresh config (meta if it can)."""
    cfg = {k: int(v) for k, v in zip(CFG_NAMES, inputs["count_cfg"], strict=True)}
    ns.update(cfg)
    ns["dropout"], ns["device"] = 0.0, "cpu"
    cls = gpt_class(ns)
    try:
        with torch.device("meta"):
            m = cls()
    except Exception:  # noqa: BLE001 - some code cannot run on meta tensors; build it for real
        m = cls()
    return {"count": sum(p.numel() for p in m.parameters())}


def init_loss(ns, inputs):
    """Logits and loss of a freshly initialised model on random tokens."""
    m = own_model(ns, inputs).eval()
    with torch.no_grad():
        logits, loss = m(tensor(inputs, "idx_init"), tensor(inputs, "targets_init"))
    return {"logits": logits, "loss": loss}


def _snapshot(pairs, tag):
    return {f"{tag}.{n}": p.detach().clone() for n, p, _ in pairs}


def train(ns, inputs):
    """AdamW steps of the student's model (own init) on the grader's batch.

    Returns the logits before and after and the parameters (under the lecture's names) at
    init, after the first step and at the end, and stacked after every step (ps.*): the
    trusted side judges the loss itself.
    """
    m = own_model(ns, inputs).train()
    pairs = match(m, ref_weights(inputs, "model"))
    opt = torch.optim.AdamW(m.parameters(), lr=float(inputs["train_lr"][0]))
    xb, yb = tensor(inputs, "train_x"), tensor(inputs, "train_y")
    with torch.no_grad():
        out = {"logits0": m(xb)[0], **_snapshot(pairs, "p0")}
    steps = [_snapshot(pairs, "ps")]
    for step in range(int(inputs["train_steps"][0])):
        _, loss = m(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == 0:
            out.update(_snapshot(pairs, "p1"))
        steps.append(_snapshot(pairs, "ps"))  # every step's parameters: the trusted curve
    with torch.no_grad():
        out["logitsT"] = m(xb)[0]
    out.update(_snapshot(pairs, "pT"))
    out.update({k: torch.stack([s[k] for s in steps]) for k in steps[0]})
    return out


def sample(m, idx, max_new, seed):
    """generate() under a fixed sampling seed (torch, random and numpy)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    with torch.no_grad():
        return m.generate(idx, max_new_tokens=max_new)


def graders_model(ns, inputs):
    """The student's model with the grader's generate weights; its own init if they do not fit."""
    m = own_model(ns, inputs)
    try:
        load(m, ref_weights(inputs, "gen"))
    except ValueError:  # parameters that do not match: the GPT check says so
        m.eval()
    return m


def generate(ns, inputs):
    """generate() from a short prompt (own init), and from two different ones (same seed)."""
    n, s = int(inputs["max_new"][0]), int(inputs["seed"][1])
    out = {"out": sample(own_model(ns, inputs).eval(), tensor(inputs, "prompt"), n, s)}
    m = graders_model(ns, inputs)
    return out | {"p1": sample(m, tensor(inputs, "prompt"), n, s),
                  "p2": sample(m, tensor(inputs, "prompt2"), n, s)}


def window(ns, inputs):
    """generate() from prompts longer than block_size: a, b share the window; c differs in
    its last token, d in the rest of the window; own: a again, from the student's own init."""
    m = graders_model(ns, inputs)
    n, s = int(inputs["max_new"][0]), int(inputs["seed"][1])
    out = {k: sample(m, tensor(inputs, f"long_{k}"), n, s) for k in "abcd"}
    return out | {"own": sample(own_model(ns, inputs).eval(), tensor(inputs, "long_a"), n, s)}


PROBES = {
    "shapes": (None, shapes),
    "attn": (None, attn),
    "causal": (None, causal),
    "head": (None, head),
    "mha": (None, mha),
    "ffwd": (None, ffwd),
    "block": (None, block),
    "model": (None, model),
    "init_loss": (None, init_loss),
    "params": (None, params),
    "train": (None, train),
    "generate": (None, generate),
    "window": (None, window),
}
