"""Layer size: parameters, time per epoch (the first, with compilation, apart) and accuracy per hidden size,
with a least-squares cost model and accuracy trend that predict sizes not (or also) run.

Run it: ``fashion-lab experiment layer-size --hidden 32 128 512 --epochs 2 --predict 2048``.

Example:
    >>> rows = [{"hidden": h, "params": dense_params([h]), "seconds_per_epoch": 0.1 + dense_params([h]) * 1e-6,
    ...          "validation_accuracy": 0.8 + 0.01 * math.log2(h / 16)} for h in (16, 64, 256)]
    >>> round(layer_size_analysis(rows)["accuracy_trend"]["per_doubling"], 3)
    0.01
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import measure
from .options import ExperimentOptions
from .stats import (dense_params, fit_accuracy_trend, fit_cost_model, predict_accuracy, predict_seconds,
                    summarize_by)
from .tables import column, table

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


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    from .. import _fastfit

    raw = []
    for size in opts.hidden:
        # The first seed of each size compiles its training epoch (and its first epoch is timed with it),
        # even when this process trained that architecture before; later seeds reuse it.
        _fastfit.forget_compiled()
        for r in range(opts.repeats):
            seed = opts.seed + r
            config = opts.train_config(hidden=(size,), seed=seed)
            m = measure.train_one(config, dataset, folder, f"h{size}-seed{seed}", verbose=False)
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


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_layer_size_accuracy, plot_layer_size_time

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


__all__ = ["layer_size_analysis", "layer_size_findings", "plot", "run"]
