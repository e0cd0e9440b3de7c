"""The per-epoch checkpoint of a run: what makes Ctrl-C lose at most one epoch, and --resume possible.

After each epoch whose loss and weights are finite, :class:`EpochCheckpoint` writes the model (with
its optimizer state) to ``model.keras`` through a temporary file and a rename, then ``checkpoint.json``:
the epoch number, the fit time so far, and the state of NumPy's global generator, which Keras uses to
shuffle the next epoch, so a resumed run sees the same batches as an uninterrupted one. An epoch whose
loss or weights are NaN or infinite is not saved; the callback stops training and records
``diverged_epoch``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _atomic, runs
from .callbacks import _Callback


def rng_to_json(state) -> list:
    """NumPy's ``np.random.get_state()`` as JSON-friendly values."""
    kind, keys, pos, has_gauss, cached = state
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class EpochCheckpoint(_Callback):
    """Write ``model.keras`` and ``checkpoint.json`` into ``run_dir`` after each good epoch.

    Args:
        run_dir: the run directory.
        prior_seconds: fit seconds spent before this fit (for resumed runs). Defaults to 0.
    """

    def __init__(self, run_dir: str | Path, prior_seconds: float = 0.0):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.prior_seconds = prior_seconds
        self.diverged_epoch: int | None = None
        self._start = None

    def on_train_begin(self, logs=None):
        self.diverged_epoch = None
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        weights_ok = all(np.isfinite(np.asarray(w)).all() for w in self.model.get_weights())
        if not (_finite(logs.get("loss")) and weights_ok):
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
            return
        with _atomic.atomic_path(self.run_dir / runs.MODEL) as tmp:  # tmp ends in .keras, as model.save requires
            self.model.save(tmp)
        _atomic.write_json(self.run_dir / runs.CHECKPOINT, {
            "epoch": epoch + 1,
            "fit_seconds": round(self.prior_seconds + time.perf_counter() - self._start, 4),
            "numpy_rng": rng_to_json(np.random.get_state()),
        })
