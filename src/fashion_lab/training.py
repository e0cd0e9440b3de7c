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

import dataclasses
import os
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
from .preprocess import PixelImages, prepare_images, prepare_labels
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
    fit, val = validation_indices(len(x), fraction, seed)
    if fit is None:
        return (x, y), None
    return (x[fit], y[fit]), (x[val], y[val])


def validation_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The indices :func:`split_validation` keeps for fitting and holds out: ``(fit, val)``, each sorted;
    ``(None, None)`` when ``fraction`` is 0 (every image is fitted).

    Example:
        >>> fit, val = validation_indices(10, 0.2, seed=0)
        >>> len(fit), len(val), sorted([*fit, *val]) == list(range(10))
        (8, 2, True)
    """
    if not fraction:
        return None, None
    n_val = validation_count(n, fraction)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


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
    test: bool = True,
) -> runs.Run:
    """Train a network as ``config`` says, write its run directory, and return the :class:`~fashion_lab.runs.Run`.

    After every finished epoch the model (with its optimizer state) is written to ``model.keras``
    through a temporary file and a rename, and ``history.csv`` is replaced with one more row; so Ctrl-C or
    SIGTERM loses only the current epoch, and :func:`resume` continues the run.

    Args:
        config: the run's configuration. Defaults to ``TrainConfig()`` (the seed's recipe).
        callbacks: extra Keras callbacks (e.g. the seed's own ``myCallback``), run after the built-in ones.
        dataset: an already loaded :class:`Dataset`; defaults to loading ``config.dataset``.
        verbose: print the data source (when ``dataset`` is not given), one line per epoch and the results.
            Defaults to True.
        overwrite: allow ``config.run_dir`` to be a folder that already holds files. Defaults to False.
        test: evaluate the test set at the end. False holds it out: ``metrics.json`` then has no test numbers
            and says ``"test_held_out": true`` (a sweep's trials; only the chosen one is tested). Defaults to True.

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
    ((_, outcome),) = _train_group([config], [callbacks], dataset, _images_for(dataset, config), say=say,
                                   verbose=verbose, overwrite=overwrite, test=test)
    if isinstance(outcome, TrainingDiverged):
        raise outcome
    return outcome


def together_groups(configs: Sequence[TrainConfig]) -> list[list[int]]:
    """Which of ``configs`` :func:`train_together` trains as one program: lists of positions, in order.

    Configs go together when they agree on everything that shapes the compiled program or the data it
    reads: dataset (and its folder and check), normalisation, validation split, hidden sizes, epochs and
    batch size. They may differ in seed, learning rate, stop rules (targets, early stopping, restoring
    the best epoch) and where and under what name the run is written.

    Example:
        >>> together_groups([TrainConfig(seed=0), TrainConfig(seed=1, learning_rate=0.01),
        ...                  TrainConfig(hidden=(64,))])
        [[0, 1], [2]]
    """
    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(tuple(getattr(config, name) for name in _PROGRAM_FIELDS), []).append(i)
    return list(groups.values())


def stacking_pays() -> bool:
    """Whether :func:`train_together` stacks runs by default: not on a CPU.

    Measured on the 2-core CPU (``benchmarks/bench.py --only together``, README's Performance section):
    4 and 8 seeds of the seed's network stacked trained at 0.88x and 0.93x the models per minute of one
    after another (XLA already spreads each model's arithmetic over the cores, and a stack adds batched
    products), so on a CPU the runs train one after another unless ``stack=True``. On an accelerator,
    where one small model leaves most of the device idle, they are stacked.
    """
    import jax

    return jax.default_backend() != "cpu"


# The TrainConfig fields that models trained as one program share (see together_groups).
_PROGRAM_FIELDS = ("dataset", "data_dir", "verify", "normalize", "validation_split", "hidden", "epochs", "batch_size",
                   "model", "dropout", "standardize", "weight_decay", "label_smoothing", "lr_schedule", "warmup_epochs")


def train_together(
    configs: Sequence[TrainConfig],
    callbacks: Sequence[Sequence[Any]] | None = None,
    *,
    dataset: Dataset | None = None,
    verbose: bool = True,
    overwrite: bool = False,
    raise_diverged: bool = True,
    stack: bool | None = None,
) -> list[runs.Run]:
    """Train several runs as one compiled program where they share one, each recorded exactly as :func:`train` would.

    Runs of one architecture that differ in seed or learning rate (an experiment's repeats, a sweep's
    batch of trials) train side by side: every epoch is one compiled call over their stacked states
    (``jax.vmap`` of the per-epoch loop :func:`train` runs), each run with its own initial weights,
    shuffling order, validation split and learning rate. The images are prepared and put on the device
    once, whatever the number of runs. Each run writes its normal run directory (config, history,
    checkpoint after every epoch, model, metrics, curves, report); ``metrics.json`` adds
    ``trained_together`` (how many ran side by side), and its ``fit_seconds`` is the joint fit's.
    By default runs are stacked only where that pays (:func:`stacking_pays`: on an accelerator; on a CPU a
    stack measured slower than one after another, so there they train one after another, with the same
    results, unless ``stack=True``).
    A run that stops (a target, early stopping, divergence) leaves the others training; its history ends
    where it would alone. The weights and histories equal those of the same runs trained one by one
    (``tests/test_together.py``).

    Configs that differ in what shapes the program (hidden sizes, batch size, epochs...) are trained in
    groups (:func:`together_groups`), and a group whose models cannot share a program (a callback with
    per-batch events, another backend) one run after another; both are said when ``verbose``.

    Args:
        configs: one :class:`TrainConfig` per run. Runs with ``run_dir`` set need different folders.
        callbacks: one list of extra Keras callbacks per run (a callback instance belongs to one run).
            A callback ends its own run with ``self.model.stop_training = True`` (a sweep pruning a trial
            after an epoch, say); an exception it raises ends every run of the group. Defaults to none.
        dataset: an already loaded :class:`Dataset` for every run; defaults to loading each config's.
        verbose: print the data source, each run's epochs (prefixed ``[run i/K]``) and results.
        overwrite: allow a ``run_dir`` that already holds files. Defaults to False.
        raise_diverged: raise :class:`TrainingDiverged` (the first run's, after every run is written)
            when a run's loss or weights became NaN or infinite. False returns that run too, marked as
            :func:`train` marks it (``run.metrics["failed"]``). Defaults to True.
        stack: True trains every group as one program; False trains every run one after another (the
            same results); None (the default) stacks where that pays (:func:`stacking_pays`: not on a CPU).

    Returns:
        One :class:`~fashion_lab.runs.Run` per config, in order.

    Raises:
        ConfigError: no configs, or two with the same ``run_dir``.
        TrainingInterrupted: SIGINT/SIGTERM arrived; every run keeps its finished epochs.
        TrainingDiverged: a run diverged and ``raise_diverged`` is set.

    Example:
        >>> base = TrainConfig(epochs=5)
        >>> runs = train_together([base.replace(seed=s) for s in range(4)])  # doctest: +SKIP
        >>> [round(r.metrics["test_accuracy"], 3) for r in runs]  # doctest: +SKIP
        [0.872, 0.869, 0.874, 0.871]
    """
    configs = list(configs)
    callbacks = [list(c) for c in callbacks] if callbacks is not None else [[] for _ in configs]
    _check_together(configs, callbacks)
    say = sayer(verbose)
    groups = together_groups(configs)
    if len(groups) > 1:
        differ = [name for name in _PROGRAM_FIELDS if len({getattr(c, name) for c in configs}) > 1]
        say(f"{len(configs)} runs differ in {', '.join(differ)}: trained as {len(groups)} groups, each as one program")
    outcomes: list[Any] = [None] * len(configs)
    loaded: dict[tuple, Dataset] = {}
    prepared: dict[tuple, _Images] = {}
    for group in groups:
        first = configs[group[0]]
        source = (first.dataset, first.data_dir, first.verify)
        if source not in loaded:
            loaded[source] = _dataset_for(first, dataset, say)
        check_resources(first, len(loaded[source].x_train), len(loaded[source].x_test), len(loaded[source].classes),
                        say, models=len(group))
        key = (source, first.normalize, bool(first.label_smoothing))  # what the shared images and targets depend on
        if key not in prepared:
            prepared[key] = _images_for(loaded[source], first)
        images = prepared[key]
        stacked = stack if stack is not None else stacking_pays()
        if len(group) > 1 and not stacked:
            say(f"note: {len(group)} runs of hidden {list(first.hidden)} train one after another"
                + (": on a CPU a stack of them trains slower (measured), stack=True forces it" if stack is None else ""))
        for part in ([group] if stacked else [[i] for i in group]):
            results = _train_group([configs[i] for i in part], [callbacks[i] for i in part], loaded[source], images,
                                   say=say, verbose=verbose, overwrite=overwrite)
            for i, result in zip(part, results):
                outcomes[i] = result
    diverged = [error for _, error in outcomes if isinstance(error, TrainingDiverged)]
    if diverged and raise_diverged:
        if len(configs) == 1:
            raise diverged[0]
        raise TrainingDiverged(f"{len(diverged)} of {len(configs)} runs diverged (the others finished and are written); "
                               f"the first: {diverged[0]}") from diverged[0]
    return [runs.load_run(run_dir) if isinstance(outcome, TrainingDiverged) else outcome
            for run_dir, outcome in outcomes]


def _check_together(configs: list, callbacks: list) -> None:
    if not configs:
        raise ConfigError("train_together needs at least one TrainConfig; got none.")
    for config in configs:
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"train_together takes TrainConfig objects, got {type(config).__name__}: {config!r}.")
    if len(callbacks) != len(configs):
        raise ConfigError(f"train_together takes one list of callbacks per config: {len(configs)} configs, "
                          f"{len(callbacks)} lists.")
    given = [str(Path(c.run_dir).resolve()) for c in configs if c.run_dir]
    twice = sorted({d for d in given if given.count(d) > 1})
    if twice:
        raise ConfigError(f"two runs of train_together would share the run directory {twice[0]}; give each its own "
                          f"run_dir, or none (each then gets a new folder under runs_root).")


def _train_group(configs: list[TrainConfig], callbacks: list, dataset: Dataset, images: "_Images", *, say,
                 verbose: bool, overwrite: bool, test: bool = True) -> list[tuple[Path, Any]]:
    """Write, train and record runs of one program (:func:`together_groups`) together; one alone as :func:`train`.

    Returns ``(run_dir, Run or TrainingDiverged)`` per config. A run with no finished epoch leaves nothing
    behind on any other error; one with finished epochs keeps them, and a folder the user made (``run_dir``)
    is kept: only the files the run wrote are removed.
    """
    from ._backend import keras as _keras
    from .model import build_network, input_statistics

    made: list[tuple[Path, bool]] = []

    def leave_nothing_half_done() -> None:
        # A run with no finished epoch leaves nothing behind; one with finished epochs keeps them.
        # A folder the user made (--run-dir) is kept: only the files this run wrote are removed.
        for run_dir, existed in made:
            if not (run_dir / runs.CHECKPOINT).exists():
                if existed:
                    runs.remove_artifacts(run_dir)
                else:
                    shutil.rmtree(run_dir, ignore_errors=True)

    def on_stuck() -> str:  # the watchdog ends the process: record what the main thread could not
        leave_nothing_half_done()
        return "\n".join(_record_interrupt(run_dir) for run_dir, _ in made if run_dir.is_dir()) or "nothing was saved."

    stop = StopRequest()
    with stop_on_signals(stop, on_stuck=on_stuck):
        try:
            keras = _keras()
            sessions = []
            for i, config in enumerate(configs):
                existed = bool(config.run_dir) and Path(config.run_dir).is_dir()
                run_dir = runs.new_run_dir(config, overwrite=overwrite)
                made.append((run_dir, existed))
                if overwrite:
                    runs.remove_artifacts(run_dir)
                data = _Prepared(config, images)
                keras.utils.set_random_seed(config.seed)
                steps_per_epoch = -(-data.n_fit // config.batch_size)
                # A whole epoch per compiled call when training falls back to model.fit (the fast path ignores it).
                model = build_network(config, num_classes=len(dataset.classes), steps_per_epoch=steps_per_epoch,
                                      standardization=input_statistics(data.training_set()[0], config.standardize)
                                      if config.standardize != "none" else None,
                                      steps_per_execution=steps_per_epoch)
                _atomic.write_json(run_dir / runs.CONFIG, _config_record(config, dataset, data, keras, model, test=test))
                run_say = say if len(configs) == 1 else _prefixed(say, f"[run {i + 1}/{len(configs)}]")
                kind = "CNN, " if config.model == "cnn" else ""
                run_say(f"run: {run_dir}  model: {kind}{config.hidden} hidden, {model.count_params():,} parameters, "
                        + (f"preset {config.preset}, " if config.preset else "")
                        + f"{data.n_fit:,} training images" + (f", {data.n_validation:,} validation" if data.n_validation else "")
                        + ("" if len(configs) == 1 else f"  (seed {config.seed}, learning rate {config.learning_rate:g})"))
                sessions.append(_Session(run_dir, config, dataset, data, model, run_say, verbose, stop, test=test))
            recorders, fit_seconds = _fit(sessions, callbacks, initial_epoch=0)
            outcomes = []
            for session, recorder in zip(sessions, recorders):
                try:
                    outcomes.append((session.run_dir, _record(session, recorder, fit_seconds, initial_epoch=0,
                                                              together=len(sessions))))
                except TrainingDiverged as e:  # marked failed on disk; the other runs are still recorded
                    outcomes.append((session.run_dir, e))
            return outcomes
        except BaseException:
            leave_nothing_half_done()
            raise


def _prefixed(say, prefix: str):
    return lambda text, *a, **k: say(f"{prefix} {text}", *a, **k)


def check_resources(config: TrainConfig, n_train: int, n_test: int, num_classes: int, say=None, *,
                    models: int = 1) -> None:
    """Refuse, before anything is allocated, a run that cannot fit in memory or whose batch is bigger than its
    training set; say roughly how long an epoch of a large network takes. ``models``: that many networks of
    ``config``'s shape trained together on one copy of the images (:func:`train_together`).

    Raises:
        ConfigError: the estimate exceeds the memory available, or ``batch_size`` exceeds the training images.
    """
    from .resources import PIXELS, check_fits, cnn_cost, dense_sizes, epoch_seconds_estimate, estimate_memory

    if config.model == "cnn":
        from .model import CNN_FILTERS

        layers, units, macs = cnn_cost(config.hidden, num_classes, filters=CNN_FILTERS)
    else:
        layers, units, macs = dense_sizes(PIXELS, config.hidden, num_classes), None, None
    need = estimate_memory(layers, n_train=n_train, n_test=n_test, batch_size=config.batch_size, units_per_image=units)
    if models > 1:  # the images are shared; weights, optimizer state, checkpoints and activations are per model
        need = dataclasses.replace(need, params=need.params * models, model_state=need.model_state * models,
                                   activations=need.activations * models)
    shape = (f"{'CNN' if config.model == 'cnn' else 'network'}{'s' if models > 1 else ''} with hidden layers "
             f"{' '.join(str(h) for h in config.hidden)}")
    check_fits(need, f"{models} {shape} trained together" if models > 1 else f"a {shape}")
    n_fit = n_train - validation_count(n_train, config.validation_split)
    if config.batch_size > n_fit:
        raise ConfigError(f"batch size {config.batch_size:,} is larger than the {n_fit:,} training images"
                          f"{' left after the validation split' if config.validation_split else ''}, so every epoch "
                          f"would be a single step. Use --batch-size {min(n_fit, 32)} (the seed uses 32) or anything up "
                          f"to {n_fit:,}.")
    seconds = epoch_seconds_estimate(layers, n_fit, macs_per_image=macs) * models
    if say is not None and seconds > 30:
        say(f"note: {f'{models} networks' if models > 1 else 'a network'} this size take{'' if models > 1 else 's'} roughly {_duration(seconds)} per epoch on a 2-core CPU "
            f"({config.epochs} epoch{'s' if config.epochs != 1 else ''}: about {_duration(seconds * config.epochs)}); "
            f"Ctrl-C stops it and keeps finished epochs.")


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
    A run that held its test set out (``train(..., test=False)``) still holds it out.

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
        data = _Prepared(config, _images_for(dataset, config))
        keras.utils.set_random_seed(config.seed)
        model = previous.load_model()  # weights and optimizer state of the last finished epoch
        runs.remove_derived(run_dir)  # an evaluation of the interrupted model no longer describes the run
        _truncate_history(run_dir / runs.HISTORY, checkpoint["epoch"])
        # The shuffling state of Keras's own model.fit (used when the fast path does not apply); the fast path
        # derives each epoch's order from the seed and the epoch number.
        np.random.set_state(_rng_from_json(checkpoint["numpy_rng"]))
        say(f"resuming {run_dir} after epoch {checkpoint['epoch']} of {config.epochs}")
        session = _Session(run_dir, config, dataset, data, model, say, verbose, stop,
                           test=not previous.info.get("test_held_out", False))
        return _train_and_record(session, callbacks, initial_epoch=checkpoint["epoch"],
                                 prior_seconds=checkpoint.get("fit_seconds", 0.0))


class _Images:
    """A dataset's images after the shared preprocessing, made once for every run that trains on them."""

    def __init__(self, dataset: Dataset, config: TrainConfig):
        # On JAX the images stay uint8 (the training images 47 MB, not 188 MB as float32) and read as float32
        # through a table, inside the compiled epoch and evaluation too: the same bits (see preprocess.PixelImages).
        as_pixels = os.environ.get("KERAS_BACKEND", "jax") == "jax" and dataset.x_train.dtype == np.uint8
        self.x = (PixelImages if as_pixels else prepare_images)(dataset.x_train, normalized=config.normalize)
        # Labels are the model's targets: one-hot rows when it trains with label smoothing.
        targets = {"num_classes": len(dataset.classes), "one_hot": bool(config.label_smoothing)}
        self.y = prepare_labels(dataset.y_train, **targets)
        self.x_test = (PixelImages if as_pixels else prepare_images)(dataset.x_test, normalized=config.normalize)
        self.y_test = prepare_labels(dataset.y_test, **targets)


_LAST_IMAGES: list = []  # [(weak reference to the dataset, normalize, one-hot, its _Images)]: at most one entry


def _images_for(dataset: Dataset, config: TrainConfig) -> _Images:
    """The prepared images of ``dataset`` for ``config``, made once for consecutive runs on the same loaded dataset
    (an experiment's models, a notebook's runs): one float32 copy of the training images, not one per run."""
    import weakref

    key = (config.normalize, bool(config.label_smoothing))
    if _LAST_IMAGES:
        ref, cached_key, images = _LAST_IMAGES[0]
        if ref() is dataset and cached_key == key:
            return images
    _LAST_IMAGES.clear()  # the previous dataset's copy is released before the next one is made
    images = _Images(dataset, config)
    _LAST_IMAGES.append((weakref.ref(dataset), key, images))
    return images


class _Prepared:
    """What one run trains and is tested on: the shared images, and its seeded split of them as indices.

    ``validation`` is ``(x, y, index)`` (what the evaluation takes) or None. Training reads the fitted images
    through ``fit_index``; :meth:`training_set` copies them out only for the standardization's statistics.
    """

    def __init__(self, config: TrainConfig, images: _Images):
        self.images = images
        self.fit_index, self.val_index = validation_indices(len(images.y), config.validation_split, config.seed)
        self.n_fit = len(images.y) if self.fit_index is None else len(self.fit_index)
        self.n_validation = 0 if self.val_index is None else len(self.val_index)
        self.validation = None if self.val_index is None else (images.x, images.y, self.val_index)
        self.x_test, self.y_test = images.x_test, images.y_test

    def training_set(self) -> tuple[np.ndarray, np.ndarray]:
        if self.fit_index is None:
            return self.images.x, self.images.y
        x = self.images.x
        x = x.select(self.fit_index) if isinstance(x, PixelImages) else x[self.fit_index]  # uint8 stays uint8
        return x, self.images.y[self.fit_index]


def _dataset_for(config: TrainConfig, dataset: Dataset | None, say) -> Dataset:
    """``dataset`` when given (whoever loaded it says where it came from, once), else ``config.dataset``, loaded
    here and described."""
    if dataset is None:
        dataset = _open_while_importing(config)
        for line in dataset.describe():
            say(line)
    return dataset


def _open_while_importing(config: TrainConfig) -> Dataset:
    """``config``'s dataset, opened on a thread while this one imports Keras and JAX, which the run needs next.

    Reading the files, decompressing them and checking their SHA-256 release the GIL; the imports hold it.
    So the two overlap: a first run (which decompresses the gzip files) saves about 0.4 s, and the import
    (1.6 s) is no longer followed by the load. The dataset's errors are raised as if it were opened here.
    """
    import threading

    from ._backend import keras

    result: dict[str, Any] = {}

    def load() -> None:
        try:
            result["dataset"] = open_dataset(config.dataset, config.data_dir, verify=config.verify)
        except BaseException as e:  # raised below, on the caller's thread
            result["error"] = e

    thread = threading.Thread(target=load, name="fashion-lab-open-dataset", daemon=True)
    thread.start()
    try:
        keras()
    finally:
        thread.join()
    if "error" in result:
        raise result["error"]
    return result["dataset"]


def _config_record(config: TrainConfig, dataset: Dataset, data: _Prepared, keras, model, *,
                   test: bool) -> dict[str, Any]:
    record = {
        "config": config.to_dict(),
        "standardization": _standardization_record(config, model),
        "backend": keras.backend.backend(),
        "versions": runs.versions(),
        "dataset": {"name": dataset.name, "source": dataset.source, "verified": dataset.verified,
                    "train": data.n_fit, "validation": data.n_validation,
                    "test": len(data.x_test)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": runs.command_line(),
    }
    if not test:
        record["test_held_out"] = True  # resume keeps it out too
    return record


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
    test: bool = True  # evaluate the test set at the end (False: held out, e.g. a sweep's trial)


def _train_and_record(session: _Session, user_callbacks: Sequence[Any], *, initial_epoch: int,
                      prior_seconds: float) -> runs.Run:
    """Train the epochs left, then measure and write the results (:func:`_record`)."""
    (recorder,), fit_seconds = _fit([session], [user_callbacks], initial_epoch=initial_epoch)
    return _record(session, recorder, fit_seconds + prior_seconds, initial_epoch=initial_epoch)


def _record(session: _Session, recorder, fit_seconds: float, *, initial_epoch: int, together: int = 1) -> runs.Run:
    """Measure and write a trained run's results. Each epoch was recorded as it ended
    (:mod:`fashion_lab.recording`); what is written once at the end is here, in order."""
    run_dir, config = session.run_dir, session.config
    history = runs.read_history(run_dir / runs.HISTORY)  # every epoch, those before a resume included
    epoch_seconds = history.pop("epoch_seconds", [])
    history.pop("samples_per_second", None)
    if recorder.diverged_epoch is not None:
        if recorder.events is not None:
            recorder.events.close()
        raise _mark_diverged(session, recorder.diverged_epoch, epochs_run=len(history.get("loss", [])))

    metrics = _final_metrics(session, history, fit_seconds, initial_epoch)
    if together > 1:
        metrics["trained_together"] = together
    if config.keeps_best_epoch:  # EarlyStopping restored the best epoch's weights
        runs.save_model(session.model, run_dir)  # the per-epoch checkpoint holds the last epoch's weights, not the best
    _atomic.write_json(run_dir / runs.METRICS, metrics)
    from .plots import plot_curves
    from .report import write_run_report

    plot_curves(history, run_dir / runs.CURVES,
                title=f"{session.dataset.name}, {'CNN, ' if config.model == 'cnn' else ''}hidden {list(config.hidden)}")
    if recorder.events is not None:
        _log_images(session, recorder.events, metrics)
    write_run_report(run_dir)

    epochs_run = metrics["epochs_run"]
    if session.test:
        result = f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f}"
    else:
        result = (f"validation accuracy {metrics['validation_accuracy']:.4f}, test set held out"
                  if "validation_accuracy" in metrics else "test set held out")
    session.say(f"{result} ({epochs_run} epoch{'s' if epochs_run != 1 else ''}"
                f"{', stopped early' if metrics['stopped_early'] else ''}, "
                f"fit {fit_seconds:.1f}s{f' for {together} runs together' if together > 1 else ''}, "
                f"{metrics['samples_per_second']:,.0f} samples/s)")
    chance = 1 / len(session.dataset.classes)
    if not config.normalize and session.test and metrics["test_accuracy"] < 1.5 * chance:
        session.say(f"note: test accuracy {metrics['test_accuracy']:.4f} is chance level ({chance:.2f}): with raw 0-255 "
                    f"pixels the first layer's sums are 255 times larger, the softmax saturates and the gradients cannot "
                    f"move the network off one answer. Drop --no-normalize (pixels / 255), and see "
                    f"`fashion-lab experiment normalization` for the two side by side.")
    session.say(f"results: {run_dir}")
    return runs.Run(dir=run_dir, config=config, history=history, metrics=metrics, model=session.model,
                    epoch_seconds=epoch_seconds)


def _fit(sessions: list[_Session], user_callbacks: list, *, initial_epoch: int):
    """Run the epochs from ``initial_epoch``: one session alone, several of one program together.

    Returns the sessions' recorders and the seconds the fit took. A stop signal raises
    :class:`TrainingInterrupted` once every session's finished epochs are on disk.
    """
    from .plots import import_in_background
    from .recording import EpochRecorder
    from .tensorboard_log import TensorBoardLog

    import_in_background()  # the plots at the end need matplotlib: import it while the epochs run
    first, data = sessions[0], sessions[0].data
    recorders = [EpochRecorder(s.run_dir, s.stop, samples_per_epoch=s.data.n_fit, resumed=initial_epoch > 0,
                               say=s.say if s.verbose else None,
                               events=TensorBoardLog(s.run_dir, first_step=initial_epoch + 1) if s.config.tensorboard else None)
                 for s in sessions]
    # The recorder comes first: an epoch is on disk before any stop rule or user callback sees it.
    callbacks = [[recorder, *_stop_callbacks(s.config, s.verbose), *user]
                 for s, recorder, user in zip(sessions, recorders, user_callbacks)]
    config = first.config
    start = time.perf_counter()
    try:
        # One compiled call per epoch with the data on the device (see _fastfit); falls back to
        # model.fit on other backends or when a callback wants per-batch events.
        if len(sessions) == 1:  # the shared images and the run's split of them as indices: no copy of the split
            _fastfit.fit(first.model, data.images.x, data.images.y, index=data.fit_index, epochs=config.epochs,
                         initial_epoch=initial_epoch,
                         batch_size=config.batch_size, seed=config.seed, validation_data=data.validation,
                         validation_batch_size=EVAL_BATCH, callbacks=callbacks[0])
        else:
            _fit_together(sessions, callbacks, initial_epoch=initial_epoch)
    except KeyboardInterrupt:
        for recorder in recorders:
            _finish_writes(recorder)
        raise TrainingInterrupted("\n".join(_record_interrupt(s.run_dir) for s in sessions)) from None
    except BaseException:
        for recorder in recorders:
            _finish_writes(recorder)
        raise
    for recorder in recorders:
        recorder.checkpoint.wait()
    return recorders, time.perf_counter() - start


def _fit_together(sessions: list[_Session], callbacks: list, *, initial_epoch: int) -> None:
    """:func:`_fastfit.fit_many` over the sessions' models: the images once, each run's split as indices."""
    images, config, models = sessions[0].data.images, sessions[0].config, [s.model for s in sessions]
    split = sessions[0].data.fit_index is not None
    indices = [s.data.fit_index for s in sessions] if split else None
    problem = _fastfit.why_not_together(models, images.x, images.y, config.batch_size, callbacks, indices)
    if problem is not None:
        sessions[0].say(f"note: these {len(sessions)} runs train one after another: {problem}")
    _fastfit.fit_many(models, images.x, images.y, epochs=config.epochs, initial_epoch=initial_epoch,
                      batch_size=config.batch_size, seeds=[s.config.seed for s in sessions], indices=indices,
                      validation_data=[s.data.validation for s in sessions] if split else None,
                      validation_batch_size=EVAL_BATCH, callbacks=callbacks)


def _finish_writes(recorder) -> None:
    """Wait for the last epoch's files on the way out of a failed fit; a write that failed is said, not raised.

    If that write failed, checkpoint.json still describes the epoch before, whose model.keras is intact.
    """
    if recorder.events is not None:
        recorder.events.close()  # the finished epochs' TensorBoard events are on disk too
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
    """metrics.json: the test (unless held out) and training sets evaluated once, with the fit's figures."""
    config, data, model = session.config, session.data, session.model
    epochs_run = len(history.get("loss", []))
    metrics: dict[str, Any] = {}
    if session.test:
        test = _fasteval.evaluate(model, data.x_test, data.y_test, batch_size=EVAL_BATCH)
        metrics.update(test_accuracy=test["accuracy"], test_loss=test["loss"])
    else:
        metrics["test_held_out"] = True
    on_train = _fasteval.evaluate(model, data.images.x, data.images.y, data.fit_index, batch_size=EVAL_BATCH)
    metrics.update({
        "train_accuracy": on_train["accuracy"],
        "train_loss": on_train["loss"],
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < config.epochs,
        "fit_seconds": round(fit_seconds, 4),
        "samples_per_second": round(data.n_fit * epochs_run / fit_seconds, 1),
        "params": int(model.count_params()),
        "interrupted": False,
    })
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


def _log_images(session: _Session, events, metrics: dict[str, Any]) -> None:
    """The end of a run in TensorBoard: curves.png and the confusion matrix of the validation split (else of
    the test set, when it was tested), at the last epoch; then the event files are closed."""
    from .evaluation import confusion_matrix
    from .tensorboard_log import confusion_image

    step = metrics["epochs_run"]
    try:
        events.image("curves", session.run_dir / runs.CURVES, step)
        data = session.data
        if data.validation is not None:
            images, labels, index = data.validation  # the shared images and this run's validation positions
            split, x, y = "validation", images[index], np.asarray(labels)[index]
        elif session.test:
            split, x, y = "test", data.x_test, data.y_test
        else:
            return
        predicted = _fasteval.probabilities(session.model, x, batch_size=EVAL_BATCH * 10).argmax(axis=1)
        y = np.asarray(y)
        labels = y.argmax(axis=1) if y.ndim == 2 else y  # one-hot targets under label smoothing
        matrix = confusion_matrix(labels, predicted, len(session.dataset.classes))
        events.image("confusion", confusion_image(matrix, session.dataset.classes), step,
                     split="validation" if split == "validation" else "train")
    finally:
        events.close()


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
