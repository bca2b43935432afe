"""Grader-chosen week-6 inputs: configs, batches, held-out windows, the specialist corpus.

Two separate sets: JobInputs (the arrays written to the sandbox's inputs.npz) and its
`.trusted` (held-out targets, kept by the checker only) plus `.files` (the only data files the
job's work dir may hold). Held-out text is a random contiguous slice of each corpus; the job
gets the held-out *contexts* (it has to run its model on them) but neither their targets nor
the slice's text: its input.txt and capstone/data.txt are the corpus with the slice cut out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.source import Source
from reference.gpt import GPTConfig, GPTLanguageModel

CORPUS = "capstone/data.txt"
MAX_CORPUS_BYTES = 20 * 1024 * 1024
MIN_CORPUS_CHARS = 2000
MAX_VOCAB = 512
CORPUS_ERRORS = {
    1: f"no {CORPUS} in your fork: the Specialist track trains on your own text file",
    2: f"{CORPUS} is not valid UTF-8 text",
    3: f"{CORPUS} is too small: at least {MIN_CORPUS_CHARS} characters are needed",
    4: f"{CORPUS} has more than {MAX_VOCAB} distinct characters",
    5: f"{CORPUS} is larger than {MAX_CORPUS_BYTES // (1024 * 1024)} MB",
}


@dataclass(frozen=True)
class Profile:
    """Sizes of one grading: model, batches, step budget, seeds."""

    block_size: int
    n_embd: int
    n_head: int
    n_layer: int
    batch: int
    steps: int  # optimiser steps per seed (including warm-up)
    warmup: int  # steps excluded from timing
    seeds: int
    lr: float
    n_val: int  # held-out windows
    s_block: int  # specialist context
    s_steps: int
    s_new: int  # characters per sample


CPU = Profile(block_size=16, n_embd=32, n_head=4, n_layer=2, batch=8, steps=40, warmup=8,
              seeds=3, lr=1e-2, n_val=16, s_block=32, s_steps=80, s_new=80)
CUDA = Profile(block_size=128, n_embd=256, n_head=8, n_layer=4, batch=32, steps=80, warmup=15,
               seeds=3, lr=3e-3, n_val=32, s_block=128, s_steps=300, s_new=200)


class JobInputs(dict[str, np.ndarray]):
    """The sandbox's arrays (this dict), what only the trusted side holds, the job's files."""

    def __init__(self, job: dict[str, np.ndarray], trusted: dict[str, np.ndarray],
                 files: dict[str, bytes]) -> None:
        super().__init__(job)
        self.trusted = trusted  # never written to the job: held-out targets
        self.files = files  # work/ relative path -> bytes: all the data the job may read


class TrustedInputsMissing(RuntimeError):
    """The grader lost its trusted-only inputs: a grader fault, never the student's."""


def hidden(trusted: Mapping[str, Any], key: str) -> np.ndarray:
    """A trusted-only array (the held-out targets; grader.checks.Ctx.trusted)."""
    if key not in trusted:
        raise TrustedInputsMissing(f"{key}: this grading's inputs carry no trusted-only data")
    return np.asarray(trusted[key])


def profile(on_gpu: bool) -> Profile:
    """The sizes for this worker."""
    return CUDA if on_gpu else CPU


def encode(text: str) -> tuple[np.ndarray, list[str]]:
    """Character-level tokens and the sorted vocabulary (the lecture's stoi)."""
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    return np.fromiter((stoi[c] for c in text), dtype=np.int64, count=len(text)), chars


def windows(rng: np.random.Generator, n: int, T: int, lo: int, hi: int,
            avoid: tuple[int, int] | None = None) -> np.ndarray:
    """n random starts i in [lo, hi - T - 1] whose span [i, i+T] avoids [a, b)."""
    starts: list[int] = []
    while len(starts) < n:
        i = int(rng.integers(lo, hi - T - 1))
        if avoid is None or i + T + 1 <= avoid[0] or i >= avoid[1]:
            starts.append(i)
    return np.array(starts)


