"""Week-6 helpers shared by the sandbox probes and the trusted checker (numpy/torch/stdlib only).

Property judges (rope_errors, swiglu_error) are pure functions of arrays: the sandbox uses them
only to skip a pointless benchmark, the trusted side re-runs them on the returned arrays.
The training loop (train_runs) is the single code path for the student's variant and the
vanilla reference, so both get identical data, tokens per step, optimiser, schedule,
precision and seeds. Everything it does happens in turns the trusted side hands out: per run,
build the model ("zg ready RUN"), each optimiser step ("zg RUN STEP LOSS": the loss the loop
computed from the model's (B, T, V) logits, committed the moment the step ends), a held-out
probe when the trusted side asks for one after a step it picks ("zg probe RUN STEP"), the
held-out logits ("zg val RUN"). The trusted side times each turn from handing it out to the
arrival of its line (the sandbox never reports its own timings) and checks the committed
losses against held-out losses it computes itself from the probes' logits.
"""

import os

import numpy as np
import torch

PROP_TOL = 1e-5


class Channel:
    """Step reports to $ZG_PROGRESS_FD; before each step, one byte (the turn) from $ZG_GATE_FD."""

    def __init__(self):
        self.fd, self.gate = _fd("ZG_PROGRESS_FD"), _fd("ZG_GATE_FD")

    def begin(self):
        """The benchmark has started (its first turn is awaited next)."""
        self._write("zg bench")

    def ready(self, run):
        """The model for this run is built (in its own turn)."""
        self._write(f"zg ready {run}")

    def done(self, run):
        """This run's held-out logits are computed (in their own turn)."""
        self._write(f"zg val {run}")

    def wait(self, run, step):
        """Block until the grader hands out the next turn: b"g" (go on) or b"p" (a held-out
        probe of the model as it is after `step` of `run`, then wait again)."""
        if self.gate is None:
            return b"g"
        got = os.read(self.gate, 1)
        if not got:
            raise RuntimeError("the grader ended the benchmark (see the timing check)")
        return got

    def step(self, run, step, loss):
        """One finished optimiser step and its loss."""
        self._write(f"zg {run} {step} {loss:.9g}")

    def probed(self, run, step):
        """A held-out probe after this step is computed (in its own turn)."""
        self._write(f"zg probe {run} {step}")

    def _write(self, text):
        if self.fd is not None:
            os.write(self.fd, (text + "\n").encode())


class Quiet(Channel):
    """No reports and no turns: training that is not timed (the specialist track); held-out
    probes after the given steps (-1: before the first)."""

    def __init__(self, probes=()):
        self.fd = self.gate = None
        self.todo = {int(s) for s in probes}

    def wait(self, run, step):
        """A probe once after each chosen step, else go on."""
        if step in self.todo:
            self.todo.discard(step)
            return b"p"
        return b"g"


def _fd(name):
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else None


def toeplitz_error(s):
    """Largest |S[m,n] - S[m+1,n+1]|: zero when scores depend only on m - n."""
    s = np.asarray(s, dtype=np.float64)
    return float(np.abs(s[..., 1:, 1:] - s[..., :-1, :-1]).max())


def rope_errors(x, out, q_rot, k_rot):
    """Property errors of a RoPE function: norms, position 0, relative position, rotation."""
    x, out = np.asarray(x, np.float64), np.asarray(out, np.float64)
    if out.shape != x.shape or not np.all(np.isfinite(out)):
        return {"shape": float("inf")}
    norms = np.abs(np.linalg.norm(out, axis=-1) - np.linalg.norm(x, axis=-1)).max()
    pos0 = np.abs(out[..., 0, :] - x[..., 0, :]).max()
    s = np.asarray(q_rot, np.float64) @ np.swapaxes(np.asarray(k_rot, np.float64), -1, -2)
    diag = np.array([np.diagonal(s, offset=-d, axis1=-2, axis2=-1).mean() for d in range(3)])
    return {"norm": float(norms), "pos0": float(pos0), "relative": toeplitz_error(s),
            "moved": float(np.abs(out[..., 1:, :] - x[..., 1:, :]).max()),
            "offsets": float(np.abs(diag - diag[0]).max())}


def rope_ok(err):
    """True when every RoPE property holds (and the rotation is not the identity)."""
    keys = ("norm", "pos0", "relative")
    return "shape" not in err and all(err[k] < PROP_TOL for k in keys) and err["moved"] > 1e-3 \
        and err["offsets"] > 1e-6


def silu(z):
    """z * sigmoid(z) in float64."""
    return z / (1.0 + np.exp(-z))


def swiglu_ref(x, a, b, down, ba, bb, bd):
    """down(SiLU(a x) * b x) with optional biases."""
    return (silu(x @ a.T + ba) * (x @ b.T + bb)) @ down.T + bd


