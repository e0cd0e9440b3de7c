"""Evaluate a trained run on the test set: loss, accuracy, per-class accuracy, confusion matrix.

Example:
    >>> from fashion_lab import evaluate_run
    >>> report = evaluate_run("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    >>> report["per_class_accuracy"]["Trouser"]  # doctest: +SKIP
    0.963
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _atomic, inference, mistakes, runs
from .datasets import Dataset, open_dataset
from .preprocess import prepare_images, prepare_labels

MISCLASSIFIED_SHOWN = 36  # images in misclassified.png


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: ``matrix[i, j]`` = images of class i predicted as j.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    flat = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def predict_probabilities(model, images: np.ndarray, *, normalized: bool = True) -> np.ndarray:
    """Class probabilities for uint8 images, with the same preprocessing as training (a Keras model or the
    NumPy network :meth:`fashion_lab.runs.Run.load_predictor` gives)."""
    return inference.probabilities(model, prepare_images(images, normalized=normalized))


def evaluate_run(run_dir: str | os.PathLike[str], *, dataset: Dataset | None = None, write: bool = True) -> dict[str, Any]:
    """Evaluate a run's model on its dataset's test split; write ``evaluation.json`` and ``confusion.png``.

    Returns a dict with ``test_loss``, ``test_accuracy``, ``per_class_accuracy`` (class name -> accuracy),
    ``confusion_matrix`` (rows true, columns predicted) and ``classes``; and, to look inside the mistakes
    (:mod:`fashion_lab.mistakes`), ``per_class_precision``, ``per_class_recall``, ``most_confused`` (the
    largest off-diagonal cells), ``misclassified_count`` and ``misclassified_shown`` (the test indices in
    ``misclassified.png``, a grid of the most confident mistakes labelled true -> predicted).
    """
    run = runs.load_run(run_dir)
    # NumPy for a dense network: no Keras import (see fashion_lab.inference); Keras's own model when the loss
    # to report is the label-smoothed one the run trained with.
    model = run.load_model() if run.config.label_smoothing else run.load_predictor()
    config = run.config
    if dataset is None:
        dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify)
    x_test, y_test = dataset.x_test, dataset.y_test.astype(np.int64)
    x = prepare_images(x_test, normalized=config.normalize)
    probs = inference.probabilities(model, x)
    predicted = probs.argmax(axis=1)
    n = len(dataset.classes)
    matrix = confusion_matrix(y_test, predicted, n)
    support = matrix.sum(axis=1)
    per_class = {name: (float(matrix[i, i] / support[i]) if support[i] else None) for i, name in enumerate(dataset.classes)}
    result = {
        "run": str(run.dir),
        "model": runs.model_fingerprint(run.dir),  # the model these numbers describe (see runs.DERIVED)
        "partial": runs.partial_note(run),
        "dataset": dataset.name,
        "test_images": int(len(y_test)),
        # as train() computed it for metrics.json (with the targets it trained on: one-hot under label smoothing)
        "test_loss": inference.evaluate(model, x, prepare_labels(y_test, num_classes=n, one_hot=bool(config.label_smoothing)))["loss"],
        "test_accuracy": float((predicted == y_test).mean()),
        "classes": list(dataset.classes),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
    }
    shown = mistakes.misclassified(y_test, probs, limit=MISCLASSIFIED_SHOWN)
    result.update(mistakes.summarize(matrix, dataset.classes))
    result.update(misclassified_count=int((predicted != y_test).sum()), misclassified_shown=shown.tolist(),
                  misclassified_png=runs.MISCLASSIFIED)
    if write:
        _atomic.write_json(run.dir / runs.EVALUATION, result)
        from .plots import plot_confusion

        plot_confusion(matrix, dataset.classes, run.dir / runs.CONFUSION,
                       title=f"{dataset.name} test set, accuracy {result['test_accuracy']:.4f}")
        from .plots import plot_misclassified

        plot_misclassified(x_test[shown], y_test[shown], predicted[shown], dataset.classes, run.dir / runs.MISCLASSIFIED,
                           confidence=probs[shown, predicted[shown]],
                           title=f"{result['misclassified_count']:,} of {len(y_test):,} test images misclassified; "
                                 f"the {len(shown)} most confident: true -> predicted")
        from .report import REPORT, write_run_report

        if (run.dir / REPORT).is_file():  # the run's report.html shows the new table and grid too
            write_run_report(run.dir)
    return result


def format_evaluation(result: dict[str, Any]) -> str:
    """A plain-text summary of :func:`evaluate_run`'s result, for the terminal."""
    lines = [f"note: {result['partial']}", ""] if result.get("partial") else []
    lines += [f"test accuracy {result['test_accuracy']:.4f}, test loss {result['test_loss']:.4f} "
              f"on {result['test_images']:,} images", "",
             # A class's accuracy is its recall (right / images of that class): one column, not two equal ones.
             f"{'class':<14} {'accuracy (= recall)':>19} {'precision':>9}"]
    precision = result.get("per_class_precision", {})
    for name, acc in result["per_class_accuracy"].items():
        cells = [acc, precision.get(name)]
        lines.append(f"{name:<14} " + " ".join(f"{'-' if v is None else f'{v:.3f}':>{w}}" for v, w in zip(cells, (19, 9))))
    if result.get("most_confused"):
        lines += ["", "most confused (true -> predicted):"]
        for pair in result["most_confused"]:
            lines.append(f"  {pair['true']:<12} -> {pair['predicted']:<12} {pair['count']:>5} "
                         f"({pair['share_of_true']:.1%} of {pair['true']})")
    return "\n".join(lines)
