"""Week 6 probes (run inside the sandbox): the capstone track the notebook chose.

Each track's probes raise "skipped" on the other tracks. The architect's benchmark runs last
and only after its own quick property pre-check (the trusted side judges again anyway).
"""

import torch
from torch import nn

from .capstone_common import (
    Channel,
    Quiet,
    device,
    logits_of,
    rope_errors,
    rope_ok,
    swiglu_error,
    train_runs,
)
from .week5 import load, need, ref_weights, tensor

TRACKS = ("specialist", "inspector", "architect")
CFG_NAMES = ("vocab_size", "block_size", "n_embd", "n_head", "n_layer")
MAX_LAYERS = 64
TRAINED = "__zg_specialist_model__"


def on_track(ns, name):
    """Raise unless the notebook chose this track."""
    if ns.get("CAPSTONE_TRACK") != name:
        raise RuntimeError(f"skipped: CAPSTONE_TRACK is not {name!r}")


def setup(ns, inputs, key="cfg", dev="cpu"):
    """Set the hyper-parameter globals the lecture's classes read; return them."""
    cfg = {k: int(v) for k, v in zip(CFG_NAMES, inputs[key], strict=True)}
    ns.update(cfg)
    ns["dropout"], ns["device"] = 0.0, dev
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_grad_enabled(True)
    return cfg


def track(ns, inputs):
    """Which track (index into TRACKS, -1 if none) and which Architect pieces exist."""
    t = ns.get("CAPSTONE_TRACK")
    idx = TRACKS.index(t) if isinstance(t, str) and t in TRACKS else -1
    return {"track": idx, "rope": int("apply_rope" in ns), "swiglu": int("SwiGLU" in ns)}


# ----------------------------------------------------------------------------- architect


def rope(ns, inputs):
    """apply_rope on random x and on constant q, k (scores of those reveal relative position)."""
    on_track(ns, "architect")
    f = need(ns, "apply_rope")
    with torch.no_grad():
        return {"out": f(tensor(inputs, "rope_x").clone()), "q": f(tensor(inputs, "rope_q")),
                "k": f(tensor(inputs, "rope_k"))}


def swiglu_weights(m, C):
    """w_a, w_b (the two (H, C) maps: gate and up), w_down (C, H) and biases, as arrays."""
    named = dict(m.named_modules())
    lins = [named[n] for n in ("w1", "w3", "w2") if isinstance(named.get(n), nn.Linear)]
    if len(lins) != 3:
        lins = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
        downs = [mod for mod in lins if mod.out_features == C and mod.in_features != C]
        ups = [mod for mod in lins if mod.in_features == C and mod.out_features != C]
        if len(lins) != 3 or len(downs) != 1 or len(ups) != 2:
            raise ValueError("SwiGLU should hold three nn.Linear: w1, w3 (n_embd -> hidden) and "
                             f"w2 (hidden -> n_embd); found {len(lins)} Linear layers")
        lins = [*ups, downs[0]]
    out = {}
    for key, mod in zip(("a", "b", "down"), lins, strict=True):
        out["w_" + key] = mod.weight
        out["b_" + key] = mod.bias if mod.bias is not None else torch.zeros(mod.out_features)
    return out


def swiglu(ns, inputs):
    """SwiGLU(n_embd) (own init, grader seed): output on x, its weights, its parameter count."""
    on_track(ns, "architect")
    cfg = setup(ns, inputs)
    torch.manual_seed(int(inputs["seed"][0]))
    m = need(ns, "SwiGLU")(cfg["n_embd"]).double().eval()
    with torch.no_grad():
        out = m(tensor(inputs, "sw_x"))
    w = swiglu_weights(m, cfg["n_embd"])
    return {"out": out, "count": sum(p.numel() for p in m.parameters()),
            "hidden": w["w_a"].shape[0], **{k: v.detach() for k, v in w.items()}}


def nopos(ns, inputs):
    """How many parameters look like a position table (name or (block_size, n_embd) shape)."""
    on_track(ns, "architect")
    cfg = setup(ns, inputs)
    m = need(ns, "GPTLanguageModel")()
    table = (cfg["block_size"], cfg["n_embd"])
    params = list(m.named_parameters())
    return {"named": sum("pos" in n.lower() for n, _ in params),
            "shaped": sum(tuple(p.shape) == table for _, p in params)}


