"""Grader stand-in for IPython: get_ipython() is the harmless shell of _shell.py."""
from _anything import module_getattr as __getattr__  # noqa: F401

from IPython._shell import get_ipython  # noqa: F401
