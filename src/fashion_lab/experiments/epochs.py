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
from .stats import OVERFIT_EPOCHS, OVERFIT_RULE, OVERFIT_TOLERANCE, first_overfit_epoch
from .tables import column, table


def epochs_findings(history: dict[str, Sequence[float]], restored_epoch: int | None = None,
                    test_accuracy: float | None = None) -> list[str]:
    """One-sentence findings about overfitting from a history with ``loss``/``val_loss``/``accuracy``/``val_accuracy``.

    Overfitting is claimed only by :data:`~fashion_lab.experiments.stats.OVERFIT_RULE`: validation loss more than 2%
    above its minimum for at least the last 2 epochs. With fewer epochs after the minimum the finding says so.

    Example:
        >>> h = {"loss": [0.5, 0.4, 0.3, 0.2, 0.1], "val_loss": [0.45, 0.40, 0.42, 0.47, 0.5],
        ...      "accuracy": [0.8, 0.85, 0.9, 0.95, 0.97], "val_accuracy": [0.82, 0.85, 0.85, 0.84, 0.83]}
        >>> epochs_findings(h)[2]
        'The model overfits from epoch 3: validation loss has stayed more than 2% above its minimum of 0.4000 (epoch 2) since epoch 3, reaching 0.5000 at epoch 5, while training loss kept falling to 0.1000.'
        >>> epochs_findings({**h, "val_loss": [0.45, 0.40, 0.38, 0.37, 0.39]})[2]
        'Validation loss is lowest at epoch 4 and only 1 epoch follows it: too few epochs after the minimum to tell whether the model overfits (the model is said to overfit only when validation loss stays more than 2% above its lowest value for at least the last 2 epochs); train more epochs to see.'
    """
    val_loss, loss = history["val_loss"], history["loss"]
    n = len(val_loss)
    best, rising = first_overfit_epoch(val_loss)
    gap = history["accuracy"][-1] - history["val_accuracy"][-1]
    after = n - best
    findings = [
        f"Validation loss is lowest at epoch {best} of {n} ({val_loss[best - 1]:.4f}).",
        f"At the last epoch training accuracy is {history['accuracy'][-1]:.4f} and validation accuracy "
        f"{history['val_accuracy'][-1]:.4f}, a gap of {gap:.4f}.",
    ]
    if rising is not None:
        falling = loss[-1] < loss[best - 1]
        findings.append(f"The model overfits from epoch {rising}: validation loss has stayed more than "
                        f"{OVERFIT_TOLERANCE:.0%} above its minimum of {val_loss[best - 1]:.4f} (epoch {best}) since epoch "
                        f"{rising}, reaching {val_loss[-1]:.4f} at epoch {n}, "
                        + (f"while training loss kept falling to {loss[-1]:.4f}." if falling else
                           f"and training loss is {loss[-1]:.4f} (it did not keep falling)."))
    elif after == 0:
        findings.append(f"Validation loss is still at its lowest at the last epoch ({n}): no sign of overfitting "
                        f"within {n} epoch{'s' if n != 1 else ''}.")
    elif after < OVERFIT_EPOCHS:
        findings.append(f"Validation loss is lowest at epoch {best} and only {after} epoch{'s' if after != 1 else ''} "
                        f"follow{'s' if after == 1 else ''} it: too few epochs after the minimum to tell whether the model "
                        f"overfits ({OVERFIT_RULE}); train more epochs to see.")
    else:
        findings.append(f"Validation loss has not gone below its minimum of epoch {best} in the {after} epochs since, "
                        f"but it has not stayed more than {OVERFIT_TOLERANCE:.0%} above it for the last {OVERFIT_EPOCHS} "
                        f"epochs: no sign of overfitting within {n} epochs ({OVERFIT_RULE}).")
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


def _config(opts: ExperimentOptions):
    return opts.train_config(restore_best=opts.restore_best)


def check(opts: ExperimentOptions, dataset, say) -> None:
    """Refuse a network too big for the memory before training (training itself prints the time estimate)."""
    measure.check_configs([_config(opts)], dataset)


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    config = _config(opts)
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
                  "Training loss and accuracy are the running means Keras logs during each epoch. "
                  f"Overfitting: {OVERFIT_RULE}."),
            table("final", "The model at the end", [
                column("model", "model", "text"), column("train_accuracy", "train accuracy", "f4", "train"),
                column("validation_accuracy", "validation accuracy", "f4", "validation"),
                column("test_loss", "test loss (reported only)", "f4", "test"),
                column("test_accuracy", "test accuracy (reported only)", "f4", "test")], final),
        ],
        "analysis": {"best_epoch": best, "overfits_from": rising, "overfit_rule": OVERFIT_RULE,
                     "restored_epoch": restored},
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


__all__ = ["check", "epochs_findings", "plot", "run"]
