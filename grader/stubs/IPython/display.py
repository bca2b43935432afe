"""Grader stand-in for IPython.display."""
from _anything import module_getattr as __getattr__  # noqa: F401


def display(*args, **kwargs):
    pass
