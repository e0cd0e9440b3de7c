"""Normalization: the same model, seed and epochs with pixels / 255 and with raw 0-255 pixels.

Run it: ``fashion-lab experiment normalization``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import measure
from .options import ExperimentOptions
from .tables import column, table


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


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    rows, curves = [], []
    for normalize in (True, False):
        label = "pixels / 255" if normalize else "raw 0-255 pixels"
        m = measure.train_one(opts.train_config(normalize=normalize), dataset, folder,
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


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_compare_curves

    epochs = data["tables"][1]["rows"]
    histories = {}
    for suffix, label in (("normalized", "pixels / 255"), ("raw", "raw 0-255")):
        histories[label] = {k: [e[f"{k}_{suffix}"] for e in epochs if e[f"{k}_{suffix}"] is not None]
                            for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    plot_compare_curves(histories, folder / "normalization.png", title="the same model, with and without / 255")
    return [{"file": "normalization.png",
             "caption": "Loss and accuracy per epoch with and without dividing pixels by 255 (solid: training, "
                        "dashed: validation)."}]


__all__ = ["normalization_findings", "plot", "run"]
