"""Inert widgets: they keep their keyword arguments as attributes and never display."""

from _anything import Anything


class Widget(Anything):
    """Any ipywidgets widget: `IntSlider(value=3).value == 3`; observe/display do nothing."""

    def __init__(self, *args, **kwargs):
        self.__dict__.update(kwargs)
        self.children = list(args[0]) if args and isinstance(args[0], (list, tuple)) else []


class fixed:  # noqa: N801 - ipywidgets' own name
    def __init__(self, value):
        self.value = value


def interact(__interact_f=None, **kwargs):
    """`interact(f, x=…)` and `@interact(x=…)` leave the function as it is (nothing is shown)."""
    if __interact_f is None:
        return lambda f: f
    return __interact_f


interact_manual = interact


def interactive(__interact_f, **kwargs):
    w = Widget(**kwargs)
    w.result = None
    return w
