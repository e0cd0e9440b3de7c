"""Synthetic IDX datasets for fast tests: tiny, learnable, written the way the real files are."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np

from fashion_lab.datasets import DatasetSpec, FileSpec
from fashion_lab.idx import encode_idx

REAL_DIR = Path("/usr/share/datasets/fashion-mnist")


def synthetic_arrays(n: int, seed: int = 0, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 images whose class is a bright horizontal band at row 2 + 2*label, plus noise."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % num_classes).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = 2 + 2 * int(label)
        images[i, row:row + 3, 4:24] = rng.integers(180, 256, size=(3, 20), dtype=np.uint8)
    return images, labels


def write_idx_dataset(folder: Path, n_train: int = 600, n_test: int = 200, *, gz: bool = True, seed: int = 0) -> Path:
    """Write the four IDX files (gzip-compressed unless ``gz=False``) into ``folder``; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x, y = synthetic_arrays(n_train, seed)
    xt, yt = synthetic_arrays(n_test, seed + 1)
    for name, array in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                        ("t10k-images-idx3-ubyte", xt), ("t10k-labels-idx1-ubyte", yt)):
        data = encode_idx(array)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def spec_for(folder: Path, base: DatasetSpec, **changes) -> DatasetSpec:
    """``base`` with its pinned checksums replaced by those of the files in ``folder``."""
    files = {}
    for role, fspec in base.files.items():
        path = folder / (fspec.filename + ".gz")
        data = gzip.decompress(path.read_bytes()) if path.exists() else (folder / fspec.filename).read_bytes()
        files[role] = FileSpec(fspec.filename, hashlib.sha256(data).hexdigest(), len(data))
    return dataclasses.replace(base, files=files, **changes)


def assert_fast_path_is_model_fit(fast, plain, x, y, *, seed: int, epochs: int, batch: int) -> dict:
    """Train ``fast`` with the fused loop and ``plain`` with Keras's own ``model.fit``, fed each epoch's batches in
    the order the fused loop draws them; assert identical histories, weights and optimizer state. Returns the history."""
    import numpy as np

    from fashion_lab import _fastfit

    fast_history = _fastfit.fit(fast, x, y, epochs=epochs, batch_size=batch, seed=seed).history
    plain_history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        order = np.asarray(_fastfit.epoch_order(np.uint32(seed), np.int32(epoch), len(x)))
        logs = plain.fit(x[order], y[order], batch_size=batch, epochs=1, shuffle=False, verbose=0).history
        for key, values in logs.items():
            plain_history.setdefault(key, []).extend(values)
    assert fast_history == plain_history
    for ours, theirs in zip(fast.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(fast.optimizer.variables, plain.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(ours.value), np.asarray(theirs.value))
    return fast_history
