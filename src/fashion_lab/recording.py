"""What a run records after every epoch, and in which order: the one place that sequence is written.

:class:`EpochRecorder` is the first callback of every :func:`fashion_lab.train` run. At the end of each
epoch it does, in this order:

1. **stop check**: a SIGINT/SIGTERM that arrived during the epoch abandons it; nothing of it is recorded;
2. **history row**: ``history.csv`` gets the epoch's row (replaced atomically), before the checkpoint,
   so whenever ``checkpoint.json`` says epoch k is done, row k is on disk;
3. **checkpoint**: ``model.keras`` and ``checkpoint.json`` (in the background), unless the loss or a
   weight is NaN or infinite: then training stops and ``diverged_epoch`` says which epoch;
4. **progress line**: ``epoch 1/5: loss 0.4970, accuracy 0.8235, 1.02s (58,823 samples/s)``.

The stop callbacks (``--stop-at-accuracy``...) and the user's own callbacks run after it, so they
see an epoch that is already recorded.

Example:
    >>> import tempfile
    >>> from fashion_lab.stopping import StopRequest
    >>> recorder = EpochRecorder(tempfile.mkdtemp(), StopRequest(), samples_per_epoch=60000)
    >>> recorder.epoch_seconds, recorder.diverged_epoch
    ([], None)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from . import runs
from ._backend import keras
from .callbacks import HistoryFile, epoch_line, samples_per_second
from .checkpoint import CheckpointWriter
from .stopping import StopRequest


class EpochRecorder(keras().callbacks.Callback):
    """Record each finished epoch of a run in ``run_dir`` (see the module docstring for the order).

    Args:
        run_dir: the run directory.
        stop: the run's :class:`~fashion_lab.stopping.StopRequest` (set by the signal handlers).
        samples_per_epoch: training images per epoch, for the samples/s figures.
        prior_seconds: fit seconds of the epochs before this fit (a resumed run). Defaults to 0.
        resumed: continue the rows already in ``history.csv``. Defaults to False.
        say: prints the per-epoch line; None prints nothing. Defaults to None.

    After the fit, ``epoch_seconds`` holds each epoch's wall time (the first includes compilation)
    and ``diverged_epoch`` the epoch (from 1) whose loss or weights were not finite, if any.
    """

    def __init__(self, run_dir: str | Path, stop: StopRequest, *, samples_per_epoch: int, prior_seconds: float = 0.0,
                 resumed: bool = False, say: Callable[[str], None] | None = None):
        super().__init__()
        self.stop = stop
        self.history = HistoryFile(Path(run_dir) / runs.HISTORY)
        self.checkpoint = CheckpointWriter(run_dir, prior_seconds)
        self.samples_per_epoch = samples_per_epoch
        self.resumed = resumed
        self.say = say
        self.epoch_seconds: list[float] = []
        self.diverged_epoch: int | None = None
        self._epoch_start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.history.start(append=self.resumed)
        self.checkpoint.start()
        self.epoch_seconds, self.diverged_epoch = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.stop.check()
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        seconds = time.perf_counter() - self._epoch_start
        rate = samples_per_second(self.samples_per_epoch, seconds)
        self.stop.check()                                           # 1. abandon an interrupted epoch
        self.history.add(epoch, logs, seconds, rate)                # 2. its row, before the checkpoint
        self.epoch_seconds.append(seconds)
        if not self.checkpoint.save(self.model, epoch, logs):       # 3. model.keras + checkpoint.json
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
        if self.say is not None:                                    # 4. one line for the person watching
            self.say(epoch_line(epoch, self.params.get("epochs", "?") if self.params else "?", logs, seconds, rate))

    def on_train_end(self, logs=None):
        self.checkpoint.wait()
