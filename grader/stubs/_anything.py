"""A permissive stand-in object: plotting and display calls do nothing in the grader."""


class Anything:
    """Absorbs any call, attribute or index."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return Anything()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()

    def __getitem__(self, key):
        return Anything()

    def __setitem__(self, key, value):
        pass

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def module_getattr(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return Anything()
