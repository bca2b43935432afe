"""Grader stand-in for ipywidgets (only when ipywidgets is not installed): inert widgets."""
import _real

if not _real.adopt(__name__):
    import sys

    from ipywidgets._inert import Widget, fixed, interact, interact_manual, interactive  # noqa

    widgets = sys.modules[__name__]  # `from ipywidgets import widgets`

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (Widget,), {})  # IntSlider, Button, HBox, Output...
