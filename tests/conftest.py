"""Shared fixtures: an isolated cache per test, tiny synthetic datasets, and the real-data marker."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest
from hypothesis import settings

# The default profile replays the same examples every run (repeatable CI); "fuzz" hunts at random, for long.
settings.register_profile("default", max_examples=300, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("fuzz", max_examples=20_000, derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

from fashion_lab import datasets
from helpers import REAL_DIR, spec_for, write_idx_dataset


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty dataset cache and Keras home; FASHION_LAB_DATA is unset."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FASHION_LAB_CACHE", str(base / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(base / "keras"))
    monkeypatch.delenv("FASHION_LAB_DATA", raising=False)
    return base / "cache"


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """A folder with four tiny, learnable, gzip-compressed IDX files (600 train / 200 test)."""
    return write_idx_dataset(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture
def synthetic_fashion(monkeypatch, synthetic_dir):
    """Make ``fashion_mnist`` mean the synthetic files: their checksums pinned, found as the 'system package'.

    Everything downstream (search order, verification, cache, training) then runs for real, in seconds.
    """
    spec = spec_for(synthetic_dir, datasets.FASHION_MNIST, system_dirs=(str(synthetic_dir),), mirrors=())
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec)
    return spec


def pytest_collection_modifyitems(config, items):
    if REAL_DIR.is_dir() and any(REAL_DIR.iterdir()):
        return
    skip = pytest.mark.skip(reason=f"real Fashion-MNIST not installed in {REAL_DIR} (apt-get install dataset-fashion-mnist)")
    for item in items:
        if "real_data" in item.keywords:
            item.add_marker(skip)
