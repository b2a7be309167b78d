"""course_utils: the RNN course's library of reference code, data, training, plots and widgets.

Notebooks start with::

    import course_utils as cu
    cu.setup_notebook()

See ``course_utils/README.md`` for the map of modules and the one language-model interface.
"""

from __future__ import annotations

import os
import random

# grading is imported with the package, in a notebook's first cell and so before any student
# code: it captures the comparison functions it relies on at import time (see its docstring).
from . import grading

__all__ = [
    "available_cpus",
    "configure_torch_threads",
    "freeze_loaded_objects",
    "grading",
    "seed_everything",
    "setup_notebook",
]


def available_cpus() -> int:
    """CPUs this process may really use.

    ``os.cpu_count()`` shows all of a host's cores even inside a container limited to one CPU
    (a Binder pod, say), so the cgroup quota and the affinity mask are read as well.
    """
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        counts.append(len(os.sched_getaffinity(0)))
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            counts.append(max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, min(counts))


def configure_torch_threads(max_threads: int | None = 1) -> int:
    """Set torch's intra-op threads; returns the count used.

    The course's models are small (128 hidden units, batches of 64 characters): splitting such
    matrix products over threads costs more in synchronisation than it gains, and on a busy
    2-CPU machine one thread trained the lesson-3 model about twice as fast as two. So the default
    is one thread; ``max_threads=None`` allows every CPU really available (``available_cpus``).
    ``OMP_NUM_THREADS``, when set (Binder's start script sets 1), wins over both.
    """
    import torch

    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        n = int(env)
    else:
        n = available_cpus() if max_threads is None else min(available_cpus(), max_threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_notebook(seed: int = 0) -> None:
    """One call at the top of every lesson: threads, seeds, compact matplotlib defaults, and the
    objects of the libraries loaded so far kept out of later garbage-collector passes."""
    import matplotlib as mpl
    import matplotlib.pyplot  # noqa: F401  (loaded now, so that the freeze below covers it)

    configure_torch_threads()
    seed_everything(seed)
    mpl.rcParams.update({"figure.figsize": (6, 3.5), "figure.dpi": 90, "axes.grid": True})
    freeze_loaded_objects()


def freeze_loaded_objects() -> int:
    """Collect garbage once, then exclude every object alive now from future collections.

    After ``import torch, matplotlib`` the garbage collector tracks about 230,000 objects
    (modules, classes, functions) that live as long as the kernel. A full collection walks all of
    them: 120-140 ms on our 2-CPU machines, landing on whatever runs at that moment (in lesson 2
    it was a slider callback, 190 ms instead of 50). ``gc.freeze()`` moves them to a permanent
    generation that collections skip.
    Garbage is collected first, so nothing collectable is frozen; objects created later are
    collected as usual. Returns the number of objects frozen.
    """
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