def precheck(ns, inputs):
    """Refuse to benchmark a variant whose RoPE/SwiGLU properties fail."""
    if "apply_rope" in ns:
        r = rope(ns, inputs)
        if not rope_ok(rope_errors(inputs["rope_x"], r["out"], r["q"], r["k"])):
            raise RuntimeError("benchmark skipped: apply_rope fails its property checks")
    if "SwiGLU" in ns:
        s = swiglu(ns, inputs)
        if swiglu_error(inputs["sw_x"], s["out"], s) > 1e-6:
            raise RuntimeError("benchmark skipped: SwiGLU fails its formula check")


def bench(ns, inputs):
    """Train GPTLanguageModel per grader seed, streaming step reports; val logits."""
    on_track(ns, "architect")
    precheck(ns, inputs)
    setup(ns, inputs, dev=device())
    arrays, _ = train_runs(lambda: need(ns, "GPTLanguageModel")(), inputs, Channel())
    return arrays


# ----------------------------------------------------------------------------- inspector


def as_maps(got):
    """The student's list of per-layer maps as float64 tensors."""
    if not isinstance(got, list | tuple) or not 0 < len(got) <= MAX_LAYERS:
        raise TypeError("get_attention_maps should return a list with one (B, n_head, T, T) "
                        f"tensor per layer, got {type(got).__name__}")
    return [torch.as_tensor(a).double() for a in got]


def maps(ns, inputs):
    """get_attention_maps(model, idx) on the grader's weights, for idx and for the prompt."""
    on_track(ns, "inspector")
    setup(ns, inputs)
    m = need(ns, "GPTLanguageModel")()
    load(m, ref_weights(inputs, "model"))
    fn = need(ns, "get_attention_maps")
    with torch.no_grad():
        a = as_maps(fn(m, tensor(inputs, "i_idx")))
        p = as_maps(fn(m, tensor(inputs, "i_prompt")))
    return {"n": len(a), "np": len(p), **{f"a{i}": t for i, t in enumerate(a)},
            **{f"p{i}": t for i, t in enumerate(p)}}


# ----------------------------------------------------------------------------- specialist


def specialist(ns, inputs):
    """Train on the grader's batches of the student's corpus; val logits and 3 samples."""
    on_track(ns, "specialist")
    if int(inputs["s_error"][0]) != 0:
        raise RuntimeError("skipped: the corpus capstone/data.txt was not accepted")
    dev = device()
    setup(ns, inputs, "s_cfg", dev)
    arrays, model = train_runs(lambda: need(ns, "GPTLanguageModel")(), inputs,
                               Quiet(inputs["s_probes"].tolist()), "s_")
    ns[TRAINED] = model
    return arrays


def samples(ns, inputs):
    """3 samples from the model the specialist probe trained (generate() on its own), and the
    model's logits for every sampled character (its context cropped to block_size)."""
    on_track(ns, "specialist")
    model = ns.get(TRAINED)
    if model is None:
        raise RuntimeError("skipped: the grader's training run on your corpus failed")
    torch.manual_seed(int(inputs["seed"][1]))
    V, block = int(inputs["s_cfg"][0]), int(inputs["s_cfg"][1])
    with torch.no_grad():
        model.eval()
        idx = tensor(inputs, "s_prompt").long().to(device())
        out = model.generate(idx, max_new_tokens=int(inputs["s_new"][0]))
        steps = []
        for t in range(idx.shape[1], out.shape[1]):  # the logits that chose out[:, t]
            ctx = out[:, max(0, t - block):t]
            steps.append(logits_of(model(ctx), ctx.shape[0], ctx.shape[1], V)[:, -1].float())
    return {"samples": out.cpu(), "sample_logits": torch.stack(steps, dim=1).cpu()}


PROBES = {  # bench last: the property probes run before any benchmark
    "track": (None, track),
    "rope": (None, rope),
    "swiglu": (None, swiglu),
    "nopos": (None, nopos),
    "maps": (None, maps),
    "specialist": (None, specialist),
    "samples": (None, samples),
    "bench": (None, bench),
}
