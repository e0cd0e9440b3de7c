"""Keras callbacks that track training and stop it at a target.

All of them are plain ``keras.callbacks.Callback`` subclasses: pass them to any ``model.fit``
or to :func:`fashion_lab.train`. Arguments are validated in ``__init__``; per-run state is reset
in ``on_train_begin``, so one instance can be reused across fits.

Example (the seed's ``myCallback``, done right):
    >>> from fashion_lab import build_model, load_dataset, StopAtAccuracy
    >>> (x, y), _ = load_dataset("fashion_mnist")  # doctest: +SKIP
    >>> model = build_model()
    >>> history = model.fit(x / 255, y, epochs=5, callbacks=[StopAtAccuracy(0.6)])  # doctest: +SKIP
    Reached 60% accuracy so cancelling training!
    >>> len(history.history["loss"])  # doctest: +SKIP
    1
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
import warnings
from pathlib import Path

from . import _atomic
from ._backend import keras as _keras
from .errors import ConfigError
from .validate import fraction, is_number, positive_number

_Callback = _keras().callbacks.Callback

# Older Keras and TensorFlow logs use short names; read them when the long one is absent.
_LEGACY_KEYS = {"accuracy": "acc", "val_accuracy": "val_acc"}


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"


class TargetStop(_Callback):
    """Stop training at the end of the first epoch where a logged metric reaches a target.

    The shared logic of :class:`StopAtAccuracy` and :class:`StopAtLoss`.

    Args:
        target: the value to reach.
        monitor: the key in the epoch's logs. Legacy ``acc``/``val_acc`` are read when the
            ``accuracy``/``val_accuracy`` key is missing.
        mode: ``"max"`` stops when ``value >= target``; ``"min"`` stops when ``value <= target``.
        verbose: print a line when training is stopped. Defaults to True.
    """

    def __init__(self, target: float, monitor: str, mode: str, verbose: bool = True):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        if not is_number(target):
            raise ConfigError(f"target must be a finite number, got {target!r}.")
        self.target = float(target)
        self.monitor = monitor
        self.mode = mode
        self.verbose = verbose
        self.stopped_epoch: int | None = None
        self._warned = False

    def on_train_begin(self, logs=None):
        self.stopped_epoch = None
        self._warned = False

    def _value(self, logs):
        logs = logs or {}
        if self.monitor in logs:
            return logs[self.monitor]
        legacy = _LEGACY_KEYS.get(self.monitor)
        if legacy in logs:
            return logs[legacy]
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{type(self).__name__} cannot find {self.monitor!r} in the epoch logs; "
                f"the logged metrics are: {', '.join(sorted(logs)) or '(none)'}. "
                f"Training will not be stopped by it. Pass monitor= one of those, or compile the model with that metric.",
                stacklevel=2,
            )
        return None

    def reached(self, value: float) -> bool:
        return value >= self.target if self.mode == "max" else value <= self.target

    def message(self, value: float) -> str:
        return f"Reached {self.monitor} {self.target:g} ({value:.4f}) so cancelling training!"

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if value is None or not self.reached(float(value)):
            return
        self.stopped_epoch = epoch + 1
        self.model.stop_training = True
        if self.verbose:
            print(self.message(float(value)), flush=True)


class StopAtAccuracy(TargetStop):
    """Stop training once accuracy reaches ``target`` (the seed's ``myCallback``).

    At the end of each epoch, when ``logs[monitor] >= target``, it prints
    ``Reached 60% accuracy so cancelling training!`` and sets ``model.stop_training``.

    Args:
        target: accuracy to reach, in (0, 1]. ``0.6`` means 60%.
        monitor: ``"accuracy"`` (training) or ``"val_accuracy"``. Defaults to ``"accuracy"``;
            the legacy ``acc`` key is read when ``accuracy`` is absent.
        verbose: print the line when stopping. Defaults to True.

    Example:
        >>> callback = StopAtAccuracy(0.6)
        >>> callback.target
        0.6
    """

    def __init__(self, target: float, monitor: str = "accuracy", verbose: bool = True):
        fraction("StopAtAccuracy target", target, low_open=True, high_open=False, example="for 60% accuracy pass 0.6")
        super().__init__(target, monitor=monitor, mode="max", verbose=verbose)

    def message(self, value: float) -> str:
        what = "validation accuracy" if self.monitor.startswith("val") else "accuracy"
        return f"Reached {_percent(self.target)} {what} so cancelling training!"


class StopAtLoss(TargetStop):
    """Stop training once the loss falls to ``target`` or below.

    Args:
        target: loss ceiling, > 0.
        monitor: ``"loss"`` or ``"val_loss"``. Defaults to ``"loss"``.
        verbose: print a line when stopping. Defaults to True.

    Example:
        >>> StopAtLoss(0.3).target
        0.3
    """

    def __init__(self, target: float, monitor: str = "loss", verbose: bool = True):
        positive_number("StopAtLoss target", target, example="for example 0.3")
        super().__init__(target, monitor=monitor, mode="min", verbose=verbose)

    def message(self, value: float) -> str:
        return f"Reached {self.monitor} {value:.4f} (target {self.target:g}) so cancelling training!"


class EpochClock(_Callback):
    """Measures each epoch's wall time (the first epoch includes compilation).

    A base for callbacks that report speed: ``self.timing()`` at ``on_epoch_end`` gives
    ``(seconds, samples per second or None)``.

    Args:
        samples_per_epoch: training samples per epoch, for the samples/s figure. Defaults to None.

    Example:
        >>> EpochClock(samples_per_epoch=60000).samples_per_epoch
        60000
    """

    def __init__(self, samples_per_epoch: int | None = None):
        super().__init__()
        self.samples_per_epoch = samples_per_epoch
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def timing(self) -> tuple[float, float | None]:
        """Seconds since this epoch began, and samples per second (None without ``samples_per_epoch``)."""
        seconds = time.perf_counter() - self._start if self._start is not None else float("nan")
        return seconds, samples_per_second(self.samples_per_epoch, seconds)


def samples_per_second(samples: int | None, seconds: float) -> float | None:
    """``samples / seconds``, or None when either is missing or not positive.

    Example:
        >>> samples_per_second(60000, 2.0), samples_per_second(None, 2.0)
        (30000.0, None)
    """
    return samples / seconds if samples and seconds > 0 else None


_PREFERRED = ("loss", "accuracy", "val_loss", "val_accuracy")


def _ordered_keys(logs: dict) -> list[str]:
    return [k for k in _PREFERRED if k in logs] + sorted(k for k in logs if k not in _PREFERRED)


def epoch_line(epoch: int, epochs: int | str, logs: dict, seconds: float, rate: float | None = None) -> str:
    """The one line printed per epoch, counting epochs from 1.

    Example:
        >>> epoch_line(0, 5, {"loss": 0.49581, "accuracy": 0.82351}, 1.2105, 49587.3)
        'epoch 1/5: loss 0.4958, accuracy 0.8235, 1.21s (49,587 samples/s)'
    """
    metrics = ", ".join(f"{k} {float(logs[k]):.4f}" for k in _ordered_keys(logs))
    speed = f" ({rate:,.0f} samples/s)" if rate else ""
    return f"epoch {epoch + 1}/{epochs}: {metrics}, {seconds:.2f}s{speed}"


class HistoryFile:
    """``history.csv``: one row per epoch, the whole file replaced atomically as each row is added.

    The file is rewritten through a temporary file and a rename (a few hundred bytes, well under a
    millisecond), so a crash or kill at any moment leaves every finished epoch and never half a row.
    Columns: ``epoch`` (from 1), the logged metrics (``loss``, ``accuracy``, then ``val_loss``,
    ``val_accuracy`` when present), ``epoch_seconds`` and ``samples_per_second``.

    Args:
        path: the CSV file. Its folder is created by :meth:`start`.

    Example:
        >>> import tempfile, os
        >>> history = HistoryFile(os.path.join(tempfile.mkdtemp(), "history.csv"))
        >>> history.start()
        >>> history.add(0, {"loss": 0.5, "accuracy": 0.8}, seconds=1.5, rate=40000.0)
        >>> open(history.path).read().splitlines()
        ['epoch,loss,accuracy,epoch_seconds,samples_per_second', '1,0.5,0.8,1.5,40000.0']
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._rows: list[list] = []
        self._columns: list[str] | None = None

    def start(self, append: bool = False) -> None:
        """Begin a fit: keep the rows on disk when ``append`` (a resumed run), else start an empty file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._columns, self._rows = None, []
        if append and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [row for row in csv.reader(f) if row]
            if rows:
                self._columns, self._rows = rows[0], rows[1:]
        else:
            _atomic.write_text(self.path, "")  # a fresh log: no rows of an earlier fit stay behind

    def add(self, epoch: int, logs: dict, seconds: float, rate: float | None) -> None:
        """Append the row of ``epoch`` (counted from 0) and replace the file."""
        if self._columns is None:
            self._columns = ["epoch", *_ordered_keys(logs), "epoch_seconds", "samples_per_second"]
        values = {"epoch": epoch + 1, "epoch_seconds": round(seconds, 4), "samples_per_second": "" if rate is None else round(rate, 1)}
        values.update({k: float(v) for k, v in logs.items()})
        self._rows.append([values.get(c, "") for c in self._columns])
        text = io.StringIO()
        csv.writer(text).writerows([self._columns, *self._rows])
        _atomic.write_text(self.path, text.getvalue())


class MetricsLog(EpochClock):
    """Write ``history.csv`` with one row per epoch, replaced atomically as each epoch ends.

    A callback around :class:`HistoryFile` (see there for the columns), for any ``model.fit``.

    Args:
        path: the CSV file. Its folder is created.
        samples_per_epoch: training samples per epoch, for the samples/s column. Defaults to
            None (the column is left empty).
        append: keep the rows already in ``path`` and continue after them (for resumed runs).
            Defaults to False (the file is started afresh).

    Example:
        >>> import tempfile, os
        >>> log = MetricsLog(os.path.join(tempfile.mkdtemp(), "history.csv"), samples_per_epoch=60000)
        >>> log.samples_per_epoch
        60000
    """

    def __init__(self, path: str | os.PathLike[str], samples_per_epoch: int | None = None, append: bool = False):
        super().__init__(samples_per_epoch)
        self.history = HistoryFile(path)
        self.path = self.history.path
        self.append = append

    def on_train_begin(self, logs=None):
        self.history.start(self.append)

    def on_epoch_end(self, epoch, logs=None):
        self.history.add(epoch, dict(logs or {}), *self.timing())


class EpochPrinter(EpochClock):
    """Print one readable line per epoch: ``epoch 1/5: loss 0.4958, accuracy 0.8235, 1.21s (49,587 samples/s)``.

    Args:
        samples_per_epoch: training samples per epoch, for the samples/s figure. Defaults to None.
        stream: where to print. Defaults to ``sys.stdout``.

    Example:
        >>> EpochPrinter(samples_per_epoch=60000).stream is None
        True
    """

    def __init__(self, samples_per_epoch: int | None = None, stream=None):
        super().__init__(samples_per_epoch)
        self.stream = stream

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("epochs", "?") if self.params else "?"
        print(epoch_line(epoch, total, logs or {}, *self.timing()), file=self.stream or sys.stdout, flush=True)
