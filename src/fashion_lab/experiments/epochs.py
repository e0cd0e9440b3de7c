"""Epochs: training and validation loss per epoch, the epoch with the lowest validation loss, the
train-validation gap, and whether (and from which epoch) the network overfits.

Run it: ``fashion-lab experiment epochs --epochs 30 --restore-best``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import measure
from .options import ExperimentOptions
from .stats import OVERFIT_TOLERANCE, first_overfit_epoch
from .tables import column, table


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


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    config = opts.train_config(restore_best=opts.restore_best)
    m = measure.train_one(config, dataset, folder, f"epochs{opts.epochs}", verbose=verbose)
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


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_curves

    rows = data["tables"][0]["rows"]
    history = {k: [r[k] for r in rows] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    best = data["analysis"]["best_epoch"]
    plot_curves(history, folder / "curves.png", title=f"train vs validation, lowest validation loss at epoch {best}",
                mark_epoch=best)
    return [{"file": "curves.png",
             "caption": "Loss and accuracy per epoch on the training images and the validation split; the vertical "
                        "line marks the epoch with the lowest validation loss."}]


__all__ = ["epochs_findings", "plot", "run"]
