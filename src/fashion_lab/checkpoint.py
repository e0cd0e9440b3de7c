"""The per-epoch checkpoint of a run: what makes Ctrl-C lose at most one epoch, and --resume possible.

After each epoch whose loss and weights are finite, :class:`CheckpointWriter` writes the model (with
its optimizer state) to ``model.keras`` through a temporary file and a rename, then ``checkpoint.json``:
the epoch number, the fit time so far, and the state of NumPy's global generator (which Keras's own
``model.fit`` uses to shuffle; the fused loop in ``_fastfit`` derives each epoch's order from the seed
and the epoch number instead), so a resumed run sees the same batches as an uninterrupted one. An epoch
whose loss or weights are NaN or infinite is not saved: :meth:`CheckpointWriter.save` says so, and
the run stops there.

Writing happens on a background thread while the next epoch trains: at the end of an epoch the
model's variables are copied into a *shadow* model of the same architecture (a host copy of a few
megabytes at most, so training cannot change or donate the snapshot), and the thread saves the shadow. :meth:`CheckpointWriter.wait` joins it; training calls it before it reads or writes the
run's files again (on train end, on interrupt).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from . import _atomic, runs


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


class CheckpointWriter:
    """Writes ``model.keras`` and ``checkpoint.json`` into ``run_dir`` for each good epoch.

    Not a callback: the run's own epoch sequence (:class:`fashion_lab.training.EpochRecorder`) calls
    :meth:`save` at its place in the order.

    Args:
        run_dir: the run directory.
        prior_seconds: fit seconds spent before this fit (for resumed runs). Defaults to 0.
        background: save on a background thread while the next epoch trains. Defaults to True.

    Example:
        >>> import tempfile
        >>> writer = CheckpointWriter(tempfile.mkdtemp())
        >>> writer.start(); writer.wait()  # nothing saved yet: nothing to wait for
    """

    def __init__(self, run_dir: str | Path, prior_seconds: float = 0.0, background: bool = True):
        self.run_dir = Path(run_dir)
        self.prior_seconds = prior_seconds
        self.background = background
        self._start = time.perf_counter()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._shadow = None
        self._pairs = None
        self._shadow_tried = False

    def start(self) -> None:
        """Start the fit clock (``fit_seconds`` in ``checkpoint.json`` counts from here)."""
        self._start = time.perf_counter()

    def save(self, model, epoch: int, logs: dict) -> bool:
        """Save ``model`` after ``epoch`` (counted from 0); False, and nothing saved, when it diverged.

        An epoch diverged when its loss or any weight is NaN or infinite.
        """
        self.wait()  # the previous epoch's save is done before its shadow is overwritten
        record = {
            "epoch": epoch + 1,
            "fit_seconds": round(self.prior_seconds + time.perf_counter() - self._start, 4),
            "numpy_rng": rng_to_json(np.random.get_state()),
        }
        target, weights = self._snapshot(model) if self.background else (None, None)
        if weights is None:
            weights = model.get_weights()
        if not (_finite(logs.get("loss")) and all(np.isfinite(w).all() for w in weights)):
            return False
        if target is None:
            self._write(model, record)
            self.wait()  # a foreground write reports its error now
            return True
        self._thread = threading.Thread(target=self._write, args=(target, record), name="fashion-lab-checkpoint")
        self._thread.start()
        return True

    def wait(self) -> None:
        """Block until the last checkpoint is on disk; re-raise an error the writer met."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _snapshot(self, model):
        """Copy the model's and optimizer's variables into the shadow; returns (shadow, the model's weights).

        ``(None, None)`` when the model cannot be shadowed (it is then saved in the foreground, and the
        reason is said once).
        """
        if not self._shadow_tried:
            self._shadow_tried = True
            try:
                self._shadow = _shadow_of(model)
                self._pairs = _pairs(model, self._shadow)
                if not self._pairs:
                    raise ValueError("the copy's variables do not match the model's")
            except Exception as e:  # any model Keras cannot clone and compile from its config
                self._pairs = None
                warnings.warn(f"checkpoints of this model are written in the foreground (cannot copy it for a "
                              f"background save: {type(e).__name__}: {e})", stacklevel=3)
        if not self._pairs:
            return None, None
        # Host copies, not references: Keras's model.fit donates its state buffers to the next step.
        arrays = [np.array(source.value, copy=True) for source, _ in self._pairs]
        for (_, copy), array in zip(self._pairs, arrays):
            copy.assign(array)
        return self._shadow, arrays[: len(model.variables)]

    def _write(self, model, record) -> None:
        try:
            runs.save_model(model, self.run_dir)
            _atomic.write_json(self.run_dir / runs.CHECKPOINT, record)  # only after the model it describes
        except BaseException as e:  # reported by wait(), on the training thread
            self._error = e
