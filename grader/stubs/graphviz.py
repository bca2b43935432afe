"""Grader stand-in for graphviz (micrograd's draw_dot)."""
from _anything import Anything as Digraph  # noqa: F401
from _anything import module_getattr as __getattr__  # noqa: F401
