"""Grader stand-in for matplotlib: plots are not graded, so they cost nothing."""
from _anything import module_getattr as __getattr__  # noqa: F401


def use(*args, **kwargs):
    pass
