"""Grader stand-in for matplotlib.pyplot."""
from _anything import Anything
from _anything import module_getattr as __getattr__  # noqa: F401


def subplots(nrows=1, ncols=1, *args, **kwargs):
    return Anything(), Anything()
