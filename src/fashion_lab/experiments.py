"""The seed's experiments, each one command: layer size, epochs, normalization, the missing Flatten, the callback.

An experiment is data: a list of training configurations in, rows out. The same rows feed
``results.csv``, the PNG plots and ``report.html``, all written into one folder
(``experiments/<time>-<name>`` unless ``out`` is given), next to ``results.json`` from which
everything else can be drawn again (``fashion-lab report DIR``).

Models are compared on a validation split taken from the training images (seeded, 10% by
default); the test set is only reported, never used to choose.

Run from the shell::

    fashion-lab experiment layer-size --hidden 32 128 512 --epochs 2
    fashion-lab experiment epochs --epochs 30 --restore-best
    fashion-lab experiment normalization
    fashion-lab experiment no-flatten
    fashion-lab experiment callback --target 0.85

or from Python:
    >>> from fashion_lab.experiments import ExperimentOptions, run_experiment
    >>> result = run_experiment("layer-size", ExperimentOptions(hidden=(32, 128), epochs=2))  # doctest: +SKIP
    >>> [row["params"] for row in result.rows]  # doctest: +SKIP
    [25450, 101770]
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _atomic, runs
from .config import TrainConfig, _fraction, _positive_int
from .errors import ConfigError, RunError, TrainingInterrupted
from .training import _command_line, _sayer, validation_count

RESULTS = "results.json"
IMAGE_PIXELS = 28 * 28
LAYER_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # the seed's sizes and a few more, doubling
OVERFIT_TOLERANCE = 0.02  # validation loss this far (relative) above its minimum counts as rising


# --------------------------------------------------------------------------------------------------
# Options


@dataclass
class ExperimentOptions:
    """What an experiment runs. ``None`` fields take the experiment's own default (see :data:`EXPERIMENTS`).

    Args:
        dataset: ``"fashion_mnist"`` or ``"mnist"``. Defaults to ``"fashion_mnist"``.
        data_dir: folder with the four IDX files. Defaults to None (the usual search).
        verify: check files against their pinned SHA-256. Defaults to True.
        hidden: for ``layer-size`` the sizes to compare (one hidden layer each); for the others the
            network's hidden layers. Defaults to the experiment's (``16 ... 1024`` or ``128``).
        epochs: epochs per model (for ``callback`` the most it may take). Defaults to the experiment's.
        repeats: ``layer-size`` only: train each size this many times with seeds ``seed, seed+1, ...``.
            Defaults to 1.
        predict: ``layer-size`` only: sizes whose time per epoch and accuracy to predict. Defaults to none.
        restore_best: ``epochs`` only: end with the weights of the epoch with the lowest validation loss.
            Defaults to False.
        target: ``callback`` only: the training accuracy to reach, in (0, 1]. Defaults to 0.85.
        validation_split: fraction of training images held out to compare on, in (0, 1). Defaults to 0.1.
        seed: random seed for the split, the weights and the shuffling. Defaults to 0.
        batch_size: images per step. Defaults to 32.
        learning_rate: Adam's learning rate. Defaults to 0.001.

    Example:
        >>> ExperimentOptions(repeats=0)
        Traceback (most recent call last):
        ...
        fashion_lab.errors.ConfigError: repeats must be a positive integer, got 0.
    """

    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    verify: bool = True
    hidden: tuple[int, ...] | None = None
    epochs: int | None = None
    repeats: int | None = None
    predict: tuple[int, ...] = ()
    restore_best: bool = False
    target: float | None = None
    validation_split: float = 0.1
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 0.001

    def __post_init__(self) -> None:
        if self.hidden is not None:
            self.hidden = tuple(self.hidden)  # empty or non-positive sizes: refused by train_config() below
            if len(set(self.hidden)) != len(self.hidden):
                raise ConfigError(f"--hidden lists a size twice ({list(self.hidden)}); give each size once, "
                                  f"and use --repeats N to train each size N times.")
        if self.repeats is not None:
            _positive_int("repeats", self.repeats)
        self.predict = tuple(self.predict or ())
        for h in self.predict:
            _positive_int("each --predict size", h)
        if self.target is not None:
            _fraction("target accuracy", self.target, low_open=True, high_open=False, example="for 85% pass 0.85")
        _fraction("validation split", self.validation_split, low_open=True, high_open=True,
                  example="experiments compare on it, for 10% pass 0.1")
        # The rest (dataset name, seed, batch size, learning rate) is checked by TrainConfig.
        self.train_config()

    def train_config(self, **changes: Any) -> TrainConfig:
        """The :class:`TrainConfig` these options describe, with ``changes`` applied."""
        fields = dict(dataset=self.dataset, data_dir=self.data_dir, verify=self.verify,
                      validation_split=self.validation_split, seed=self.seed, batch_size=self.batch_size,
                      learning_rate=self.learning_rate)
        if self.hidden is not None:
            fields["hidden"] = self.hidden
        if self.epochs is not None:
            fields["epochs"] = self.epochs
        fields.update(changes)
        return TrainConfig(**fields)

    def resolved(self, name: str) -> "ExperimentOptions":
        """These options for experiment ``name``: its defaults filled in, options it does not use refused."""
        spec = get_experiment(name)
        for option, given in (("repeats", self.repeats is not None), ("predict", bool(self.predict)),
                              ("restore_best", self.restore_best), ("target", self.target is not None),
                              ("epochs", self.epochs is not None)):
            if given and option not in spec.options:
                flag = "--" + option.replace("_", "-")
                users = [e.name for e in EXPERIMENTS.values() if option in e.options]
                raise ConfigError(f"{flag} does not apply to the {name} experiment; it is used by: {', '.join(users)}.")
        out = dict(self.__dict__)
        for key, value in spec.defaults.items():
            if out.get(key) is None:
                out[key] = value
        return ExperimentOptions(**out)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("hidden", "predict"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data


# --------------------------------------------------------------------------------------------------
# Small pure helpers: parameter counts, the cost model, the accuracy trend, summaries


def dense_params(hidden: Sequence[int], inputs: int = IMAGE_PIXELS, classes: int = 10) -> int:
    """Trainable parameters of Flatten -> Dense(h)... -> Dense(classes): weights plus biases.

    Example:
        >>> dense_params([128])
        101770
        >>> dense_params([512, 256])
        535818
    """
    sizes = [inputs, *hidden, classes]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def fit_line(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares line ``y = intercept + slope * x``, with R² (1 = a perfect fit).

    Example:
        >>> fit = fit_line([1, 2, 3], [3, 5, 7])
        >>> round(fit["intercept"], 6), round(fit["slope"], 6), round(fit["r2"], 6)
        (1.0, 2.0, 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(np.unique(x)) < 2:
        raise ConfigError(f"a line needs at least two different x values, got {list(x)}.")
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - (intercept + slope * x)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual ** 2).sum()) / total if total > 0 else 1.0
    return {"intercept": float(intercept), "slope": float(slope), "r2": r2, "points": int(len(x))}


def fit_cost_model(params: Sequence[float], seconds_per_epoch: Sequence[float]) -> dict[str, float]:
    """Time per epoch against parameter count, least squares: ``seconds = fixed + per_param * params``.

    ``fixed`` is the cost that does not grow with the layer (data movement, the step's overhead);
    ``per_param`` the cost of each weight. Returned with ``r2`` and ``points``.

    Example:
        >>> model = fit_cost_model([10_000, 100_000, 1_000_000], [0.2, 0.29, 1.19])
        >>> round(model["fixed"], 3), round(model["per_million_params"], 3)
        (0.19, 1.0)
        >>> round(predict_seconds(model, 2_000_000), 2)
        2.19
    """
    line = fit_line(params, seconds_per_epoch)
    return {"fixed": line["intercept"], "per_param": line["slope"], "per_million_params": line["slope"] * 1e6,
            "r2": line["r2"], "points": line["points"]}


def predict_seconds(cost_model: dict[str, float], params: float) -> float:
    """Seconds per epoch the cost model predicts for a network of ``params`` parameters."""
    return cost_model["fixed"] + cost_model["per_param"] * params


def fit_accuracy_trend(sizes: Sequence[float], accuracy: Sequence[float]) -> dict[str, float]:
    """Accuracy against log2(layer size), least squares: the change per doubling of the layer.

    Example:
        >>> trend = fit_accuracy_trend([16, 32, 64], [0.80, 0.82, 0.84])
        >>> round(trend["per_doubling"], 3)
        0.02
        >>> round(predict_accuracy(trend, 128), 3)
        0.86
    """
    line = fit_line(np.log2(np.asarray(sizes, dtype=np.float64)), accuracy)
    return {"intercept": line["intercept"], "per_doubling": line["slope"], "r2": line["r2"], "points": line["points"]}


def predict_accuracy(trend: dict[str, float], size: float) -> float:
    """Accuracy the trend predicts for a layer of ``size`` units, kept within [0, 1]."""
    return float(min(1.0, max(0.0, trend["intercept"] + trend["per_doubling"] * math.log2(size))))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value).

    Example:
        >>> mean_std([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarize_by(rows: Sequence[dict[str, Any]], key: str, numeric: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct ``rows[i][key]``: the mean of each ``numeric`` column, and ``<col>_std``.

    Example:
        >>> summarize_by([{"h": 1, "acc": 0.5}, {"h": 1, "acc": 0.7}, {"h": 2, "acc": 0.9}], "h", ["acc"])
        [{'h': 1, 'repeats': 2, 'acc': 0.6, 'acc_std': 0.14142135623730948}, {'h': 2, 'repeats': 1, 'acc': 0.9, 'acc_std': 0.0}]
    """
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    out = []
    for value, members in groups.items():
        summary: dict[str, Any] = {key: value, "repeats": len(members)}
        for col in numeric:
            present = [m[col] for m in members if m.get(col) is not None]
            if present:
                summary[col], summary[f"{col}_std"] = mean_std(present)
            else:
                summary[col], summary[f"{col}_std"] = None, None
        out.append(summary)
    return out


def first_overfit_epoch(val_loss: Sequence[float], tolerance: float = OVERFIT_TOLERANCE) -> tuple[int, int | None]:
    """The epoch (from 1) with the lowest validation loss, and the first later epoch whose validation loss
    is more than ``tolerance`` (relative) above that minimum, or None when it never rises that far.

    Example:
        >>> first_overfit_epoch([0.5, 0.4, 0.38, 0.385, 0.41, 0.45])
        (3, 5)
        >>> first_overfit_epoch([0.5, 0.4, 0.38])
        (3, None)
    """
    losses = np.asarray(val_loss, dtype=np.float64)
    best = int(losses.argmin())
    limit = losses[best] * (1 + tolerance)
    later = [i for i in range(best + 1, len(losses)) if losses[i] > limit]
    return best + 1, (later[0] + 1 if later else None)


# --------------------------------------------------------------------------------------------------
# Results on disk


@dataclass
class ExperimentResult:
    """An experiment's outcome: its folder and the content of ``results.json``."""

    dir: Path
    data: dict[str, Any]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The main table's rows (the ones in ``results.csv``)."""
        return self.data["tables"][0]["rows"]

    @property
    def findings(self) -> list[str]:
        return self.data["findings"]


def column(key: str, label: str, fmt: str = "f4", split: str | None = None) -> dict[str, Any]:
    """A table column: the row key, its heading, how to print it (``int``, ``f2``, ``f3``, ``f4``, ``text``)
    and, for metrics, which split it was measured on (``train``, ``validation``, ``test``)."""
    return {"key": key, "label": label, "format": fmt, "split": split}


def table(name: str, title: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]], note: str = "") -> dict[str, Any]:
    """A table of results: written as ``<name>.csv`` and shown in the report under ``title``."""
    return {"name": name, "title": title, "columns": columns, "rows": rows, "note": note}


