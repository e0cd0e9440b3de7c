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

import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _atomic, _fasteval, _fastfit, runs
from .config import TrainConfig
from .console import sayer
from .datasets import Dataset, open_dataset
from .errors import ConfigError, RunError, TrainingDiverged, TrainingInterrupted
from .preprocess import prepare_images, prepare_labels
from .stopping import StopRequest, stop_on_signals

EVAL_BATCH = 1024  # evaluation has no gradients; big batches keep it fast


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
    n_val = validation_count(len(x), fraction)
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[fit], y[fit]), (x[val], y[val])


def validation_count(n: int, fraction: float) -> int:
    """How many of ``n`` training images :func:`split_validation` holds out for ``fraction`` (at least one).

    Example:
        >>> validation_count(60000, 0.1), validation_count(5, 0.01), validation_count(100, 0.0)
        (6000, 1, 0)
    """
    return max(1, int(round(n * fraction))) if fraction else 0


def _stop_callbacks(config: TrainConfig, verbose: bool = False) -> list:
    from .callbacks import StopAtAccuracy, StopAtLoss

    stops = []
    if config.stop_at_accuracy is not None:
        stops.append(StopAtAccuracy(config.stop_at_accuracy))
    if config.stop_at_loss is not None:
        stops.append(StopAtLoss(config.stop_at_loss))
    if config.keeps_best_epoch:
        from ._backend import keras

        # Without --early-stopping the patience outlasts the run: it only restores the best weights at the end.
        stops.append(keras().callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping or config.epochs,
                                                     restore_best_weights=True, verbose=verbose))
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

    After every finished epoch the model (with its optimizer state) is written to ``model.keras``
    through a temporary file and a rename, and ``history.csv`` is replaced with one more row; so Ctrl-C or
    SIGTERM loses only the current epoch, and :func:`resume` continues the run.

    Args:
        config: the run's configuration. Defaults to ``TrainConfig()`` (the seed's recipe).
        callbacks: extra Keras callbacks (e.g. the seed's own ``myCallback``), run after the built-in ones.
        dataset: an already loaded :class:`Dataset`; defaults to loading ``config.dataset``.
        verbose: print the data source, one line per epoch and the results. Defaults to True.
        overwrite: allow ``config.run_dir`` to be a folder that already holds files. Defaults to False.

    Returns:
        The run: ``run.dir``, ``run.history`` (per-epoch lists), ``run.metrics`` (as in ``metrics.json``),
        ``run.model`` and ``run.paths``.

    Raises:
        TrainingInterrupted: SIGINT/SIGTERM arrived; finished epochs are kept (exit code 130 in the CLI).
        TrainingDiverged: the loss or the weights became NaN or infinite; the run is marked failed.
    """
    config = config or TrainConfig()
    say = sayer(verbose)
    dataset = _dataset_for(config, dataset, say)
    check_resources(config, len(dataset.x_train), len(dataset.x_test), len(dataset.classes), say)
    existed = bool(config.run_dir) and Path(config.run_dir).is_dir()
    run_dir = runs.new_run_dir(config, overwrite=overwrite)
    if overwrite:
        runs.remove_artifacts(run_dir)

    def leave_nothing_half_done() -> None:
        # A run with no finished epoch leaves nothing behind; one with finished epochs keeps them.
        # A folder the user made (--run-dir) is kept: only the files this run wrote are removed.
        if not (run_dir / runs.CHECKPOINT).exists():
            if existed:
                runs.remove_artifacts(run_dir)
            else:
                shutil.rmtree(run_dir, ignore_errors=True)

    def on_stuck() -> str:  # the watchdog ends the process: record what the main thread could not
        leave_nothing_half_done()
        return _record_interrupt(run_dir) if run_dir.is_dir() else "nothing was saved."

    stop = StopRequest()
    with stop_on_signals(stop, on_stuck=on_stuck):
        try:
            from ._backend import keras as _keras
            from .model import build_network, input_statistics

            keras = _keras()
            data = _Prepared(config, dataset)
            keras.utils.set_random_seed(config.seed)
            steps_per_epoch = -(-len(data.x) // config.batch_size)
            # A whole epoch per compiled call when training falls back to model.fit (the fast path ignores it).
            model = build_network(config, num_classes=len(dataset.classes), steps_per_epoch=steps_per_epoch,
                                  standardization=input_statistics(data.x, config.standardize),
                                  steps_per_execution=steps_per_epoch)
            _atomic.write_json(run_dir / runs.CONFIG, _config_record(config, dataset, data, keras, model))
            kind = "CNN, " if config.model == "cnn" else ""
            say(f"run: {run_dir}  model: {kind}{config.hidden} hidden, {model.count_params():,} parameters, "
                f"{len(data.x):,} training images" + (f", {len(data.validation[0]):,} validation" if data.validation else ""))
            session = _Session(run_dir, config, dataset, data, model, say, verbose, stop)
            return _train_and_record(session, callbacks, initial_epoch=0, prior_seconds=0.0)
        except BaseException as e:
            if not isinstance(e, TrainingDiverged):
                leave_nothing_half_done()
            raise


def check_resources(config: TrainConfig, n_train: int, n_test: int, num_classes: int, say=None) -> None:
    """Refuse, before anything is allocated, a run that cannot fit in memory or whose batch is bigger than its
    training set; say roughly how long an epoch of a large network takes.

    Raises:
        ConfigError: the estimate exceeds the memory available, or ``batch_size`` exceeds the training images.
    """
    from .resources import PIXELS, check_fits, dense_sizes, epoch_seconds_estimate, estimate_memory

    layers = dense_sizes(PIXELS, config.hidden, num_classes)
    check_fits(estimate_memory(layers, n_train=n_train, n_test=n_test, batch_size=config.batch_size),
               f"a network with hidden layers {' '.join(str(h) for h in config.hidden)}")
    n_fit = n_train - validation_count(n_train, config.validation_split)
    if config.batch_size > n_fit:
        raise ConfigError(f"batch size {config.batch_size:,} is larger than the {n_fit:,} training images"
                          f"{' left after the validation split' if config.validation_split else ''}, so every epoch "
                          f"would be a single step. Use --batch-size {min(n_fit, 32)} (the seed uses 32) or anything up "
                          f"to {n_fit:,}.")
    seconds = epoch_seconds_estimate(layers, n_fit)
    if say is not None and seconds > 30:
        say(f"note: a network this size takes roughly {_duration(seconds)} per epoch on a 2-core CPU "
            f"({config.epochs} epochs: about {_duration(seconds * config.epochs)}); Ctrl-C stops it and keeps finished epochs.")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def resume(run_dir: str | Path, callbacks: Sequence[Any] = (), *, dataset: Dataset | None = None,
           verbose: bool = True) -> runs.Run:
    """Continue an interrupted run from its last finished epoch, with the optimizer state it had.

    With the same seed, the finished run's history equals that of a run that was never interrupted.

    Example:
        >>> run = resume("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
        resuming after epoch 2 of 5
    """
    run_dir = Path(run_dir)
    previous = runs.load_run(run_dir)
    checkpoint_path = run_dir / runs.CHECKPOINT
    if not checkpoint_path.is_file() or not (run_dir / runs.MODEL).is_file():
        raise RunError(f"{run_dir} has no finished epoch to resume from (no {runs.CHECKPOINT}); start it again with fashion-lab train.")
    checkpoint = runs.read_json(checkpoint_path)
    config = previous.config
    if config.keeps_best_epoch:
        raise RunError(f"run {run_dir} uses --early-stopping/--restore-best, whose memory of the best epoch is not "
                       f"saved between epochs, so it cannot be resumed exactly; start it again with fashion-lab train.")
    if previous.metrics.get("failed"):
        raise RunError(f"run {run_dir} failed ({previous.metrics.get('reason')}); resuming would repeat that. "
                       f"Start a new run with a lower --learning-rate.")
    if previous.metrics and not previous.metrics.get("interrupted"):
        raise RunError(f"run {run_dir} already finished ({checkpoint['epoch']} epochs); there is nothing to resume.")
    say = sayer(verbose)
    dataset = _dataset_for(config, dataset, say)
    stop = StopRequest()
    with stop_on_signals(stop, on_stuck=lambda: _record_interrupt(run_dir)):
        from ._backend import keras as _keras

        keras = _keras()
        data = _Prepared(config, dataset)
        keras.utils.set_random_seed(config.seed)
        model = previous.load_model()  # weights and optimizer state of the last finished epoch
        runs.remove_derived(run_dir)  # an evaluation of the interrupted model no longer describes the run
        _truncate_history(run_dir / runs.HISTORY, checkpoint["epoch"])
        # The shuffling state of Keras's own model.fit (used when the fast path does not apply); the fast path
        # derives each epoch's order from the seed and the epoch number.
        np.random.set_state(_rng_from_json(checkpoint["numpy_rng"]))
        say(f"resuming {run_dir} after epoch {checkpoint['epoch']} of {config.epochs}")
        session = _Session(run_dir, config, dataset, data, model, say, verbose, stop)
        return _train_and_record(session, callbacks, initial_epoch=checkpoint["epoch"],
                                 prior_seconds=checkpoint.get("fit_seconds", 0.0))


class _Prepared:
    """The arrays a run trains and is tested on, after the shared preprocessing and the seeded split."""

    def __init__(self, config: TrainConfig, dataset: Dataset):
        # Labels are the model's targets: one-hot rows when it trains with label smoothing.
        targets = {"num_classes": len(dataset.classes), "one_hot": bool(config.label_smoothing)}
        x_all = prepare_images(dataset.x_train, normalized=config.normalize)
        y_all = prepare_labels(dataset.y_train, **targets)
        (self.x, self.y), self.validation = split_validation(x_all, y_all, config.validation_split, config.seed)
        self.x_test = prepare_images(dataset.x_test, normalized=config.normalize)
        self.y_test = prepare_labels(dataset.y_test, **targets)


def _dataset_for(config: TrainConfig, dataset: Dataset | None, say) -> Dataset:
    if dataset is None:
        dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify)
    say(f"data: {dataset.name} from {dataset.source}" + ("" if dataset.verified else " (not verified)"))
    for note in dataset.notes:
        say(f"note: {note}")
    return dataset


def _config_record(config: TrainConfig, dataset: Dataset, data: _Prepared, keras, model) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "standardization": _standardization_record(config, model),
        "backend": keras.backend.backend(),
        "versions": runs.versions(),
        "dataset": {"name": dataset.name, "source": dataset.source, "verified": dataset.verified,
                    "train": len(data.x), "validation": 0 if data.validation is None else len(data.validation[0]),
                    "test": len(data.x_test)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": runs.command_line(),
    }


def _standardization_record(config: TrainConfig, model) -> dict[str, Any] | None:
    """What the model's first layer subtracts and divides by (computed on the training split only)."""
    if config.standardize == "none":
        return None
    layer = model.get_layer("standardize")
    mean, std = np.asarray(layer.mean, np.float64), np.sqrt(np.asarray(layer.variance, np.float64))
    record: dict[str, Any] = {"kind": config.standardize, "computed_on": "training split",
                              "held_in": "model.keras, layer 'standardize'"}
    if config.standardize == "global":
        record.update(mean=float(mean.ravel()[0]), std=float(std.ravel()[0]))
    else:
        record.update(mean_range=[float(mean.min()), float(mean.max())], std_range=[float(std.min()), float(std.max())])
    return record


def _rng_from_json(data: list):
    kind, keys, pos, has_gauss, cached = data
    return kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows (a row may be newer than the last checkpoint)."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    _atomic.write_text(path, "".join(lines[: epochs + 1]))


@dataclass
class _Session:
    """One run being trained: where it is written, what it trains on, its model, and how it talks."""

    run_dir: Path
    config: TrainConfig
    dataset: Dataset
    data: _Prepared
    model: Any
    say: Callable[..., None]
    verbose: bool
    stop: StopRequest  # set by SIGINT/SIGTERM (see fashion_lab.stopping)


def _train_and_record(session: _Session, user_callbacks: Sequence[Any], *, initial_epoch: int,
                      prior_seconds: float) -> runs.Run:
    """Train the epochs left, then measure and write the results. Each epoch is recorded as it ends
    (:mod:`fashion_lab.recording`); what is written once at the end is here, in order."""
    run_dir, config = session.run_dir, session.config
    recorder, fit_seconds = _fit(session, user_callbacks, initial_epoch=initial_epoch)
    fit_seconds += prior_seconds
    history = runs.read_history(run_dir / runs.HISTORY)  # every epoch, those before a resume included
    epoch_seconds = history.pop("epoch_seconds", [])
    history.pop("samples_per_second", None)
    if recorder.diverged_epoch is not None:
        raise _mark_diverged(session, recorder.diverged_epoch, epochs_run=len(history.get("loss", [])))

    metrics = _final_metrics(session, history, fit_seconds, initial_epoch)
    if config.keeps_best_epoch:  # EarlyStopping restored the best epoch's weights
        runs.save_model(session.model, run_dir)  # the per-epoch checkpoint holds the last epoch's weights, not the best
    _atomic.write_json(run_dir / runs.METRICS, metrics)
    from .plots import plot_curves
    from .report import write_run_report

    plot_curves(history, run_dir / runs.CURVES, title=f"{session.dataset.name}, {'CNN, ' if config.model == 'cnn' else ''}hidden {list(config.hidden)}")
    write_run_report(run_dir)

    epochs_run = metrics["epochs_run"]
    session.say(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
                f"({epochs_run} epoch{'s' if epochs_run != 1 else ''}{', stopped early' if metrics['stopped_early'] else ''}, "
                f"fit {fit_seconds:.1f}s, {metrics['samples_per_second']:,.0f} samples/s)")
    chance = 1 / len(session.dataset.classes)
    if not config.normalize and metrics["test_accuracy"] < 1.5 * chance:
        session.say(f"note: test accuracy {metrics['test_accuracy']:.4f} is chance level ({chance:.2f}): with raw 0-255 "
                    f"pixels the first layer's sums are 255 times larger, the softmax saturates and the gradients cannot "
                    f"move the network off one answer. Drop --no-normalize (pixels / 255), and see "
                    f"`fashion-lab experiment normalization` for the two side by side.")
    session.say(f"results: {run_dir}")
    return runs.Run(dir=run_dir, config=config, history=history, metrics=metrics, model=session.model,
                    epoch_seconds=epoch_seconds)


def _fit(session: _Session, user_callbacks: Sequence[Any], *, initial_epoch: int):
    """Run the epochs from ``initial_epoch``; returns the recorder and the seconds the fit took.

    A stop signal raises :class:`TrainingInterrupted` once the finished epochs' files are on disk.
    """
    from .recording import EpochRecorder

    config, data = session.config, session.data
    recorder = EpochRecorder(session.run_dir, session.stop, samples_per_epoch=len(data.x), resumed=initial_epoch > 0,
                             say=session.say if session.verbose else None)
    # The recorder comes first: an epoch is on disk before any stop rule or user callback sees it.
    callbacks = [recorder, *_stop_callbacks(config, session.verbose), *user_callbacks]
    start = time.perf_counter()
    try:
        # One compiled call per epoch with the data on the device (see _fastfit); falls back to
        # model.fit on other backends or when a callback wants per-batch events.
        _fastfit.fit(session.model, data.x, data.y, epochs=config.epochs, initial_epoch=initial_epoch,
                     batch_size=config.batch_size, seed=config.seed, validation_data=data.validation,
                     validation_batch_size=EVAL_BATCH, callbacks=callbacks)
    except KeyboardInterrupt:
        _finish_writes(recorder)
        raise TrainingInterrupted(_record_interrupt(session.run_dir)) from None
    except BaseException:
        _finish_writes(recorder)
        raise
    recorder.checkpoint.wait()
    return recorder, time.perf_counter() - start


def _finish_writes(recorder) -> None:
    """Wait for the last epoch's files on the way out of a failed fit; a write that failed is said, not raised.

    If that write failed, checkpoint.json still describes the epoch before, whose model.keras is intact.
    """
    try:
        recorder.checkpoint.wait()
    except Exception as e:
        warnings.warn(f"the last epoch's checkpoint could not be written ({type(e).__name__}: {e}); "
                      f"the run keeps the epoch before it.", stacklevel=2)


def _mark_diverged(session: _Session, epoch: int, epochs_run: int) -> TrainingDiverged:
    """Mark the run failed in metrics.json and return the error that tells the user why."""
    config = session.config
    _atomic.write_json(session.run_dir / runs.METRICS, {
        "failed": True, "reason": f"loss or weights became NaN/infinite in epoch {epoch}",
        "epochs_run": epochs_run, "diverged_epoch": epoch})
    return TrainingDiverged(
        f"training diverged: the loss or the weights became NaN or infinite in epoch {epoch} "
        f"(learning rate {config.learning_rate:g}{', pixels not normalized' if not config.normalize else ''}). "
        f"This usually means the learning rate is too high: try --learning-rate 0.001 (the default)"
        f"{' and drop --no-normalize' if not config.normalize else ''}. The run in {session.run_dir} is marked failed "
        f"(metrics.json: failed: true); its model.keras, if any, is from the last finite epoch."
    )


def _final_metrics(session: _Session, history: dict[str, list[float]], fit_seconds: float,
                   initial_epoch: int) -> dict[str, Any]:
    """metrics.json: the test and training sets evaluated once, with the fit's figures."""
    config, data, model = session.config, session.data, session.model
    epochs_run = len(history.get("loss", []))
    test = _fasteval.evaluate(model, data.x_test, data.y_test, batch_size=EVAL_BATCH)
    on_train = _fasteval.evaluate(model, data.x, data.y, batch_size=EVAL_BATCH)
    metrics = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "train_accuracy": on_train["accuracy"],
        "train_loss": on_train["loss"],
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < config.epochs,
        "fit_seconds": round(fit_seconds, 4),
        "samples_per_second": round(len(data.x) * epochs_run / fit_seconds, 1),
        "params": int(model.count_params()),
        "interrupted": False,
    }
    if data.validation is not None and "val_accuracy" in history:
        metrics["validation_accuracy"] = history["val_accuracy"][-1]
        metrics["validation_loss"] = history["val_loss"][-1]
    if initial_epoch:
        metrics["resumed_from_epoch"] = initial_epoch
    if "val_loss" in history:
        metrics["best_epoch"] = int(np.argmin(history["val_loss"])) + 1  # the epoch with the lowest validation loss
    if config.keeps_best_epoch:
        best = metrics["best_epoch"] - 1
        metrics.update(restored_best=True, validation_accuracy=history["val_accuracy"][best],
                       validation_loss=history["val_loss"][best])
    return metrics


def _record_interrupt(run_dir: Path) -> str:
    """Mark an interrupted run in metrics.json, keep its finished epochs, and return the message for the user."""
    checkpoint = run_dir / runs.CHECKPOINT
    if not checkpoint.exists():  # nothing finished: train() removes the directory
        return "training interrupted before the first epoch finished; nothing was saved."
    done = runs.read_json(checkpoint)["epoch"]
    _truncate_history(run_dir / runs.HISTORY, done)
    _atomic.write_json(run_dir / runs.METRICS, {"interrupted": True, "epochs_run": done,
                                                 "resume": f"fashion-lab train --resume {run_dir}"})
    return (f"training interrupted; the {done} finished epoch{'s are' if done != 1 else ' is'} saved in {run_dir} "
            f"(history.csv, model.keras). Continue with: fashion-lab train --resume {run_dir}")
