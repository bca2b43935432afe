"""Week 1 — micrograd (placeholder)."""
import math

from grader.checks import CheckSpec, Ctx, expect_close
from grader.sandbox import Limits

WEEK = 1
TITLE = "micrograd"
ITERATION_CAP = 20
HYPERPARAMS: dict = {}
SNAPSHOTS: dict = {}
LIMITS = Limits(wall_s=30, memory_mb=1024)


def make_inputs(rng, data_dir):
    return {"x": rng.normal(size=1)}


def _neuron(ctx: Ctx):
    x = float(ctx.inputs["x"][0])
    y = math.tanh(x * x)
    expect_close(ctx.arr("neuron", "y"), y, "y")
    return expect_close(ctx.arr("neuron", "gx"), (1 - y * y) * 2 * x, "x.grad")


CHECKS = [CheckSpec("neuron", 100, _neuron)]
