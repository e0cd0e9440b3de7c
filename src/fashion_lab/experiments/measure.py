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


def check_configs(configs: list[TrainConfig], dataset, say=None) -> None:
    """Refuse, before the first one trains, any of ``configs`` that :func:`~fashion_lab.training.train` would refuse
    on ``dataset``: too big for the memory, or a batch larger than the training images. ``say`` (when given) prints
    the rough time per epoch of large networks.

    Raises:
        ConfigError: the same message ``fashion-lab train`` gives for that configuration.
    """
    from ..training import check_resources

    for config in configs:
        check_resources(config, len(dataset.x_train), len(dataset.x_test), len(dataset.classes), say)


def train_one(config: TrainConfig, dataset, folder: Path, name: str, verbose: bool = False) -> dict[str, Any]:
    """Train one model into ``folder/runs/name`` and return its measurements, validation and test apart.

    The first epoch includes compiling the model, so ``first_epoch_seconds`` is kept apart and
    ``seconds_per_epoch`` is the mean of the later epochs: None (and ``samples_per_second`` too) when the run had
    only one epoch, which leaves no later epoch to time.
    """
    return train_many([config], dataset, folder, [name], verbose=verbose)[0]


def train_many(configs: list[TrainConfig], dataset, folder: Path, names: list[str], verbose: bool = False, *,
               together: bool = True) -> list[dict[str, Any]]:
    """Train models into ``folder/runs/<name>`` and measure each as :func:`train_one` does.

    With ``together`` (and more than one config), models of one shape that differ in seed or learning
    rate go to :func:`fashion_lab.train_together`, which trains them as one compiled program where that
    pays (small networks), with the same weights and histories as one after another. The time figures of
    models trained so are per model: the joint program's divided by the number of models trained
    together (``trained_together`` in each result, 1 for a model trained alone).
    """
    from ..training import train, train_together

    configs = [config.replace(run_dir=str(folder / "runs" / name), name=name) for config, name in zip(configs, names)]
    together = together and len(configs) > 1
    # One clean Keras state per model (it runs a garbage collection: about 0.35 s with a trained model's heap).
    if together:
        clear_keras()
        trained = train_together(configs, dataset=dataset, verbose=verbose)
    else:
        trained = []
        for config in configs:
            clear_keras()
            trained.append(train(config, dataset=dataset, verbose=verbose))
    return [_measurements(run, config, dataset, run.metrics.get("trained_together", 1))
            for run, config in zip(trained, configs)]


def _measurements(run, config: TrainConfig, dataset, share: int) -> dict[str, Any]:
    """A trained run's numbers; its times divided by ``share``, the models that trained together with it."""
    from ..training import validation_count

    seconds = [s / share for s in run.epoch_seconds]
    later = seconds[1:]
    per_epoch = float(np.mean(later)) if later else None
    fit_images = len(dataset.x_train) - validation_count(len(dataset.x_train), config.validation_split)
    return {
        "run": str(Path("runs") / config.name),
        "params": run.metrics["params"],
        "epochs_run": run.metrics["epochs_run"],
        "fit_seconds": run.metrics["fit_seconds"] / share,
        "first_epoch_seconds": float(seconds[0]),
        "seconds_per_epoch": per_epoch,
        "samples_per_second": fit_images / per_epoch if per_epoch else None,
        "train_loss": run.metrics["train_loss"],
        "train_accuracy": run.metrics["train_accuracy"],
        "validation_loss": run.metrics.get("validation_loss"),
        "validation_accuracy": run.metrics.get("validation_accuracy"),
        "test_loss": run.metrics["test_loss"],
        "test_accuracy": run.metrics["test_accuracy"],
        "stopped_early": run.metrics["stopped_early"],
        "trained_together": share,
        "history": run.history,
        "epoch_seconds": list(seconds),
        "metrics": run.metrics,
    }


__all__ = ["check_configs", "clear_keras", "train_many", "train_one"]
