"""course_utils' top level: CPU count, torch threads, seeding, notebook setup."""

from __future__ import annotations

import gc
import os
import random
import weakref

import matplotlib as mpl
import numpy as np
import pytest
import torch

import course_utils as cu


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_available_cpus_within_what_the_os_reports():
    n = cu.available_cpus()
    assert 1 <= n <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert n <= len(os.sched_getaffinity(0))


def test_threads_default_one_env_wins_and_none_means_all(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cu.configure_torch_threads() == 1 and torch.get_num_threads() == 1
    assert cu.configure_torch_threads(None) == cu.available_cpus()
    assert torch.get_num_threads() == cu.available_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cu.configure_torch_threads(None) == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not-a-number")
    assert cu.configure_torch_threads() == 1


def test_seed_everything_makes_all_three_generators_repeat():
    cu.seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    cu.seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    cu.seed_everything(4)
    assert torch.rand(1).item() != first[2]


@pytest.fixture
def unfreeze():
    yield
    gc.unfreeze()  # give the test process its normal collector back


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the garbage collector can free it


def test_freeze_loaded_objects_collects_first_and_later_garbage_still_goes(unfreeze):
    dead = _Node()
    dead_ref = weakref.ref(dead)
    del dead  # cyclic garbage, not yet collected
    alive = _Node()
    frozen = cu.freeze_loaded_objects()
    assert dead_ref() is None, "garbage alive at freeze time must be collected, not frozen"
    assert frozen == gc.get_freeze_count() and frozen > 1000  # the loaded libraries
    assert not any(obj is alive for obj in gc.get_objects())  # frozen: skipped by collections
    later = _Node()
    later_ref = weakref.ref(later)
    del later
    gc.collect()
    assert later_ref() is None, "objects made after the freeze are collected as usual"


def test_setup_notebook_sets_seed_threads_and_plot_defaults(monkeypatch, restore_threads, unfreeze):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with mpl.rc_context():
        cu.setup_notebook(seed=5)
        assert gc.get_freeze_count() > 0
        value = torch.rand(1).item()
        assert mpl.rcParams["figure.dpi"] == 90 and tuple(mpl.rcParams["figure.figsize"]) == (
            6,
            3.5,
        )
    assert torch.get_num_threads() == 1
    cu.seed_everything(5)
    assert torch.rand(1).item() == value


def test_grading_is_imported_with_the_package():
    assert cu.grading.check_close is not None and callable(cu.grading.grading_mode)
