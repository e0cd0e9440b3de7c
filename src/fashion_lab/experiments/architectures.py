"""Architectures: the seed's network, the best-mlp preset and the course's CNN side by side on the same split.

Each architecture trains with its own recipe (:mod:`fashion_lab.presets`; the seed's is the defaults) on the same
training images, validation split and seeds: parameters, fit seconds, samples per second, validation and test
accuracy (mean ± std over ``--repeats``) and the curves. The findings say, step by step, what each architecture
bought over the one before (validation accuracy) and what it cost (fit time, parameters), and whether the
difference stands out of the seed-to-seed spread.

Run it: ``fashion-lab experiment architectures`` (about 4 minutes of fit on 2 quiet cores); shorter:
``fashion-lab experiment architectures --epochs 2 --train-images 6000 --architectures seed cnn``.

Example:
    >>> rows = [{"architecture": "seed", "repeats": 1, "params": 101770, "fit_seconds": 2.0, "validation_accuracy": 0.87,
    ...          "validation_accuracy_std": 0.0, "test_accuracy": 0.86},
    ...         {"architecture": "cnn", "repeats": 1, "params": 243786, "fit_seconds": 60.0, "validation_accuracy": 0.91,
    ...          "validation_accuracy_std": 0.0, "test_accuracy": 0.90}]
    >>> architecture_findings(rows)[0]
    'cnn over seed: validation accuracy +0.0400 (0.8700 -> 0.9100) for 30.0x the fit time (2.0 s -> 60.0 s) and 2.4x the parameters (101,770 -> 243,786).'
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from . import measure
from .options import ExperimentOptions
from .registry import ARCHITECTURES
from .stats import summarize_by
from .tables import column, table

_METRICS = ("params", "epochs_run", "fit_seconds", "seconds_per_epoch", "samples_per_second", "train_accuracy",
            "validation_accuracy", "test_accuracy")


def architecture_config(name: str, opts: ExperimentOptions):
    """The :class:`~fashion_lab.TrainConfig` of architecture ``name`` under ``opts`` (split, seed, data; epochs when
    given, else the recipe's own)."""
    from ..presets import resolve

    shared = dict(dataset=opts.dataset, data_dir=opts.data_dir, verify=opts.verify,
                  validation_split=opts.validation_split, seed=opts.seed)
    if opts.epochs is not None:
        shared["epochs"] = opts.epochs
    return resolve(None if name == "seed" else name, **shared)  # the others are presets of the same name


def _spread(row: dict[str, Any]) -> float:
    return row.get("validation_accuracy_std") or 0.0


def architecture_findings(rows: list[dict[str, Any]]) -> list[str]:
    """Sentences computed from the per-architecture rows (in comparison order): each step's gain and cost, whether
    the gain stands out of the seed-to-seed spread, and the one chosen on validation accuracy.

    Example:
        >>> rows = [{"architecture": a, "repeats": 3, "params": p, "fit_seconds": s, "validation_accuracy": v,
        ...          "validation_accuracy_std": 0.002, "test_accuracy": v} for a, p, s, v in
        ...         (("seed", 101770, 2.0, 0.870), ("best-mlp", 1333770, 100.0, 0.871))]
        >>> architecture_findings(rows)[1]
        'best-mlp over seed: the difference (+0.0010) is within twice the seed-to-seed spread (0.0057, 3 seeds each), so these runs do not show that it is better.'
    """
    findings = []
    for before, after in zip(rows, rows[1:]):
        gain = after["validation_accuracy"] - before["validation_accuracy"]
        findings.append(
            f"{after['architecture']} over {before['architecture']}: validation accuracy {gain:+.4f} "
            f"({before['validation_accuracy']:.4f} -> {after['validation_accuracy']:.4f}) for "
            f"{after['fit_seconds'] / before['fit_seconds']:.1f}x the fit time ({before['fit_seconds']:.1f} s -> "
            f"{after['fit_seconds']:.1f} s) and {after['params'] / before['params']:.1f}x the parameters "
            f"({before['params']:,} -> {after['params']:,}).")
        repeats = min(before["repeats"], after["repeats"])
        if repeats < 2:
            findings.append(f"{after['architecture']} over {before['architecture']}: one run each, so the seed-to-seed "
                            f"spread is not measured and a difference this size may be noise; run --repeats 3 to see it.")
        else:
            noise = 2 * math.hypot(_spread(before), _spread(after))
            if abs(gain) > noise:
                findings.append(f"{after['architecture']} over {before['architecture']}: the difference ({gain:+.4f}) is "
                                f"more than twice the seed-to-seed spread ({noise:.4f}, {repeats} seeds each).")
            else:
                findings.append(f"{after['architecture']} over {before['architecture']}: the difference ({gain:+.4f}) is "
                                f"within twice the seed-to-seed spread ({noise:.4f}, {repeats} seeds each), so these "
                                f"runs do not show that it is better.")
    best = max(rows, key=lambda r: r["validation_accuracy"])
    findings.append(f"Chosen on validation accuracy: {best['architecture']} ({best['validation_accuracy']:.4f}); its test "
                    f"accuracy, reported only, is {best['test_accuracy']:.4f}.")
    return findings


def check(opts: ExperimentOptions, dataset, say) -> None:
    """Refuse an architecture too big for the memory before the first one trains."""
    measure.check_configs([architecture_config(name, opts) for name in ARCHITECTURES if name in opts.architectures],
                          dataset, say)


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    raw, curves = [], {}
    for name in [a for a in ARCHITECTURES if a in opts.architectures]:  # in comparison order
        for r in range(opts.repeats):
            seed = opts.seed + r
            config = architecture_config(name, opts).replace(seed=seed)
            m = measure.train_one(config, dataset, folder, f"{name}-seed{seed}", verbose=False)
            raw.append({"architecture": name, "seed": seed, "run": m["run"], **{k: m[k] for k in _METRICS}})
            curves.setdefault(name, {k: m["history"].get(k, []) for k in ("loss", "accuracy", "val_loss", "val_accuracy")})
            rate = (f" ({m['samples_per_second']:,.0f} samples/s after the first epoch)"
                    if m["samples_per_second"] is not None else "")  # one epoch: no later epoch to time
            say(f"  {name:<9} (seed {seed}): {m['params']:>9,} params, {m['epochs_run']} epochs, fit {m['fit_seconds']:.1f}s"
                f"{rate}, validation accuracy {m['validation_accuracy']:.4f}, test {m['test_accuracy']:.4f}")
    summary = summarize_by(raw, "architecture", [k for k in _METRICS if k != "params"])
    for row in summary:
        row["params"] = next(r["params"] for r in raw if r["architecture"] == row["architecture"])
        row["recipe"] = _recipe(row["architecture"], opts)
    columns = [column("architecture", "architecture", "text"), column("recipe", "recipe", "text"),
               column("params", "parameters", "int"), column("epochs_run", "epochs", "int"),
               column("fit_seconds", "fit s", "f2"), column("samples_per_second", "samples/s (later epochs)", "int"),
               column("train_accuracy", "train accuracy", "f4", "train"),
               column("validation_accuracy", "validation accuracy", "f4", "validation"),
               column("test_accuracy", "test accuracy (reported only)", "f4", "test")]
    note = (f"Mean ± standard deviation over {opts.repeats} seeds ({opts.seed}..{opts.seed + opts.repeats - 1})."
            if opts.repeats > 1 else "One seed each: no spread measured.")
    tables = [table("results", "Per architecture", columns, summary,
                    note + " Fit seconds include the first epoch's compilation; samples/s come from the later epochs.")]
    if opts.repeats > 1:
        tables.append(table("runs", "Every run", [column("seed", "seed", "int")] + columns[:1] + columns[2:], raw))
    return {"tables": tables, "analysis": {"curves": curves}, "findings": architecture_findings(summary)}


def _recipe(name: str, opts: ExperimentOptions) -> str:
    config = architecture_config(name, opts)
    parts = [f"{config.model} {'x'.join(map(str, config.hidden))}", f"batch {config.batch_size}"]
    if config.dropout:
        parts.append(f"dropout {config.dropout:g}")
    if config.standardize != "none":
        parts.append(f"{config.standardize} standardization")
    if config.label_smoothing:
        parts.append(f"label smoothing {config.label_smoothing:g}")
    parts.append(f"AdamW {config.weight_decay:g}" if config.weight_decay else "Adam")
    if config.lr_schedule != "constant":
        parts.append(f"{config.lr_schedule} schedule, {config.warmup_epochs:g} warm-up epochs")
    return ", ".join(parts)


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_compare_curves

    plot_compare_curves(data["analysis"]["curves"], folder / "architectures.png",
                        title="the seed's network, best-mlp and the CNN on the same split")
    return [{"file": "architectures.png",
             "caption": "Loss and accuracy per epoch of each architecture's first seed (solid: training, dashed: "
                        "validation). With label smoothing the loss has a higher floor, so compare accuracy."}]


__all__ = ["architecture_config", "architecture_findings", "plot", "run"]
