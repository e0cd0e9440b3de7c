"""The per-epoch checkpoint of a run: what makes Ctrl-C lose at most one epoch, and --resume possible.

After each epoch whose loss and weights are finite, :class:`EpochCheckpoint` writes the model (with
its optimizer state) to ``model.keras`` through a temporary file and a rename, then ``checkpoint.json``:
the epoch number, the fit time so far, and the state of NumPy's global generator (which Keras's own
``model.fit`` uses to shuffle; the fused loop in ``_fastfit`` derives each epoch's order from the seed
and the epoch number instead), so a resumed run sees the same batches as an uninterrupted one. An epoch
whose loss or weights are NaN or infinite is not saved; the callback stops training and records
``diverged_epoch``.

Writing happens on a background thread while the next epoch trains: at the end of an epoch the
model's variables are copied into a *shadow* model of the same architecture (a host copy of a few
megabytes at most, so training cannot change or donate the snapshot), and the thread saves the shadow. :meth:`EpochCheckpoint.wait` joins it; training calls it before it reads or writes the
run's files again (on train end, on interrupt).
"""

from __future__ import annotations

import math
import threading
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


def _shadow_of(model):
    """A compiled copy of ``model`` with its optimizer built, whose variables can take a snapshot."""
    from ._backend import keras

    shadow = keras().models.clone_model(model)
    shadow.compile_from_config(model.get_compile_config())
    shadow.optimizer.build(shadow.trainable_variables)
    return shadow


def _pairs(a, b):
    left = list(a.variables) + list(a.optimizer.variables)
    right = list(b.variables) + list(b.optimizer.variables)
    if len(left) != len(right) or any(x.shape != y.shape for x, y in zip(left, right)):
        return None
    return list(zip(left, right))


class EpochCheckpoint(_Callback):
    """Write ``model.keras`` and ``checkpoint.json`` into ``run_dir`` after each good epoch.

    Args:
        run_dir: the run directory.
        prior_seconds: fit seconds spent before this fit (for resumed runs). Defaults to 0.
        background: save on a background thread while the next epoch trains. Defaults to True.
    """

    def __init__(self, run_dir: str | Path, prior_seconds: float = 0.0, background: bool = True):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.prior_seconds = prior_seconds
        self.background = background
        self.diverged_epoch: int | None = None
        self._start = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._shadow = None
        self._pairs = None

    def on_train_begin(self, logs=None):
        self.diverged_epoch = None
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.wait()  # the previous epoch's save is done before its shadow is overwritten
        record = {
            "epoch": epoch + 1,
            "fit_seconds": round(self.prior_seconds + time.perf_counter() - self._start, 4),
            "numpy_rng": rng_to_json(np.random.get_state()),
        }
        target, weights = self._snapshot() if self.background else (None, None)
        if weights is None:
            weights = self.model.get_weights()
        if not (_finite(logs.get("loss")) and all(np.isfinite(w).all() for w in weights)):
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
            return
        if target is None:
            self._write(self.model, record)
            return
        self._thread = threading.Thread(target=self._write, args=(target, record), name="fashion-lab-checkpoint")
        self._thread.start()

    def on_train_end(self, logs=None):
        self.wait()

    def wait(self) -> None:
        """Block until the last checkpoint is on disk; re-raise an error the writer met."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _snapshot(self):
        """Copy the model's and optimizer's variables into the shadow; returns (shadow, the model's weights).

        ``(None, None)`` when the model cannot be shadowed: it is then saved in the foreground.
        """
        try:
            if self._shadow is None:
                self._shadow = _shadow_of(self.model)
                self._pairs = _pairs(self.model, self._shadow)
        except Exception:
            self._pairs = None
        if not self._pairs:
            return None, None
        # Host copies, not references: Keras's model.fit donates its state buffers to the next step.
        arrays = [np.array(source.value, copy=True) for source, _ in self._pairs]
        for (_, copy), array in zip(self._pairs, arrays):
            copy.assign(array)
        return self._shadow, arrays[: len(self.model.variables)]

    def _write(self, model, record) -> None:
        try:
            runs.save_model(model, self.run_dir)
            _atomic.write_json(self.run_dir / runs.CHECKPOINT, record)  # only after the model it describes
        except BaseException as e:  # reported by wait(), on the training thread
            self._error = e


class StopRequest:
    """Remembers a SIGINT/SIGTERM that arrived during training, and raises ``KeyboardInterrupt`` for it.

    The signal handler raises at once, which abandons the current epoch wherever Python is. But Python
    ignores an exception raised inside a garbage-collector callback (JAX runs one), so the request is
    also remembered, and :class:`InterruptGuard` raises it at the next epoch boundary: a signal is
    never lost.
    """

    def __init__(self):
        self.signum: int | None = None

    def handler(self, signum, frame):
        self.signum = signum
        raise KeyboardInterrupt(f"signal {signum}")


class InterruptGuard(_Callback):
    """First in the callback list: turns a remembered stop request into ``KeyboardInterrupt`` at an epoch
    boundary, before the epoch's results are recorded (so the interrupted epoch is abandoned)."""

    def __init__(self, request: StopRequest):
        super().__init__()
        self.request = request

    def _check(self):
        if self.request.signum is not None:
            raise KeyboardInterrupt(f"signal {self.request.signum}")

    def on_epoch_begin(self, epoch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()
