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

import math  # the examples below use it
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import measure
from .options import ExperimentOptions
from .stats import (MIN_FIT_SIZES, RETURNS_TOLERANCE, dense_params, fit_accuracy_trend, fit_cost_model,
                    gains_per_doubling, predict_accuracy, predict_seconds, summarize_by)
from .tables import column, table

_SIZE_METRICS = ("params", "fit_seconds", "first_epoch_seconds", "seconds_per_epoch", "samples_per_second",
                 "train_accuracy", "validation_accuracy", "test_accuracy", "validation_loss", "test_loss")


def _timed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose later epochs were timed (a size trained for one epoch has no later epoch)."""
    return [r for r in rows if r.get("seconds_per_epoch") is not None]


def _layer_size_models(rows: list[dict[str, Any]], exclude: int | None = None) -> tuple[dict | None, dict | None]:
    """Cost model and accuracy trend fitted on the summary rows (leaving out size ``exclude``), each None when
    fewer than :data:`~.stats.MIN_FIT_SIZES` sizes are there to fit it on (the cost model counts timed sizes only)."""
    use = [r for r in rows if r["hidden"] != exclude]
    timed = _timed(use)
    cost = (fit_cost_model([r["params"] for r in timed], [r["seconds_per_epoch"] for r in timed])
            if len({r["hidden"] for r in timed}) >= MIN_FIT_SIZES else None)
    trend = (fit_accuracy_trend([r["hidden"] for r in use], [r["validation_accuracy"] for r in use])
             if len({r["hidden"] for r in use}) >= MIN_FIT_SIZES else None)
    return cost, trend


def layer_size_analysis(summary: list[dict[str, Any]], predict: Sequence[int] = ()) -> dict[str, Any]:
    """Fit the cost model and accuracy trend on per-size rows and predict ``predict`` sizes.

    ``summary`` rows need ``hidden``, ``params``, ``seconds_per_epoch`` (None when there was no later epoch) and
    ``validation_accuracy``. Each fit needs at least 3 sizes (:data:`~.stats.MIN_FIT_SIZES`): a line through two
    points always fits exactly and says nothing. A predicted size that was also measured is predicted from the
    *other* sizes, so prediction and measurement can be compared. A cost model whose cost per parameter came out
    negative describes timing noise, so it predicts no times.

    Example:
        >>> rows = [{"hidden": h, "params": dense_params([h]), "seconds_per_epoch": 0.2 + dense_params([h]) * 1e-6,
        ...          "validation_accuracy": 0.8 + 0.01 * math.log2(h / 16)} for h in (16, 64, 256, 1024)]
        >>> analysis = layer_size_analysis(rows, predict=[64, 4096])
        >>> round(analysis["cost_model"]["per_million_params"], 3)
        1.0
        >>> [(p["hidden"], round(p["predicted_seconds_per_epoch"], 3), p["measured_seconds_per_epoch"] is not None)
        ...  for p in analysis["predictions"]]
        [(64, 0.251, True), (4096, 3.456, False)]
        >>> layer_size_analysis(rows[:2])["cost_model"] is None  # two sizes: too few to fit
        True
    """
    cost, trend = _layer_size_models(summary)
    by_size = {r["hidden"]: r for r in summary}
    predictions, unpredicted = [], []
    for size in predict:
        c, t = _layer_size_models(summary, exclude=size) if size in by_size else (cost, trend)
        c = c if c is not None and c["per_param"] > 0 else None
        if c is None and t is None:  # too few other sizes to fit on
            unpredicted.append(size)
            continue
        params = dense_params([size])
        measured = by_size.get(size, {})
        predictions.append({
            "hidden": size,
            "params": params,
            "predicted_seconds_per_epoch": predict_seconds(c, params) if c else None,
            "predicted_validation_accuracy": predict_accuracy(t, size) if t else None,
            "measured_seconds_per_epoch": measured.get("seconds_per_epoch"),
            "measured_validation_accuracy": measured.get("validation_accuracy"),
            "fitted_on": sorted(r["hidden"] for r in summary if r["hidden"] != size),
        })
    return {"cost_model": cost, "accuracy_trend": trend, "predictions": predictions, "unpredicted": unpredicted,
            "min_fit_sizes": MIN_FIT_SIZES}


def _seconds(rows: list[dict[str, Any]], key: str) -> str:
    """"6.83 s (32 units) and 7.10 s (128 units)": a time for each size."""
    parts = [f"{r[key]:.2f} s ({r['hidden']} units)" for r in rows]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _cost_finding(cost: dict[str, Any], small: dict[str, Any]) -> str:
    head = f"Cost model (least squares over {cost['points']} sizes, R² = {cost['r2']:.3f}): "
    if cost["per_param"] <= 0:
        return (head + f"the fitted cost per million parameters is negative ({cost['per_million_params']:.3f} s), so "
                "the time per epoch did not grow with the parameters in this run: the timing is dominated by noise, "
                "not by the weights, and the model predicts no times. Train more epochs or larger sizes to measure it.")
    sentence = head + (f"seconds per epoch = {cost['fixed']:.3f} + {cost['per_million_params']:.3f} x millions of "
                       f"parameters")
    weights = cost["per_param"] * small["params"]
    if cost["fixed"] <= 0:
        sentence += "; its fixed cost is not positive, so it cannot separate overhead from the weights' cost"
    elif cost["fixed"] > weights:
        sentence += (f", so at {small['hidden']} units the fixed per-epoch overhead ({cost['fixed']:.3f} s) is larger "
                     f"than the weights' cost ({weights:.3f} s)")
    else:
        sentence += (f", so from {small['hidden']} units on the weights' cost ({weights:.3f} s there) is larger than "
                     f"the fixed overhead ({cost['fixed']:.3f} s)")
    if cost["r2"] < 0.9:
        sentence += "; the line explains little of the variation (R² below 0.9)"
    return sentence + "."


def _returns_finding(rows: list[dict[str, Any]]) -> str:
    small, large = gains_per_doubling([r["hidden"] for r in rows], [r["validation_accuracy"] for r in rows])
    s, g = small["per_doubling"], large["per_doubling"]
    if s <= 0 and g <= 0:
        verdict = "validation accuracy does not grow with the layer in this run"
    elif g < s - RETURNS_TOLERANCE:
        verdict = "returns diminish"
    elif g > s + RETURNS_TOLERANCE:
        verdict = "returns do not diminish (the larger sizes gain more per doubling)"
    else:
        verdict = f"returns do not diminish (the two gains are within {RETURNS_TOLERANCE} of each other)"
    sentence = (f"Validation accuracy changes by {s:+.4f} per doubling from {small['from']} to {small['to']} units and "
                f"by {g:+.4f} per doubling from {large['from']} to {large['to']} units: {verdict}")
    first, last = rows[0], rows[-1]
    if first.get("seconds_per_epoch") is None or last.get("seconds_per_epoch") is None:
        return sentence + "; the time per epoch after the first was not measured (one epoch per size)."
    a, b = first["seconds_per_epoch"], last["seconds_per_epoch"]
    if b > a:
        return sentence + f", while the time per epoch rose from {a:.2f} s to {b:.2f} s ({b / a:.1f} times)."
    return (sentence + f", and the time per epoch did not rise ({a:.2f} s at {first['hidden']} units, {b:.2f} s at "
            f"{last['hidden']} units).")


def layer_size_findings(summary: list[dict[str, Any]], analysis: dict[str, Any]) -> list[str]:
    """One-sentence findings from the per-size rows and their analysis (pure, for tests and reports).

    Each sentence holds only what was measured: no time per later epoch when each size trained one epoch, no fit
    from fewer than :data:`~.stats.MIN_FIT_SIZES` sizes, no reading of a negative cost per parameter as overhead,
    and "diminishing returns" only when the larger sizes gain less per doubling than the smaller ones.

    Example:
        >>> rows = [{"hidden": h, "params": dense_params([h]), "first_epoch_seconds": 6.83, "seconds_per_epoch": None,
        ...          "validation_accuracy": a, "test_accuracy": a} for h, a in ((32, 0.83), (128, 0.84))]
        >>> layer_size_findings(rows, layer_size_analysis(rows))[1]
        'Each size trained for only one epoch, so there is no later epoch to time: the first epoch, which includes compiling the model, took 6.83 s (32 units) and 6.83 s (128 units). Train 2 or more epochs to measure the time per epoch without compilation.'
    """
    rows = sorted(summary, key=lambda r: r["hidden"])
    small, big = rows[0], rows[-1]
    timed = _timed(rows)
    findings = []
    if len(rows) > 1:
        sentence = (f"Going from {small['hidden']} to {big['hidden']} units takes the network from {small['params']:,} "
                    f"to {big['params']:,} parameters")
        if small in timed and big in timed:
            sentence += (f" and each epoch after the first from {small['seconds_per_epoch']:.2f} s to "
                         f"{big['seconds_per_epoch']:.2f} s")
        findings.append(sentence + f", while validation accuracy moves from {small['validation_accuracy']:.4f} to "
                                   f"{big['validation_accuracy']:.4f}.")
    if not timed:
        findings.append(f"Each size trained for only one epoch, so there is no later epoch to time: the first epoch, "
                        f"which includes compiling the model, took {_seconds(rows, 'first_epoch_seconds')}. Train 2 or "
                        f"more epochs to measure the time per epoch without compilation.")
    else:
        first = np.mean([r["first_epoch_seconds"] for r in timed])
        later = np.mean([r["seconds_per_epoch"] for r in timed])
        findings.append(f"The first epoch, which includes compiling the model, took {first:.2f} s on average against "
                        f"{later:.2f} s for each later epoch, so it is reported apart.")
    cost, trend = analysis.get("cost_model"), analysis.get("accuracy_trend")
    if len(rows) < MIN_FIT_SIZES:
        findings.append(f"There are too few sizes to fit a cost model or an accuracy trend: a fit needs at least "
                        f"{MIN_FIT_SIZES} sizes (a line through 2 points always fits exactly), and this run has "
                        f"{len(rows)}. Add sizes to --hidden.")
    elif cost is None:
        findings.append(f"No cost model: it is fitted on the time of later epochs, and only {len(timed)} of the "
                        f"{len(rows)} sizes had one (at least {MIN_FIT_SIZES} needed). Train 2 or more epochs.")
    else:
        findings.append(_cost_finding(cost, small))
    if trend:
        direction = "gains" if trend["per_doubling"] > 0 else "loses"
        findings.append(f"Accuracy trend (least squares over {trend['points']} sizes, R² = {trend['r2']:.2f}): "
                        f"validation accuracy {direction} about {abs(trend['per_doubling']):.4f} per doubling of the layer.")
        findings.append(_returns_finding(rows))
    best = max(rows, key=lambda r: r["validation_accuracy"])
    findings.append(f"Chosen on validation accuracy, {best['hidden']} units is best ({best['validation_accuracy']:.4f}); "
                    f"its test accuracy, reported only, is {best['test_accuracy']:.4f}.")
    for p in analysis.get("predictions", []):
        predicted = []
        if p["predicted_seconds_per_epoch"] is not None:
            predicted.append(f"{p['predicted_seconds_per_epoch']:.2f} s per epoch")
        if p["predicted_validation_accuracy"] is not None:
            predicted.append(f"validation accuracy {p['predicted_validation_accuracy']:.4f}")
        sentence = (f"Predicted for {p['hidden']} units ({p['params']:,} parameters, fitted on sizes "
                    f"{', '.join(map(str, p['fitted_on']))}): {' and '.join(predicted)}")
        if p["predicted_seconds_per_epoch"] is None:
            sentence += " (no time: the cost model is missing or its cost per parameter is negative)"
        if p["measured_validation_accuracy"] is not None:
            measured = [f"{p['measured_validation_accuracy']:.4f}"]
            if p["measured_seconds_per_epoch"] is not None:
                measured.insert(0, f"{p['measured_seconds_per_epoch']:.2f} s")
            sentence += f"; measured {' and '.join(measured)}."
        else:
            sentence += " (not measured; an extrapolation)."
        findings.append(sentence)
    if analysis.get("unpredicted"):
        findings.append(f"No prediction for {', '.join(map(str, analysis['unpredicted']))} units: a fit needs at least "
                        f"{MIN_FIT_SIZES} other measured sizes; add sizes to --hidden.")
    return findings


def check(opts: ExperimentOptions, dataset, say) -> None:
    """Refuse a size too big for the memory before any size trains; say how long large sizes take per epoch."""
    measure.check_configs([opts.train_config(hidden=(size,)) for size in opts.hidden], dataset, say)


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
            later = (f"then {m['seconds_per_epoch']:.2f}s/epoch ({m['samples_per_second']:,.0f} samples/s)"
                     if m["seconds_per_epoch"] is not None else "no later epoch")
            say(f"  hidden {size:>5} (seed {seed}): {m['params']:>9,} params, first epoch {m['first_epoch_seconds']:.2f}s, "
                f"{later}, validation accuracy {m['validation_accuracy']:.4f}, test {m['test_accuracy']:.4f}")
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
        say(f"cost model: seconds/epoch = {cost['fixed']:.4f} + {cost['per_million_params']:.4f} x params/1e6 (R² {cost['r2']:.3f})"
            + ("; negative cost per parameter: timing noise" if cost["per_param"] <= 0 else ""))
    if trend:
        say(f"accuracy trend: validation accuracy {trend['per_doubling']:+.4f} per doubling of the layer (R² {trend['r2']:.2f})")
    for p in analysis["predictions"]:
        parts = [f"{p['predicted_seconds_per_epoch']:.3f} s/epoch" if p["predicted_seconds_per_epoch"] is not None else None,
                 f"validation accuracy {p['predicted_validation_accuracy']:.4f}"
                 if p["predicted_validation_accuracy"] is not None else None]
        measured = [f"{p['measured_seconds_per_epoch']:.3f} s" if p["measured_seconds_per_epoch"] is not None else None,
                    f"{p['measured_validation_accuracy']:.4f}" if p["measured_validation_accuracy"] is not None else None]
        say(f"prediction for {p['hidden']} units: {', '.join(x for x in parts if x)}"
            + (f" (measured {', '.join(x for x in measured if x)})" if any(measured) else ""))
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
                    "Seconds per epoch are the mean of the epochs after the first; samples/s follow from them "
                    "(- when each size trained one epoch: there is no later epoch to time)." + repeats_note)]
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
         "caption": "Train, validation and test accuracy against layer size (log scale)"
                    + ("; the dotted line is the accuracy trend fitted on validation accuracy."
                       if analysis["accuracy_trend"] else ".")},
        {"file": "time_vs_size.png",
         "caption": "Seconds per epoch against layer size (log scale): "
                    + ", ".join(part for part, shown in (
                        ("later epochs (mean)", any(r.get("seconds_per_epoch") is not None for r in rows)),
                        ("the first epoch (with compilation)", True),
                        ("the least-squares cost model", analysis["cost_model"] is not None)) if shown) + "."},
    ]


__all__ = ["check", "layer_size_analysis", "layer_size_findings", "plot", "run"]