def batches(data: np.ndarray, starts: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y windows at the given starts (y shifted by one)."""
    x = np.stack([data[i:i + T] for i in starts.reshape(-1)])
    y = np.stack([data[i + 1:i + T + 1] for i in starts.reshape(-1)])
    return x.reshape(*starts.shape, T), y.reshape(*starts.shape, T)


def _weight(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Linear ~ N(0, 1/fan_in) (embeddings N(0, 1)), LayerNorm gain ~ 1, biases small."""
    if len(shape) == 2:
        fan_in = shape[1] if "embedding" not in name else 1
        return rng.normal(size=shape) / math.sqrt(fan_in)
    return 1.0 + 0.2 * rng.normal(size=shape) if name.endswith("weight") else \
        0.2 * rng.normal(size=shape)


def hold_out(rng: np.random.Generator, n: int, n_hold: int) -> tuple[int, int]:
    """A random contiguous span [a, b) of n_hold of n tokens."""
    a = int(rng.integers(0, n - n_hold + 1))
    return a, a + n_hold


def without(text: str, span: tuple[int, int]) -> bytes:
    """The text with the held-out span cut out, as UTF-8 (what the job may read)."""
    return (text[:span[0]] + text[span[1]:]).encode("utf-8")


def architect(rng: np.random.Generator, text: str, p: Profile
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], tuple[int, int]]:
    """Property inputs, inspector weights, benchmark batches (Shakespeare); held-out targets
    apart; the held-out span of the text."""
    data, chars = encode(text)
    V, T, C, hs = len(chars), p.block_size, p.n_embd, p.n_embd // p.n_head
    span = hold_out(rng, len(data), len(data) // 10)
    train = windows(rng, p.steps * p.batch, T, 0, len(data), span).reshape(p.steps, p.batch)
    val = windows(rng, p.n_val, T, *span)
    out: dict[str, np.ndarray] = {"cfg": np.array([V, T, C, p.n_head, p.n_layer]),
                                  "seed": rng.integers(0, 2**31, size=2),
                                  "b_seeds": rng.integers(0, 2**31, size=p.seeds),
                                  "b_lr": np.array([p.lr]), "b_warmup": np.array([p.warmup]),
                                  "b_batch": np.array([p.batch, T])}
    out["b_train_x"], out["b_train_y"] = batches(data, train, T)
    out["b_val_x"], val_y = batches(data, val, T)
    q, k = rng.normal(size=(1, 1, hs)), rng.normal(size=(1, 1, hs))
    out |= {"rope_x": rng.normal(size=(2, T, hs)), "rope_q": np.repeat(q, T, axis=1),
            "rope_k": np.repeat(k, T, axis=1), "sw_x": rng.normal(size=(2, T, C))}
    cfg = GPTConfig(vocab_size=V, block_size=T, n_embd=C, n_head=p.n_head, n_layer=p.n_layer)
    for name, prm in GPTLanguageModel(cfg).named_parameters():
        out[f"model.{name}"] = _weight(name, tuple(prm.shape), rng)
    out["i_idx"] = rng.integers(0, V, size=(2, T))
    start = int(windows(rng, 1, T, *span)[0])
    out["i_prompt"] = data[None, start:start + T]
    out["i_prompt_chars"] = np.array([ord(chars[int(i)]) for i in out["i_prompt"][0]])
    return out, {"b_val_y": val_y}, span


def corpus(extra: dict[str, bytes]) -> tuple[str, int]:
    """The student's text and an error code (0 when usable)."""
    raw = extra.get(CORPUS)
    if raw is None:
        return "", 1
    if len(raw) > MAX_CORPUS_BYTES:
        return "", 5
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "", 2
    if len(text) < MIN_CORPUS_CHARS:
        return "", 3
    return text, 4 if len(set(text)) > MAX_VOCAB else 0


def specialist(rng: np.random.Generator, extra: dict[str, bytes], p: Profile
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], bytes | None]:
    """Batches from the student's corpus and a grader-chosen contiguous held-out span: job
    arrays, trusted-only arrays, and the corpus the job may read (None: none)."""
    text, err = corpus(extra)
    out: dict[str, np.ndarray] = {"s_error": np.array([err])}
    if err:
        return out, {}, None
    data, chars = encode(text)
    T, n_hold = p.s_block, max(len(data) // 10, 4 * (p.s_block + 1))
    a = hold_out(rng, len(data), n_hold)[0]
    train = windows(rng, p.s_steps * p.batch, T, 0, len(data), (a, a + n_hold))
    val = windows(rng, p.n_val, T, a, a + n_hold)
    val[0] = a  # its first context is the samples' prompt (binds the samples to the model)
    out |= {"s_cfg": np.array([len(chars), T, p.n_embd, p.n_head, p.n_layer]),
            "s_seeds": rng.integers(0, 2**31, size=1), "s_lr": np.array([p.lr]),
            "s_new": np.array([p.s_new]), "s_vocab": np.array([ord(c) for c in chars]),
            "s_prompt": data[None, a:a + 1].repeat(3, axis=0),
            "s_probes": np.array([-1, p.s_steps // 2]),  # held-out probes after these steps
            "s_train_counts": np.bincount(np.delete(data, np.s_[a:a + n_hold]),
                                          minlength=len(chars))}
    out["s_train_x"], out["s_train_y"] = batches(data, train.reshape(p.s_steps, p.batch), T)
    out["s_val_x"], val_y = batches(data, val, T)
    return out, {"s_val_y": val_y}, without(text, (a, a + n_hold))


def make_job_inputs(rng: np.random.Generator, data_dir: Path, source: Source | Any,
                    on_gpu: bool) -> JobInputs:
    """Everything every track may need (the track is only known once the notebook ran)."""
    p = profile(on_gpu)
    text = (Path(data_dir) / "tinyshakespeare.txt").read_text(encoding="utf-8")
    job, trusted, span = architect(rng, text, p)
    s_job, s_trusted, s_text = specialist(rng, dict(getattr(source, "extra_files", {}) or {}), p)
    files = {"input.txt": without(text, span)}
    if (Path(data_dir) / "names.txt").exists():
        files["names.txt"] = (Path(data_dir) / "names.txt").read_bytes()
    if s_text is not None:
        files[CORPUS] = s_text
    return JobInputs(job | s_job, trusted | s_trusted, files)
