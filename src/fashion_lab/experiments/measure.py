"""Train one model of an experiment into its folder and measure it: the numbers every experiment compares.

Example:
    >>> m = train_one(TrainConfig(hidden=(32,), validation_split=0.1), dataset, folder, "h32")  # doctest: +SKIP
    >>> m["run"], m["params"]  # doctest: +SKIP
    ('runs/h32', 25450)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig


def clear_keras() -> None:
    """Start the next model from a clean graph and name scope (layer names restart at ``hidden_1``)."""
    from .._backend import keras

    keras().utils.clear_session()


def train_one(config: TrainConfig, dataset, folder: Path, name: str, verbose: bool = False) -> dict[str, Any]:
    """Train one model into ``folder/runs/name`` and return its measurements, validation and test apart.

    The first epoch includes compiling the model, so ``first_epoch_seconds`` is kept apart and
    ``seconds_per_epoch`` is the mean of the later epochs (the first, when there is only one).
    """
    from ..training import train, validation_count

    clear_keras()
    run = train(config.replace(run_dir=str(folder / "runs" / name), name=name), dataset=dataset, verbose=verbose)
    # A run read back from disk has its epoch times from history.csv, for a train() that does not return them.
    seconds = run.epoch_seconds
    later = seconds[1:]
    per_epoch = float(np.mean(later)) if later else float(seconds[0])
    fit_images = len(dataset.x_train) - validation_count(len(dataset.x_train), config.validation_split)
    return {
        "run": str(Path("runs") / name),
        "params": run.metrics["params"],
        "epochs_run": run.metrics["epochs_run"],
        "fit_seconds": run.metrics["fit_seconds"],
        "first_epoch_seconds": float(seconds[0]),
        "seconds_per_epoch": per_epoch,
        "samples_per_second": fit_images / per_epoch if per_epoch > 0 else None,
        "train_loss": run.metrics["train_loss"],
        "train_accuracy": run.metrics["train_accuracy"],
        "validation_loss": run.metrics.get("validation_loss"),
        "validation_accuracy": run.metrics.get("validation_accuracy"),
        "test_loss": run.metrics["test_loss"],
        "test_accuracy": run.metrics["test_accuracy"],
        "stopped_early": run.metrics["stopped_early"],
        "history": run.history,
        "epoch_seconds": list(seconds),
        "metrics": run.metrics,
    }


__all__ = ["clear_keras", "train_one"]
