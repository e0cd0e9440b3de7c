"""Callback: epochs and seconds until the seed's callback (:class:`~fashion_lab.callbacks.StopAtAccuracy`) stops
training at a target training accuracy.

Run it: ``fashion-lab experiment callback --target 0.85``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import measure
from .options import ExperimentOptions
from .tables import column, table


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


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    config = opts.train_config(stop_at_accuracy=opts.target)
    m = measure.train_one(config, dataset, folder, f"target{opts.target:g}", verbose=False)
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


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_target

    plot_target(data["tables"][0]["rows"], data["analysis"]["target"], folder / "target.png")
    return [{"file": "target.png",
             "caption": "Training accuracy against epochs and against seconds of training, with the target line; "
                        "training stops at the first epoch on or above it."}]


__all__ = ["callback_findings", "plot", "run"]
