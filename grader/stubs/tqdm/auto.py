"""Grader stand-in: the same pass-through bar as tqdm.std."""
from tqdm.std import tqdm, trange  # noqa: F401

tnrange = trange
