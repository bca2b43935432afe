"""Grader stand-in for google.colab (there is no Colab runtime in the autograder)."""
from _anything import module_getattr as __getattr__  # noqa: F401
