"""The Keras callback that reports each epoch's validation metric to an Optuna trial and prunes hopeless ones.

Example:
    >>> import optuna
    >>> trial = optuna.create_study(direction="maximize").ask()
    >>> callback = ReportToTrial(trial, monitor="val_accuracy")
    >>> callback.pruned_after
"""

from __future__ import annotations

import warnings

from .._backend import keras


class ReportToTrial(keras().callbacks.Callback):
    """After each epoch, report ``logs[monitor]`` to ``trial`` (step = epoch, from 1); when the study's pruner
    says the trial is hopeless, stop training after this epoch (the run is recorded as usual).

    Args:
        trial: the Optuna trial being run.
        monitor: the metric to report, ``val_accuracy`` or ``val_loss``. Defaults to ``val_accuracy``.

    After the fit, ``pruned_after`` holds the epoch (from 1) after which the trial was pruned, or None.
    """

    def __init__(self, trial, monitor: str = "val_accuracy"):
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.pruned_after: int | None = None

    def on_train_begin(self, logs=None):
        self.pruned_after = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"ReportToTrial: {self.monitor!r} is not in the epoch's logs ({', '.join(sorted(logs))}); "
                          f"nothing reported, so nothing is pruned.", stacklevel=2)
            return
        self.trial.report(float(value), epoch + 1)
        if self.trial.should_prune():
            self.pruned_after = epoch + 1
            self.model.stop_training = True


__all__ = ["ReportToTrial"]
