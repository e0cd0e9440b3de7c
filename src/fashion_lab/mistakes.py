"""Look inside a model's mistakes: per-class precision and recall, the most confused pairs, and which images.

All of it is computed from the confusion matrix (rows: true class, columns: predicted) and the
predictions, so it works for any run and is cheap.

Example:
    >>> import numpy as np
    >>> matrix = np.array([[8, 2], [4, 6]])          # 2 of class 0 called 1, 4 of class 1 called 0
    >>> precision, recall = precision_recall(matrix)
    >>> precision.round(3).tolist(), recall.tolist()
    ([0.667, 0.75], [0.8, 0.6])
    >>> most_confused(matrix, ["shirt", "coat"], k=1)
    [{'true': 'coat', 'predicted': 'shirt', 'count': 4, 'share_of_true': 0.4}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def precision_recall(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (right among those predicted as the class) and recall (found among the class).

    A class never predicted has precision NaN; a class with no images has recall NaN.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / matrix.sum(axis=0), hits / matrix.sum(axis=1)


def most_confused(matrix: np.ndarray, classes: Sequence[str], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` largest off-diagonal cells: which true class is most often called which other class."""
    matrix = np.asarray(matrix)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    support = matrix.sum(axis=1)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), matrix.shape[1])
        if off[i, j] == 0:
            break
        pairs.append({"true": classes[i], "predicted": classes[j], "count": int(off[i, j]),
                      "share_of_true": round(float(off[i, j] / support[i]), 4) if support[i] else None})
    return pairs


def misclassified(y_true: np.ndarray, probs: np.ndarray, limit: int = 36) -> np.ndarray:
    """Indices of wrongly predicted images, the most confident mistakes first, at most ``limit``."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(y_true))
    confidence = probs[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:limit]


def summarize(matrix: np.ndarray, classes: Sequence[str], k: int = 5) -> dict[str, Any]:
    """``per_class_precision``, ``per_class_recall`` (class name -> value, None when undefined) and ``most_confused``."""
    precision, recall = precision_recall(matrix)

    def by_name(values):
        return {name: (None if np.isnan(v) else round(float(v), 4)) for name, v in zip(classes, values)}

    return {"per_class_precision": by_name(precision), "per_class_recall": by_name(recall),
            "most_confused": most_confused(matrix, classes, k)}
