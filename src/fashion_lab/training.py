"""Train the seed's network from a :class:`TrainConfig` and record the run.

Example (as the CLI runs it):
    >>> from fashion_lab import TrainConfig, train
    >>> run = train(TrainConfig(epochs=5))  # doctest: +SKIP
    epoch 1/5: loss 0.4970, accuracy 0.8235, 1.02s (58,823 samples/s)
    ...
    >>> run.metrics["test_accuracy"]  # doctest: +SKIP
    0.8653
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import _atomic, runs
from .config import TrainConfig
from .datasets import Dataset, open_dataset
from .preprocess import prepare_images

EVAL_BATCH = 1024  # evaluation has no gradients; big batches keep it fast


def versions() -> dict[str, str]:
    """Versions of Python and the packages a run depends on, for config.json."""
    out = {"python": platform.python_version()}
    for dist in ("fashion-lab", "keras", "jax", "jaxlib", "numpy", "matplotlib", "pillow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Hold out a seeded random ``fraction`` of ``(x, y)``: returns ``(x_fit, y_fit), (x_val, y_val)``.

    Example:
        >>> import numpy as np
        >>> (a, b), (c, d) = split_validation(np.arange(10), np.arange(10), 0.2, seed=0)
        >>> len(a), len(c)
        (8, 2)
    """
    if not fraction:
        return (x, y), None
    n_val = max(1, int(round(len(x) * fraction)))
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[fit], y[fit]), (x[val], y[val])


def _stop_callbacks(config: TrainConfig) -> list:
    from .callbacks import StopAtAccuracy, StopAtLoss

    stops = []
    if config.stop_at_accuracy is not None:
        stops.append(StopAtAccuracy(config.stop_at_accuracy))
    if config.stop_at_loss is not None:
        stops.append(StopAtLoss(config.stop_at_loss))
    return stops


def train(
    config: TrainConfig | None = None,
    callbacks: Sequence[Any] = (),
    *,
    dataset: Dataset | None = None,
    verbose: bool = True,
    overwrite: bool = False,
) -> runs.Run:
    """Train a network as ``config`` says, write its run directory, and return the :class:`~fashion_lab.runs.Run`.

    Args:
        config: the run's configuration. Defaults to ``TrainConfig()`` (the seed's recipe).
        callbacks: extra Keras callbacks (e.g. the seed's own ``myCallback``), run after the built-in ones.
        dataset: an already loaded :class:`Dataset`; defaults to loading ``config.dataset``.
        verbose: print the data source, one line per epoch and the results. Defaults to True.
        overwrite: allow ``config.run_dir`` to be a folder that already holds files. Defaults to False.

    Returns:
        The run: ``run.dir``, ``run.history`` (per-epoch lists), ``run.metrics`` (as in ``metrics.json``),
        ``run.model`` and ``run.paths``.
    """
    config = config or TrainConfig()
    say = print if verbose else (lambda *a, **k: None)
    if dataset is None:
        dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify)
    say(f"data: {dataset.name} from {dataset.source}" + ("" if dataset.verified else " (not verified)"))
    for note in dataset.notes:
        say(f"note: {note}")

    run_dir = runs.new_run_dir(config, overwrite=overwrite)
    try:
        return _train_into(run_dir, config, dataset, callbacks, say, verbose)
    except BaseException:
        # A run that produced no finished epoch leaves nothing behind; a run with epochs keeps its history.
        if not (run_dir / runs.HISTORY).exists() or (run_dir / runs.HISTORY).stat().st_size == 0:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train_into(run_dir: Path, config: TrainConfig, dataset: Dataset, user_callbacks, say, verbose) -> runs.Run:
    from ._backend import keras as _keras
    from .callbacks import EpochPrinter, MetricsLog
    from .model import build_model

    keras = _keras()
    x_all = prepare_images(dataset.x_train, normalized=config.normalize)
    y_all = dataset.y_train.astype(np.int32)
    (x, y), validation = split_validation(x_all, y_all, config.validation_split, config.seed)
    x_test = prepare_images(dataset.x_test, normalized=config.normalize)
    y_test = dataset.y_test.astype(np.int32)

    steps = -(-len(x) // config.batch_size)
    spe = config.steps_per_execution or steps
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.hidden, num_classes=len(dataset.classes), learning_rate=config.learning_rate,
                        steps_per_execution=min(spe, steps))
    _atomic.write_json(run_dir / runs.CONFIG, {
        "config": config.to_dict(),
        "backend": keras.backend.backend(),
        "versions": versions(),
        "dataset": {"name": dataset.name, "source": dataset.source, "verified": dataset.verified,
                    "train": len(x), "validation": 0 if validation is None else len(validation[0]), "test": len(x_test)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv if sys.argv and sys.argv[0].endswith("fashion-lab") else None,
    })
    say(f"run: {run_dir}  model: {config.hidden} hidden, {model.count_params():,} parameters, "
        f"{len(x):,} training images" + (f", {len(validation[0]):,} validation" if validation else ""))

    stops = _stop_callbacks(config)
    callbacks = [MetricsLog(run_dir / runs.HISTORY, samples_per_epoch=len(x))]
    if verbose:
        callbacks.append(EpochPrinter(samples_per_epoch=len(x)))
    callbacks += stops + list(user_callbacks)

    start = time.perf_counter()
    history = model.fit(x, y, epochs=config.epochs, batch_size=config.batch_size, validation_data=validation,
                        callbacks=callbacks, verbose=0, shuffle=True)
    fit_seconds = time.perf_counter() - start
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    epochs_run = len(hist.get("loss", []))

    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=EVAL_BATCH, verbose=0)
    train_loss, train_accuracy = model.evaluate(x, y, batch_size=EVAL_BATCH, verbose=0)
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "train_accuracy": float(train_accuracy),
        "train_loss": float(train_loss),
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < config.epochs,
        "fit_seconds": round(fit_seconds, 4),
        "samples_per_second": round(len(x) * epochs_run / fit_seconds, 1),
        "params": int(model.count_params()),
    }
    if validation is not None and "val_accuracy" in hist:
        metrics["validation_accuracy"] = hist["val_accuracy"][-1]
        metrics["validation_loss"] = hist["val_loss"][-1]

    with _atomic.atomic_path(run_dir / runs.MODEL) as tmp:  # tmp ends in .keras, as model.save requires
        model.save(tmp)
    _atomic.write_json(run_dir / runs.METRICS, metrics)
    from .plots import plot_curves

    plot_curves(hist, run_dir / runs.CURVES, title=f"{dataset.name}, hidden {list(config.hidden)}")

    say(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
        f"({epochs_run} epoch{'s' if epochs_run != 1 else ''}{', stopped early' if metrics['stopped_early'] else ''}, "
        f"fit {fit_seconds:.1f}s, {metrics['samples_per_second']:,.0f} samples/s)")
    say(f"results: {run_dir}")
    return runs.Run(dir=run_dir, config=config, history=hist, metrics=metrics, model=model)
