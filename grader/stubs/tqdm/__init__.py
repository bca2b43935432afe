"""Grader stand-in for tqdm (used only when tqdm is not installed): bars pass the items through."""
import _real

if not _real.adopt(__name__):
    from tqdm.std import tqdm, trange

    tqdm_notebook, tnrange = tqdm, trange
    __version__ = "0+zerograd"
