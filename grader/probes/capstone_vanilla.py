"""Trusted baseline run (sandboxed, no student code): the reference GPT through the same loop.

grader/capstone/trusted.py copies reference/gpt.py beside this file as refgpt.py.
"""

from . import refgpt  # type: ignore[attr-defined]  # copied in by grader/capstone/trusted.py
from .capstone_common import Channel, train_runs


def bench(ns, inputs):
    """The vanilla reference GPT trained exactly like the student's variant."""
    V, T, C, H, L = (int(v) for v in inputs["cfg"])
    cfg = refgpt.GPTConfig(vocab_size=V, block_size=T, n_embd=C, n_head=H, n_layer=L, dropout=0.0)
    arrays, _ = train_runs(lambda: refgpt.GPTLanguageModel(cfg), inputs, Channel())
    return arrays


PROBES = {"bench": (None, bench)}