def swiglu_error(x, out, w):
    """Max abs diff of out from W2(SiLU(W1 x) * W3 x), either (H,C) matrix as the gate."""
    x, out = np.asarray(x, np.float64), np.asarray(out, np.float64)
    a, b, d = (np.asarray(w[k], np.float64) for k in ("w_a", "w_b", "w_down"))
    ba, bb, bd = (np.asarray(w[k], np.float64) for k in ("b_a", "b_b", "b_down"))
    if out.shape != x.shape or not np.all(np.isfinite(out)):
        return float("inf")
    return min(float(np.abs(out - swiglu_ref(x, a, b, d, ba, bb, bd)).max()),
               float(np.abs(out - swiglu_ref(x, b, a, d, bb, ba, bd)).max()))


def device():
    """cuda when the sandbox sees a GPU, else cpu."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast(dev):
    """bf16 autocast on CUDA (fp16 where bf16 is missing), nothing on CPU: same for both runs."""
    if dev != "cuda":
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def logits_of(out, B, T, V=-1):
    """The logits of model(idx) as (B, T, V), whatever the model returned (all of the batch:
    a model that computes fewer positions fails here)."""
    logits = out[0] if isinstance(out, tuple | list) else out
    if V > 0 and tuple(logits.shape[-1:]) != (V,):
        raise ValueError(f"the model returned logits of shape {tuple(logits.shape)}: expected "
                         f"(B, T, vocab_size) = ({B}, {T}, {V})")
    return logits.reshape(B, T, V)


def held_out(model, VX, V):
    """The model's logits on the held-out contexts (eval mode, no grad), float32 on the CPU."""
    B, T = VX.shape
    model.eval()
    with torch.no_grad():
        out = logits_of(model(VX), B, T, V).float().cpu()
    model.train()
    return out


def _serve(chan, run, step, model, VX, V, probes, where):
    """Wait for the next turn, answering held-out probes requested meanwhile."""
    while chan.wait(run, step) == b"p":
        probes.append(held_out(model, VX, V))
        where.append((run, step))
        chan.probed(run, step)


def warm_up(dev, V):
    """One-time costs (AdamW's first construction imports modules, the first backward) paid
    before the refereed turns, so that no turn of either job carries them."""
    w = torch.zeros(2, V, device=dev, requires_grad=True)
    opt = torch.optim.AdamW([w], lr=1e-3)
    with autocast(dev):
        loss = torch.nn.functional.cross_entropy(w * 2.0, torch.zeros(2, dtype=torch.long,
                                                                         device=dev))
    loss.backward()
    opt.step()
    if dev == "cuda":
        torch.cuda.synchronize()


def train_runs(make_model, inputs, chan, prefix="b_"):
    """Train a fresh model per seed on the grader's batches: (val logits, losses, probes, …),
    model. The loss is computed here from the model's logits on the whole batch."""
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = device()
    X, Y = (torch.from_numpy(np.ascontiguousarray(inputs[prefix + k])).long().to(dev)
            for k in ("train_x", "train_y"))
    VX = torch.from_numpy(np.ascontiguousarray(inputs[prefix + "val_x"])).long().to(dev)
    lr = float(inputs[prefix + "lr"][0])
    V = int(inputs["cfg" if prefix == "b_" else prefix + "cfg"][0])
    B, T = X.shape[1:3]
    out, losses, model = [], [], None
    probes: list[torch.Tensor] = []
    where: list[tuple[int, int]] = []
    warm_up(dev, V)
    chan.begin()
    for run, seed in enumerate(inputs[prefix + "seeds"].tolist()):
        chan.wait(run, -2)
        torch.manual_seed(int(seed))
        model = make_model().to(dev).train()
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        chan.ready(run)
        for step in range(X.shape[0]):
            _serve(chan, run, step - 1, model, VX, V, probes, where)
            with autocast(dev):
                logits = logits_of(model(X[step]), B, T, V)
                loss = torch.nn.functional.cross_entropy(logits.reshape(B * T, V),
                                                         Y[step].reshape(B * T))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())  # waits for the step's kernels on CUDA
            if dev == "cuda":
                torch.cuda.synchronize()
            losses.append(value)
            chan.step(run, step, value)
        _serve(chan, run, X.shape[0] - 1, model, VX, V, probes, where)
        out.append(held_out(model, VX, V))
        chan.done(run)
    arrays = {"val_logits": torch.stack(out), "losses": torch.tensor(losses),
              "probe_logits": torch.stack(probes) if probes else torch.zeros(0),
              "probe_at": torch.tensor(where, dtype=torch.long).reshape(-1, 2),
              "device_name": device_name_bytes(dev)}
    return arrays, model


def device_name_bytes(dev):
    """The device's name as uint8 codes (the results file holds numbers only)."""
    name = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
    return np.frombuffer(name.encode()[:100], dtype=np.uint8)
