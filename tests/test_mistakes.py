"""Looking inside mistakes: precision and recall, the most confused pairs, the most confident mistakes, the grid."""

from __future__ import annotations

import doctest

import numpy as np
from PIL import Image

from fashion_lab import mistakes
from fashion_lab.mistakes import misclassified, most_confused, precision_recall, summarize
from fashion_lab.plots import plot_misclassified


def test_docstring_example_runs():
    assert doctest.testmod(mistakes).failed == 0


def test_precision_recall_with_a_class_never_predicted_or_seen():
    matrix = np.array([[5, 0, 0], [2, 0, 0], [0, 0, 0]])  # class 1 never predicted; class 2 has no images
    precision, recall = precision_recall(matrix)
    assert precision[0] == 5 / 7 and np.isnan(precision[1])
    assert recall[0] == 1.0 and recall[1] == 0.0 and np.isnan(recall[2])
    summary = summarize(matrix, ["a", "b", "c"])
    assert summary["per_class_precision"] == {"a": 0.7143, "b": None, "c": None}
    assert summary["most_confused"] == [{"true": "b", "predicted": "a", "count": 2, "share_of_true": 1.0}]


def test_most_confused_is_ordered_and_skips_the_diagonal():
    matrix = np.array([[90, 3, 7], [1, 98, 1], [12, 0, 88]])
    pairs = most_confused(matrix, ["x", "y", "z"], k=3)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("z", "x", 12), ("x", "z", 7), ("x", "y", 3)]
    assert most_confused(np.eye(3, dtype=int) * 5, ["x", "y", "z"]) == []


def test_most_confident_mistakes_first():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    y_true = np.array([0, 0, 0, 1])  # rows 1, 2 and 3 are wrong, with confidence 0.6, 0.8 and 0.7
    assert misclassified(y_true, probs).tolist() == [2, 3, 1]
    assert misclassified(y_true, probs, limit=1).tolist() == [2]


def test_grid_png_with_and_without_mistakes(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (7, 28, 28), dtype=np.uint8)
    plot_misclassified(images, [0] * 7, [1] * 7, ["Shirt", "T-shirt/top"], tmp_path / "grid.png",
                       confidence=[0.9] * 7)
    plot_misclassified(images[:0], [], [], ["Shirt"], tmp_path / "none.png")
    assert Image.open(tmp_path / "grid.png").format == Image.open(tmp_path / "none.png").format == "PNG"
