"""Grader stand-in for IPython."""
from _anything import module_getattr as __getattr__  # noqa: F401