def write_csv(path: str | os.PathLike[str], tab: dict[str, Any]) -> None:
    """Write a table's rows as CSV: one column per table column, plus ``<key>_std`` where rows have it."""
    keys = []
    for col in tab["columns"]:
        keys.append(col["key"])
        if any(row.get(f"{col['key']}_std") is not None and row.get("repeats", 1) > 1 for row in tab["rows"]):
            keys.append(f"{col['key']}_std")

    def cell(value):
        if value is None:
            return ""
        return round(value, 6) if isinstance(value, float) else value

    with _atomic.atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(keys)
            for row in tab["rows"]:
                writer.writerow([cell(row.get(k)) for k in keys])


def new_experiment_dir(name: str, out: str | os.PathLike[str] | None = None, *, root: str = "experiments",
                       overwrite: bool = False) -> Path:
    """Create ``out`` (refused when it holds files, unless ``overwrite``) or ``<root>/<time>-<name>``."""
    config = TrainConfig(run_dir=None if out is None else str(out), runs_root=root, name=name)
    try:
        return runs.new_run_dir(config, overwrite=overwrite)
    except RunError as e:
        raise RunError(str(e).replace("--run-dir", "--out").replace("run directory", "experiment folder")) from None


def load_results(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``results.json`` from an experiment folder."""
    path = Path(folder) / RESULTS
    if not path.is_file():
        raise RunError(f"{folder} has no {RESULTS}; give a folder made by fashion-lab experiment.")
    return runs.read_json(path)


def render(folder: str | os.PathLike[str], data: dict[str, Any] | None = None) -> Path:
    """Draw everything from ``results.json``: the CSV tables, the plots and ``report.html``. Returns the report.

    Running it again on a folder gives the same files, so ``fashion-lab report DIR`` can rebuild them.
    """
    from .report import write_experiment_report

    folder = Path(folder)
    data = data if data is not None else load_results(folder)
    for tab in data["tables"]:
        write_csv(folder / f"{tab['name']}.csv", tab)
    return write_experiment_report(folder, data, get_experiment(data["experiment"]).plot(data, folder))


# --------------------------------------------------------------------------------------------------
# Running


def _clear_keras() -> None:
    from ._backend import keras

    keras().utils.clear_session()  # each model starts from a clean graph and name scope


def _train_one(config: TrainConfig, dataset, folder: Path, name: str, verbose: bool) -> dict[str, Any]:
    """Train one model into ``folder/runs/name`` and return its measurements, validation and test apart."""
    from .training import train

    _clear_keras()
    run = train(config.replace(run_dir=str(folder / "runs" / name), name=name), dataset=dataset, verbose=verbose)
    history = runs.read_history(run.dir / runs.HISTORY)
    seconds = history.get("epoch_seconds") or [run.metrics["fit_seconds"]]
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
        "epoch_seconds": seconds,
        "metrics": run.metrics,
    }


def run_experiment(
    name: str,
    options: ExperimentOptions | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    root: str = "experiments",
    overwrite: bool = False,
    dataset=None,
    verbose: bool = True,
) -> ExperimentResult:
    """Run experiment ``name`` and write its folder: ``results.json``, CSV tables, PNG plots, ``report.html``.

    Args:
        name: one of ``layer-size``, ``epochs``, ``normalization``, ``no-flatten``, ``callback``.
        options: what to run. Defaults to ``ExperimentOptions()`` (the experiment's own defaults).
        out: the folder to write. Defaults to ``<root>/<YYYYmmdd-HHMMSS>-<name>``.
        root: where new experiment folders go. Defaults to ``"experiments"``.
        overwrite: allow ``out`` to be a folder that already holds files. Defaults to False.
        dataset: an already loaded :class:`~fashion_lab.datasets.Dataset`. Defaults to loading ``options.dataset``.
        verbose: print progress and the findings. Defaults to True.

    Returns:
        The :class:`ExperimentResult` (``.dir``, ``.rows``, ``.findings``, ``.data``).
    """
    spec = get_experiment(name)
    options = (options or ExperimentOptions()).resolved(spec.name)
    say = _sayer(verbose)
    if dataset is None:
        from .datasets import open_dataset

        dataset = open_dataset(options.dataset, options.data_dir, verify=options.verify)
    existed = out is not None and Path(out).exists()
    folder = new_experiment_dir(spec.name, out, root=root, overwrite=overwrite)
    if overwrite:  # nothing from an earlier experiment in this folder may survive into the new report
        shutil.rmtree(folder / "runs", ignore_errors=True)
        for old in [*folder.glob("*.csv"), *folder.glob("*.png"), folder / RESULTS, folder / runs.REPORT]:
            old.unlink(missing_ok=True)
    say(f"experiment {spec.name}: {spec.summary}")
    say(f"data: {dataset.name} from {dataset.source}; writing {folder}")
    start = time.perf_counter()
    try:
        body = spec.run(options, dataset, folder, say, verbose)
    except BaseException as e:
        if not existed:  # a failed or interrupted experiment leaves no half-written folder behind
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(e, TrainingInterrupted):  # its own hint (train --resume) points into the removed folder
            raise TrainingInterrupted(f"experiment {spec.name} interrupted; its unfinished results were removed. "
                                      f"Run it again to get a complete report.") from None
        raise
    n_train = len(dataset.x_train)
    n_val = validation_count(n_train, options.validation_split)
    data = {
        "kind": "experiment",
        "experiment": spec.name,
        "title": spec.title,
        "summary": spec.summary,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": _command_line(),
        "options": options.to_dict(),
        "dataset": {"name": dataset.name, "source": dataset.source, "verified": dataset.verified,
                    "train": n_train - n_val, "validation": n_val, "test": len(dataset.x_test)},
        "elapsed_seconds": round(time.perf_counter() - start, 2),
        "splits_note": (
            f"Validation numbers come from {n_val:,} images held out of the {n_train:,} training images "
            f"(seeded with {options.seed}); they are the ones used to compare and choose. Test numbers come from "
            f"the {len(dataset.x_test):,} test images and are only reported, never used to choose. "
            f"Training numbers are measured on the {n_train - n_val:,} images the model was fitted on."
        ),
        **body,
    }
    _atomic.write_json(folder / RESULTS, data)  # first: a failure while drawing leaves the results to rebuild from
    report = render(folder, data)
    for finding in data["findings"]:
        say(f"finding: {finding}")
    say(f"report: {report}  ({data['elapsed_seconds']:.1f}s)")
    return ExperimentResult(dir=folder, data=data)


# --------------------------------------------------------------------------------------------------
# 1. Layer size


_SIZE_METRICS = ("params", "fit_seconds", "first_epoch_seconds", "seconds_per_epoch", "samples_per_second",
                 "train_accuracy", "validation_accuracy", "test_accuracy", "validation_loss", "test_loss")


def _layer_size_models(rows: list[dict[str, Any]], exclude: int | None = None) -> tuple[dict | None, dict | None]:
    """Cost model and accuracy trend fitted on the summary rows (leaving out size ``exclude``)."""
    use = [r for r in rows if r["hidden"] != exclude]
    if len({r["hidden"] for r in use}) < 2:
        return None, None
    cost = fit_cost_model([r["params"] for r in use], [r["seconds_per_epoch"] for r in use])
    trend = fit_accuracy_trend([r["hidden"] for r in use], [r["validation_accuracy"] for r in use])
    return cost, trend


def layer_size_analysis(summary: list[dict[str, Any]], predict: Sequence[int] = ()) -> dict[str, Any]:
    """Fit the cost model and accuracy trend on per-size rows and predict ``predict`` sizes.

    ``summary`` rows need ``hidden``, ``params``, ``seconds_per_epoch`` and ``validation_accuracy``. A predicted
    size that was also measured is predicted from the *other* sizes, so prediction and measurement can be compared.

    Example:
        >>> rows = [{"hidden": h, "params": dense_params([h]), "seconds_per_epoch": 0.2 + dense_params([h]) * 1e-6,
        ...          "validation_accuracy": 0.8 + 0.01 * math.log2(h / 16)} for h in (16, 64, 256)]
        >>> analysis = layer_size_analysis(rows, predict=[64, 1024])
        >>> round(analysis["cost_model"]["per_million_params"], 3)
        1.0
        >>> [(p["hidden"], round(p["predicted_seconds_per_epoch"], 3), p["measured_seconds_per_epoch"] is not None)
        ...  for p in analysis["predictions"]]
        [(64, 0.251, True), (1024, 1.014, False)]
    """
    cost, trend = _layer_size_models(summary)
    by_size = {r["hidden"]: r for r in summary}
    predictions, unpredicted = [], []
    for size in predict:
        c, t = _layer_size_models(summary, exclude=size) if size in by_size else (cost, trend)
        if c is None:  # fewer than two other sizes to fit on
            unpredicted.append(size)
            continue
        params = dense_params([size])
        measured = by_size.get(size, {})
        predictions.append({
            "hidden": size,
            "params": params,
            "predicted_seconds_per_epoch": predict_seconds(c, params),
            "predicted_validation_accuracy": predict_accuracy(t, size),
            "measured_seconds_per_epoch": measured.get("seconds_per_epoch"),
            "measured_validation_accuracy": measured.get("validation_accuracy"),
            "fitted_on": sorted(r["hidden"] for r in summary if r["hidden"] != size),
        })
    return {"cost_model": cost, "accuracy_trend": trend, "predictions": predictions, "unpredicted": unpredicted}


def layer_size_findings(summary: list[dict[str, Any]], analysis: dict[str, Any]) -> list[str]:
    """One-sentence findings from the per-size rows and their analysis (pure, for tests and reports)."""
    rows = sorted(summary, key=lambda r: r["hidden"])
    small, big = rows[0], rows[-1]
    findings = []
    if len(rows) > 1:
        findings.append(
            f"Going from {small['hidden']} to {big['hidden']} units takes the network from {small['params']:,} to "
            f"{big['params']:,} parameters and each epoch (after the first) from {small['seconds_per_epoch']:.2f} s to "
            f"{big['seconds_per_epoch']:.2f} s, while validation accuracy moves from {small['validation_accuracy']:.4f} "
            f"to {big['validation_accuracy']:.4f}."
        )
    cost, trend = analysis.get("cost_model"), analysis.get("accuracy_trend")
    if cost:
        findings.append(
            f"Cost model (least squares, R² = {cost['r2']:.3f}): seconds per epoch = {cost['fixed']:.3f} + "
            f"{cost['per_million_params']:.3f} x millions of parameters, so the fixed per-step overhead "
            f"{'dominates small layers' if cost['fixed'] > cost['per_param'] * small['params'] else 'is small next to the weights'}."
        )
    if trend:
        direction = "gains" if trend["per_doubling"] > 0 else "loses"
        findings.append(
            f"Accuracy trend: validation accuracy {direction} about {abs(trend['per_doubling']):.4f} per doubling of the "
            f"layer (R² = {trend['r2']:.2f}), diminishing returns for a much higher cost per epoch."
        )
    first = np.mean([r["first_epoch_seconds"] for r in rows])
    later = np.mean([r["seconds_per_epoch"] for r in rows])
    findings.append(f"The first epoch, which includes compiling the model, took {first:.2f} s on average against "
                    f"{later:.2f} s for each later epoch, so it is reported apart.")
    best = max(rows, key=lambda r: r["validation_accuracy"])
    findings.append(f"Chosen on validation accuracy, {best['hidden']} units is best ({best['validation_accuracy']:.4f}); "
                    f"its test accuracy, reported only, is {best['test_accuracy']:.4f}.")
    for p in analysis.get("predictions", []):
        sentence = (f"Predicted for {p['hidden']} units ({p['params']:,} parameters, fitted on sizes "
                    f"{', '.join(map(str, p['fitted_on']))}): {p['predicted_seconds_per_epoch']:.2f} s per epoch and "
                    f"validation accuracy {p['predicted_validation_accuracy']:.4f}")
        if p["measured_seconds_per_epoch"] is not None:
            sentence += (f"; measured {p['measured_seconds_per_epoch']:.2f} s and "
                         f"{p['measured_validation_accuracy']:.4f}.")
        else:
            sentence += " (not measured; an extrapolation)."
        findings.append(sentence)
    if analysis.get("unpredicted"):
        findings.append(f"No prediction for {', '.join(map(str, analysis['unpredicted']))} units: the models need at "
                        f"least two other measured sizes to fit on; add sizes to --hidden.")
    return findings


def _run_layer_size(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    from . import _fastfit

    raw = []
    for size in opts.hidden:
        # The first seed of each size compiles its training epoch (and its first epoch is timed with it),
        # even when this process trained that architecture before; later seeds reuse it.
        _fastfit.forget_compiled()
        for r in range(opts.repeats):
            seed = opts.seed + r
            config = opts.train_config(hidden=(size,), seed=seed)
            m = _train_one(config, dataset, folder, f"h{size}-seed{seed}", verbose=False)
            row = {"hidden": size, "seed": seed, **{k: m[k] for k in ("run", *_SIZE_METRICS)}}
            raw.append(row)
            say(f"  hidden {size:>5} (seed {seed}): {m['params']:>9,} params, first epoch {m['first_epoch_seconds']:.2f}s, "
                f"then {m['seconds_per_epoch']:.2f}s/epoch ({m['samples_per_second']:,.0f} samples/s), "
                f"validation accuracy {m['validation_accuracy']:.4f}, test {m['test_accuracy']:.4f}")
    # Parameters are one number per size. Later seeds of a size reuse the first seed's compiled epoch
    # (fashion_lab._fastfit), so only the first seed's first epoch includes compilation: that one is the
    # size's "first epoch" figure. Both come from each size's first run; the rest are averaged over seeds.
    first_run = {r["hidden"]: r for r in reversed(raw)}
    summary = summarize_by(raw, "hidden", [k for k in _SIZE_METRICS if k not in ("params", "first_epoch_seconds")])
    for row in summary:
        first = first_run[row["hidden"]]
        row.update(params=int(first["params"]), first_epoch_seconds=first["first_epoch_seconds"],
                   first_epoch_seconds_std=None)
    analysis = layer_size_analysis(summary, opts.predict)
    cost, trend = analysis["cost_model"], analysis["accuracy_trend"]
    if cost:
        say(f"cost model: seconds/epoch = {cost['fixed']:.4f} + {cost['per_million_params']:.4f} x params/1e6 (R² {cost['r2']:.3f})")
        say(f"accuracy trend: validation accuracy {trend['per_doubling']:+.4f} per doubling of the layer (R² {trend['r2']:.2f})")
    for p in analysis["predictions"]:
        say(f"prediction for {p['hidden']} units: {p['predicted_seconds_per_epoch']:.3f} s/epoch, "
            f"validation accuracy {p['predicted_validation_accuracy']:.4f}"
            + (f" (measured {p['measured_seconds_per_epoch']:.3f} s, {p['measured_validation_accuracy']:.4f})"
               if p["measured_seconds_per_epoch"] is not None else ""))
    repeats_note = (f" Mean ± standard deviation over {opts.repeats} seeds; the first epoch is the first seed's, the"
                    f" one that compiles: later seeds of a size reuse its compiled training step, so their first epoch"
                    f" and fit seconds leave compilation out." if opts.repeats > 1 else "")
    columns = [
        column("hidden", "hidden units", "int"), column("params", "parameters", "int"),
        column("first_epoch_seconds", "first epoch s (with compile)", "f2"),
        column("seconds_per_epoch", "s / later epoch", "f3"), column("samples_per_second", "samples/s", "int"),
        column("fit_seconds", "fit s", "f2"),
        column("train_accuracy", "train accuracy", "f4", "train"),
        column("validation_accuracy", "validation accuracy", "f4", "validation"),
        column("test_accuracy", "test accuracy (reported only)", "f4", "test"),
    ]
    tables = [table("results", "Per layer size", columns, summary,
                    "Seconds per epoch are the mean of the epochs after the first; samples/s follow from them."
                    + repeats_note)]
    if opts.repeats > 1:
        tables.append(table("runs", "Every run", [column("seed", "seed", "int")] + columns, raw))
    if analysis["predictions"]:
        tables.append(table("predictions", "Predictions from the cost model and accuracy trend", [
            column("hidden", "hidden units", "int"), column("params", "parameters", "int"),
            column("predicted_seconds_per_epoch", "predicted s / epoch", "f3"),
            column("measured_seconds_per_epoch", "measured s / epoch", "f3"),
            column("predicted_validation_accuracy", "predicted validation accuracy", "f4", "validation"),
            column("measured_validation_accuracy", "measured validation accuracy", "f4", "validation"),
        ], analysis["predictions"], "A size that was also measured is predicted from the other sizes only."))
    return {"tables": tables, "analysis": analysis, "findings": layer_size_findings(summary, analysis)}


def _plot_layer_size(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from .plots import plot_layer_size_accuracy, plot_layer_size_time

    rows = data["tables"][0]["rows"]
    analysis = data["analysis"]
    plot_layer_size_accuracy(rows, folder / "accuracy_vs_size.png", predictions=analysis["predictions"],
                             trend=analysis["accuracy_trend"])
    plot_layer_size_time(rows, folder / "time_vs_size.png", cost_model=analysis["cost_model"],
                         predictions=analysis["predictions"])
    return [
        {"file": "accuracy_vs_size.png",
         "caption": "Train, validation and test accuracy against layer size (log scale); the dotted line is the "
                    "accuracy trend fitted on validation accuracy."},
        {"file": "time_vs_size.png",
         "caption": "Seconds per epoch against layer size (log scale): later epochs, the first epoch (with "
                    "compilation), and the least-squares cost model."},
    ]


# --------------------------------------------------------------------------------------------------
# 2. Epochs (overfitting)


def epochs_findings(history: dict[str, Sequence[float]], restored_epoch: int | None = None,
                    test_accuracy: float | None = None) -> list[str]:
    """One-sentence findings about overfitting from a history with ``loss``/``val_loss``/``accuracy``/``val_accuracy``.

    Example:
        >>> h = {"loss": [0.5, 0.4, 0.3, 0.2], "val_loss": [0.45, 0.40, 0.42, 0.47],
        ...      "accuracy": [0.8, 0.85, 0.9, 0.95], "val_accuracy": [0.82, 0.85, 0.85, 0.84]}
        >>> epochs_findings(h)[2]
        'The model overfits from epoch 3: validation loss rises from its minimum of 0.4000 at epoch 2 to 0.4700 at epoch 4 while training loss keeps falling to 0.2000.'
    """
    val_loss, loss = history["val_loss"], history["loss"]
    n = len(val_loss)
    best, rising = first_overfit_epoch(val_loss)
    gap = history["accuracy"][-1] - history["val_accuracy"][-1]
    findings = [
        f"Validation loss is lowest at epoch {best} of {n} ({val_loss[best - 1]:.4f}).",
        f"At the last epoch training accuracy is {history['accuracy'][-1]:.4f} and validation accuracy "
        f"{history['val_accuracy'][-1]:.4f}, a gap of {gap:.4f}.",
    ]
    if rising is not None:
        findings.append(f"The model overfits from epoch {rising}: validation loss rises from its minimum of "
                        f"{val_loss[best - 1]:.4f} at epoch {best} to {val_loss[-1]:.4f} at epoch {n} while training "
                        f"loss keeps falling to {loss[-1]:.4f}.")
    elif best < n:
        findings.append(f"Validation loss stopped improving after epoch {best} but stayed within "
                        f"{OVERFIT_TOLERANCE:.0%} of its minimum: the model is at the edge of overfitting, no clear rise yet.")
    else:
        findings.append(f"Validation loss is still falling at epoch {n}: no overfitting within {n} epochs.")
    if restored_epoch is not None:
        findings.append(f"With --restore-best the model keeps the weights of epoch {restored_epoch}"
                        + (f", whose test accuracy (reported only) is {test_accuracy:.4f}." if test_accuracy is not None else "."))
    return findings


def _epoch_rows(history: dict[str, Sequence[float]], seconds: Sequence[float]) -> list[dict[str, Any]]:
    rows = []
    for i in range(len(history["loss"])):
        row = {"epoch": i + 1, **{k: history[k][i] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}}
        row["gap"] = row["accuracy"] - row["val_accuracy"]
        row["epoch_seconds"] = seconds[i] if i < len(seconds) else None
        rows.append(row)
    return rows


def _run_epochs(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    config = opts.train_config(restore_best=opts.restore_best)
    m = _train_one(config, dataset, folder, f"epochs{opts.epochs}", verbose=verbose)
    history = m["history"]
    rows = _epoch_rows(history, m["epoch_seconds"])
    best, rising = first_overfit_epoch(history["val_loss"])
    restored = m["metrics"].get("best_epoch") if opts.restore_best else None
    findings = epochs_findings(history, restored, m["test_accuracy"] if restored else None)
    cols = [column("epoch", "epoch", "int"), column("loss", "train loss", "f4", "train"),
            column("val_loss", "validation loss", "f4", "validation"),
            column("accuracy", "train accuracy", "f4", "train"),
            column("val_accuracy", "validation accuracy", "f4", "validation"),
            column("gap", "train - validation accuracy", "f4"), column("epoch_seconds", "seconds", "f2")]
    final = [{"model": "final" + (f" (best weights, epoch {restored})" if restored else f" (epoch {len(rows)})"),
              **{k: m[k] for k in ("train_accuracy", "validation_accuracy", "test_loss", "test_accuracy")}}]
    return {
        "tables": [
            table("results", "Per epoch", cols, rows,
                  "Training loss and accuracy are the running means Keras logs during each epoch."),
            table("final", "The model at the end", [
                column("model", "model", "text"), column("train_accuracy", "train accuracy", "f4", "train"),
                column("validation_accuracy", "validation accuracy", "f4", "validation"),
                column("test_loss", "test loss (reported only)", "f4", "test"),
                column("test_accuracy", "test accuracy (reported only)", "f4", "test")], final),
        ],
        "analysis": {"best_epoch": best, "overfits_from": rising, "restored_epoch": restored},
        "findings": findings,
    }


def _plot_epochs(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from .plots import plot_curves

    rows = data["tables"][0]["rows"]
    history = {k: [r[k] for r in rows] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    best = data["analysis"]["best_epoch"]
    plot_curves(history, folder / "curves.png", title=f"train vs validation, lowest validation loss at epoch {best}",
                mark_epoch=best)
    return [{"file": "curves.png",
             "caption": "Loss and accuracy per epoch on the training images and the validation split; the vertical "
                        "line marks the epoch with the lowest validation loss."}]


# --------------------------------------------------------------------------------------------------
# 3. Normalization


def normalization_findings(rows: list[dict[str, Any]]) -> list[str]:
    """Findings from the two rows (``normalize`` True and False) of the normalization experiment.

    Example:
        >>> rows = [{"normalize": True, "train_loss": 0.30, "validation_loss": 0.33, "validation_accuracy": 0.88,
        ...          "test_accuracy": 0.87}, {"normalize": False, "train_loss": 0.60, "validation_loss": 0.66,
        ...          "validation_accuracy": 0.80, "test_accuracy": 0.79}]
        >>> normalization_findings(rows)[0]
        'Without /255 the final training loss is 2.00 times as high (0.6000 against 0.3000) and the validation loss 2.00 times (0.6600 against 0.3300).'
    """
    on = next(r for r in rows if r["normalize"])
    off = next(r for r in rows if not r["normalize"])
    ratio = off["train_loss"] / on["train_loss"]
    val_ratio = off["validation_loss"] / on["validation_loss"]
    findings = [
        f"Without /255 the final training loss is {ratio:.2f} times as high ({off['train_loss']:.4f} against "
        f"{on['train_loss']:.4f}) and the validation loss {val_ratio:.2f} times ({off['validation_loss']:.4f} against "
        f"{on['validation_loss']:.4f}).",
        f"Validation accuracy is {on['validation_accuracy']:.4f} with /255 and {off['validation_accuracy']:.4f} without "
        f"(test, reported only: {on['test_accuracy']:.4f} and {off['test_accuracy']:.4f}).",
    ]
    if ratio > 1:
        findings.append("Raw 0-255 pixels make the inputs 255 times larger, so the first layer's outputs and the softmax "
                        "saturate and the network learns far less in the same epochs; dividing by 255 fixes that for free.")
    else:
        findings.append("In this run the raw pixels did not raise the loss; try more epochs or another seed.")
    return findings


def _run_normalization(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    rows, curves = [], []
    for normalize in (True, False):
        label = "pixels / 255" if normalize else "raw 0-255 pixels"
        m = _train_one(opts.train_config(normalize=normalize), dataset, folder,
                       "normalized" if normalize else "raw", verbose=False)
        say(f"  {label:<17}: final train loss {m['metrics']['train_loss']:.4f}, validation loss {m['validation_loss']:.4f}, "
            f"validation accuracy {m['validation_accuracy']:.4f}")
        rows.append({"variant": label, "normalize": normalize, **{k: m[k] for k in (
            "train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "test_loss", "test_accuracy")}})
        curves.append({"variant": label, "history": {k: m["history"][k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}})
    on, off = rows
    ratios = {"train_loss_ratio": off["train_loss"] / on["train_loss"],
              "validation_loss_ratio": off["validation_loss"] / on["validation_loss"]}
    epochs = []
    for i in range(len(curves[0]["history"]["loss"])):
        epoch = {"epoch": i + 1}
        for c, suffix in zip(curves, ("normalized", "raw")):
            for k in ("loss", "val_loss", "accuracy", "val_accuracy"):
                values = c["history"][k]
                epoch[f"{k}_{suffix}"] = values[i] if i < len(values) else None
        epochs.append(epoch)
    cols = [column("variant", "input", "text"), column("train_loss", "final train loss", "f4", "train"),
            column("train_accuracy", "train accuracy", "f4", "train"),
            column("validation_loss", "validation loss", "f4", "validation"),
            column("validation_accuracy", "validation accuracy", "f4", "validation"),
            column("test_loss", "test loss (reported only)", "f4", "test"),
            column("test_accuracy", "test accuracy (reported only)", "f4", "test")]
    epoch_cols = [column("epoch", "epoch", "int")] + [
        column(f"{k}_{s}", f"{label} ({name})", "f4", "validation" if k.startswith("val") else "train")
        for s, name in (("normalized", "/255"), ("raw", "raw"))
        for k, label in (("loss", "train loss"), ("val_loss", "validation loss"))]
    return {
        "tables": [table("results", "Final metrics", cols, rows,
                         f"Final-loss ratio, raw / normalized: training {ratios['train_loss_ratio']:.2f}, "
                         f"validation {ratios['validation_loss_ratio']:.2f}. Train loss and accuracy are measured "
                         f"after training on the fitted images."),
                   table("epochs", "Loss per epoch", epoch_cols, epochs)],
        "analysis": ratios,
        "findings": normalization_findings(rows),
    }


def _plot_normalization(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from .plots import plot_compare_curves

    epochs = data["tables"][1]["rows"]
    histories = {}
    for suffix, label in (("normalized", "pixels / 255"), ("raw", "raw 0-255")):
        histories[label] = {k: [e[f"{k}_{suffix}"] for e in epochs if e[f"{k}_{suffix}"] is not None]
                            for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    plot_compare_curves(histories, folder / "normalization.png", title="the same model, with and without / 255")
    return [{"file": "normalization.png",
             "caption": "Loss and accuracy per epoch with and without dividing pixels by 255 (solid: training, "
                        "dashed: validation)."}]


# --------------------------------------------------------------------------------------------------
# 4. No Flatten


NO_FLATTEN_EXPLANATION = (
    "A Dense layer works on the last axis of its input only. Without Flatten, each 28x28 image reaches the first "
    "Dense layer as 28 rows of 28 pixels, so the layer is applied to every row separately and the network ends with "
    "one 10-way prediction per row, {output} per batch, instead of one per image. The labels hold one class per image, "
    "shape {labels}, so the loss cannot pair predictions with labels and training fails. Flatten turns each image into "
    "one vector of 784 pixels, so the network sees the whole image at once and outputs exactly one prediction per "
    "image, shape (None, 10)."
)


def _layer_rows(model, variant: str) -> list[dict[str, Any]]:
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        rows.append({"model": variant, "layer": layer.name, "type": type(layer).__name__,
                     "output_shape": str(shape), "params": int(layer.count_params())})
    return rows


def _run_no_flatten(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    from .model import build_model
    from .preprocess import prepare_images

    hidden = opts.hidden
    batch = min(opts.batch_size, len(dataset.x_train))
    x = prepare_images(dataset.x_train[:batch])
    y = dataset.y_train[:batch].astype(np.int32)
    _clear_keras()
    from ._backend import keras

    keras().utils.set_random_seed(opts.seed)
    broken = build_model(hidden, flatten=False, num_classes=len(dataset.classes), learning_rate=opts.learning_rate)
    rows = _layer_rows(broken, "without Flatten")
    output_shape = str(tuple(broken.layers[-1].output.shape))
    say("  without Flatten: " + " -> ".join(f"{r['layer']} {r['output_shape']}" for r in rows))
    say(f"  labels: shape {y.shape} (one class per image); one training step on {batch} images ...")
    example_output = np.asarray(broken.predict(x[:1], verbose=0))[0]
    try:
        loss = broken.train_on_batch(x, y)
        error = None
        say(f"  this Keras did not raise (loss {loss}); the shapes still do not match.")
    except Exception as e:  # the point of the experiment: show the real error, whatever its type
        message = " ".join(str(e).split())
        error = {"type": type(e).__name__, "message": message[:1200] + ("..." if len(message) > 1200 else "")}
        say(f"  error, as expected: {error['type']}: {error['message'][:300]}")
    _clear_keras()
    keras().utils.set_random_seed(opts.seed)
    fixed = build_model(hidden, flatten=True, num_classes=len(dataset.classes), learning_rate=opts.learning_rate)
    rows += _layer_rows(fixed, "with Flatten")
    fixed_loss = fixed.train_on_batch(x, y)
    fixed_loss = float(np.asarray(fixed_loss).ravel()[0])
    say(f"  with Flatten: one training step works, loss {fixed_loss:.4f}, output {tuple(fixed.layers[-1].output.shape)}")
    labels_shape = str((None,) if y.ndim == 1 else (None, *y.shape[1:]))
    explanation = NO_FLATTEN_EXPLANATION.format(output=output_shape, labels=labels_shape)
    findings = [
        f"Without Flatten the model outputs shape {output_shape} for labels of shape {labels_shape}: one prediction "
        f"per row of pixels, not per image.",
        (f"One training step fails with {error['type']} ({error['message'][:120]}), because the loss cannot pair "
         f"{output_shape} predictions with {labels_shape} labels."
         if error else "This Keras version did not raise on one training step, but the predictions still do not match the labels."),
        f"With Flatten the output is {tuple(fixed.layers[-1].output.shape)} and the same step trains (loss {fixed_loss:.4f}).",
        "A Dense layer only mixes the last axis, so the network needs one flat vector of 784 pixels per image to "
        "see the whole image and give one answer per image.",
    ]
    cols = [column("model", "model", "text"), column("layer", "layer", "text"), column("type", "type", "text"),
            column("output_shape", "output shape", "text"), column("params", "parameters", "int")]
    return {
        "tables": [table("results", "Layer output shapes", cols, rows,
                         f"The labels of a batch have shape {labels_shape}: one class number per image.")],
        "analysis": {"output_shape": output_shape, "labels_shape": labels_shape, "error": error,
                     "fixed_step_loss": fixed_loss, "explanation": explanation,
                     "example_image": np.asarray(dataset.x_train[0]).tolist(),
                     "example_label": int(dataset.y_train[0]), "classes": list(dataset.classes),
                     "example_output": np.round(example_output, 5).tolist()},
        "findings": findings,
        "explanation": explanation,
        "splits_note": f"This experiment builds the models and runs one training step on the first {batch} training "
                       f"images; it uses no validation or test numbers.",
    }


def _plot_no_flatten(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from .plots import plot_row_predictions

    a = data["analysis"]
    plot_row_predictions(np.asarray(a["example_image"], dtype=np.uint8), np.asarray(a["example_output"]),
                         a["classes"], folder / "no_flatten.png",
                         title=f"label: {a['classes'][a['example_label']]}")
    return [{"file": "no_flatten.png",
             "caption": "Left: one training image. Right: what the model without Flatten outputs for it (untrained): "
                        "a row of 10 class probabilities for each of the 28 pixel rows, instead of one answer."}]


# --------------------------------------------------------------------------------------------------
# 5. Callback (stop at a target accuracy)


def callback_findings(rows: list[dict[str, Any]], target: float, max_epochs: int) -> list[str]:
    """Findings from the per-epoch rows (``accuracy``, ``elapsed_seconds``) of the callback experiment.

    Example:
        >>> rows = [{"epoch": 1, "accuracy": 0.82, "elapsed_seconds": 2.5}, {"epoch": 2, "accuracy": 0.86, "elapsed_seconds": 2.9}]
        >>> callback_findings(rows, 0.85, 20)[0]
        'Training accuracy reached the 85% target at epoch 2 of at most 20, after 2.90 s of training, and the callback stopped training there.'
    """
    reached = next((r for r in rows if r["accuracy"] >= target), None)
    pct = f"{target * 100:g}%"
    if reached is None:
        best = max(rows, key=lambda r: r["accuracy"])
        return [f"Training accuracy did not reach {pct} in {max_epochs} epochs (best {best['accuracy']:.4f} at epoch "
                f"{best['epoch']}); raise --epochs or lower --target."]
    findings = [f"Training accuracy reached the {pct} target at epoch {reached['epoch']} of at most {max_epochs}, after "
                f"{reached['elapsed_seconds']:.2f} s of training, and the callback stopped training there."]
    if reached["epoch"] > 1:
        first = rows[0]["elapsed_seconds"]
        findings.append(f"The first epoch alone took {first:.2f} s because it includes compiling the model; each later "
                        f"epoch took about {(reached['elapsed_seconds'] - first) / (reached['epoch'] - 1):.2f} s.")
    return findings


def _run_callback(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    config = opts.train_config(stop_at_accuracy=opts.target)
    m = _train_one(config, dataset, folder, f"target{opts.target:g}", verbose=False)
    h = m["history"]
    elapsed = np.cumsum(m["epoch_seconds"]).tolist()
    rows = [{"epoch": i + 1, "accuracy": h["accuracy"][i], "loss": h["loss"][i],
             "val_accuracy": h["val_accuracy"][i] if "val_accuracy" in h else None,
             "epoch_seconds": m["epoch_seconds"][i], "elapsed_seconds": elapsed[i],
             "reached": h["accuracy"][i] >= opts.target} for i in range(len(h["accuracy"]))]
    for r in rows:
        say(f"  epoch {r['epoch']}: accuracy {r['accuracy']:.4f} after {r['elapsed_seconds']:.2f}s"
            + ("  <- target reached, training stopped" if r["reached"] else ""))
    reached = next((r for r in rows if r["reached"]), None)
    findings = callback_findings(rows, opts.target, opts.epochs)
    findings.append(f"The run records stopped_early: {str(m['stopped_early']).lower()} and epochs_run: {m['epochs_run']} "
                    f"in {m['run']}/metrics.json; its test accuracy, reported only, is {m['test_accuracy']:.4f}.")
    cols = [column("epoch", "epoch", "int"), column("loss", "train loss", "f4", "train"),
            column("accuracy", "train accuracy (monitored)", "f4", "train"),
            column("val_accuracy", "validation accuracy", "f4", "validation"),
            column("epoch_seconds", "epoch s", "f2"), column("elapsed_seconds", "total s", "f2"),
            column("reached", "target reached", "text")]
    return {
        "tables": [table("results", "Per epoch until the stop", cols, rows,
                         "The seed's callback watches the training accuracy that Keras logs during each epoch.")],
        "analysis": {"target": opts.target, "reached": reached is not None,
                     "epochs_to_target": reached["epoch"] if reached else None,
                     "seconds_to_target": reached["elapsed_seconds"] if reached else None,
                     "stopped_early": m["stopped_early"], "epochs_run": m["epochs_run"], "max_epochs": opts.epochs,
                     "test_accuracy": m["test_accuracy"]},
        "findings": findings,
    }


def _plot_callback(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from .plots import plot_target

    plot_target(data["tables"][0]["rows"], data["analysis"]["target"], folder / "target.png")
    return [{"file": "target.png",
             "caption": "Training accuracy against epochs and against seconds of training, with the target line; "
                        "training stops at the first epoch on or above it."}]


# --------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Experiment:
    """One experiment: its name, what it shows, its defaults and options, how it runs and how it is drawn."""

    name: str
    title: str
    summary: str
    run: Callable[..., dict[str, Any]]
    plot: Callable[[dict[str, Any], Path], list[dict[str, str]]]
    defaults: dict[str, Any] = field(default_factory=dict)
    options: frozenset[str] = frozenset()


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("layer-size", "Layer size: parameters, speed and accuracy",
               "how the size of the hidden layer changes the parameters, the time per epoch and the accuracy",
               _run_layer_size, _plot_layer_size, {"hidden": LAYER_SIZES, "epochs": 5, "repeats": 1},
               frozenset({"repeats", "predict", "epochs"})),
    Experiment("epochs", "Epochs: when does the network start to overfit?",
               "train and validation loss per epoch, the best epoch and the train-validation gap",
               _run_epochs, _plot_epochs, {"hidden": (128,), "epochs": 30}, frozenset({"restore_best", "epochs"})),
    Experiment("normalization", "Normalization: pixels / 255 or raw 0-255",
               "the same model, seed and epochs with and without dividing pixels by 255",
               _run_normalization, _plot_normalization, {"hidden": (128,), "epochs": 5}, frozenset({"epochs"})),
    Experiment("no-flatten", "No Flatten: why the network needs a flat vector per image",
               "the seed's model without Flatten: its layer shapes, the real error of one training step, and why",
               _run_no_flatten, _plot_no_flatten, {"hidden": (128,)}, frozenset()),
    Experiment("callback", "Callback: how long to reach a target accuracy",
               "epochs and seconds until the seed's callback stops training at a target accuracy",
               _run_callback, _plot_callback, {"hidden": (128,), "epochs": 20, "target": 0.85},
               frozenset({"target", "epochs"})),
)}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name raises :class:`ConfigError` listing the valid ones."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


__all__ = ["EXPERIMENTS", "Experiment", "ExperimentOptions", "ExperimentResult", "dense_params", "fit_accuracy_trend",
           "fit_cost_model", "fit_line", "first_overfit_epoch", "get_experiment", "layer_size_analysis",
           "predict_accuracy", "predict_seconds", "render", "run_experiment", "summarize_by"]
