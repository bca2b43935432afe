"""Let the installed package win over a stand-in: stubs/ is first on the job's sys.path."""

import importlib.machinery
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def adopt(name):
    """Put the real package `name` in sys.modules in place of its stub; False if none imports."""
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None:
        return False
    stub = sys.modules[name]
    real = importlib.util.module_from_spec(spec)
    sys.modules[name] = real
    try:
        spec.loader.exec_module(real)
    except Exception:  # a broken install: keep the stand-in
        for key in [k for k in sys.modules if k.startswith(name + ".")]:
            del sys.modules[key]
        sys.modules[name] = stub
        return False
    return True
