"""Grader stand-in for google.colab.output: display helpers do nothing."""
from _anything import module_getattr as __getattr__  # noqa: F401
