"""The statistics the experiments share: parameter counts, least-squares lines, the cost model, the accuracy
trend, summaries over seeds and the first epoch of overfitting. Pure functions on lists of numbers.

Example:
    >>> dense_params([128])
    101770
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

IMAGE_PIXELS = 28 * 28
OVERFIT_TOLERANCE = 0.02  # validation loss this far (relative) above its minimum counts as rising


def dense_params(hidden: Sequence[int], inputs: int = IMAGE_PIXELS, classes: int = 10) -> int:
    """Trainable parameters of Flatten -> Dense(h)... -> Dense(classes): weights plus biases.

    Example:
        >>> dense_params([128])
        101770
        >>> dense_params([512, 256])
        535818
    """
    sizes = [inputs, *hidden, classes]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def fit_line(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares line ``y = intercept + slope * x``, with R² (1 = a perfect fit).

    Example:
        >>> fit = fit_line([1, 2, 3], [3, 5, 7])
        >>> round(fit["intercept"], 6), round(fit["slope"], 6), round(fit["r2"], 6)
        (1.0, 2.0, 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(np.unique(x)) < 2:
        raise ConfigError(f"a line needs at least two different x values, got {list(x)}.")
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - (intercept + slope * x)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual ** 2).sum()) / total if total > 0 else 1.0
    return {"intercept": float(intercept), "slope": float(slope), "r2": r2, "points": int(len(x))}


def fit_cost_model(params: Sequence[float], seconds_per_epoch: Sequence[float]) -> dict[str, float]:
    """Time per epoch against parameter count, least squares: ``seconds = fixed + per_param * params``.

    ``fixed`` is the cost that does not grow with the layer (data movement, the step's overhead);
    ``per_param`` the cost of each weight. Returned with ``r2`` and ``points``.

    Example:
        >>> model = fit_cost_model([10_000, 100_000, 1_000_000], [0.2, 0.29, 1.19])
        >>> round(model["fixed"], 3), round(model["per_million_params"], 3)
        (0.19, 1.0)
        >>> round(predict_seconds(model, 2_000_000), 2)
        2.19
    """
    line = fit_line(params, seconds_per_epoch)
    return {"fixed": line["intercept"], "per_param": line["slope"], "per_million_params": line["slope"] * 1e6,
            "r2": line["r2"], "points": line["points"]}


def predict_seconds(cost_model: dict[str, float], params: float) -> float:
    """Seconds per epoch the cost model predicts for a network of ``params`` parameters."""
    return cost_model["fixed"] + cost_model["per_param"] * params


def fit_accuracy_trend(sizes: Sequence[float], accuracy: Sequence[float]) -> dict[str, float]:
    """Accuracy against log2(layer size), least squares: the change per doubling of the layer.

    Example:
        >>> trend = fit_accuracy_trend([16, 32, 64], [0.80, 0.82, 0.84])
        >>> round(trend["per_doubling"], 3)
        0.02
        >>> round(predict_accuracy(trend, 128), 3)
        0.86
    """
    line = fit_line(np.log2(np.asarray(sizes, dtype=np.float64)), accuracy)
    return {"intercept": line["intercept"], "per_doubling": line["slope"], "r2": line["r2"], "points": line["points"]}


def predict_accuracy(trend: dict[str, float], size: float) -> float:
    """Accuracy the trend predicts for a layer of ``size`` units, kept within [0, 1]."""
    return float(min(1.0, max(0.0, trend["intercept"] + trend["per_doubling"] * math.log2(size))))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value).

    Example:
        >>> mean_std([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarize_by(rows: Sequence[dict[str, Any]], key: str, numeric: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct ``rows[i][key]``: the mean of each ``numeric`` column, and ``<col>_std``.

    Example:
        >>> summarize_by([{"h": 1, "acc": 0.5}, {"h": 1, "acc": 0.7}, {"h": 2, "acc": 0.9}], "h", ["acc"])
        [{'h': 1, 'repeats': 2, 'acc': 0.6, 'acc_std': 0.14142135623730948}, {'h': 2, 'repeats': 1, 'acc': 0.9, 'acc_std': 0.0}]
    """
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    out = []
    for value, members in groups.items():
        summary: dict[str, Any] = {key: value, "repeats": len(members)}
        for col in numeric:
            present = [m[col] for m in members if m.get(col) is not None]
            if present:
                summary[col], summary[f"{col}_std"] = mean_std(present)
            else:
                summary[col], summary[f"{col}_std"] = None, None
        out.append(summary)
    return out


def first_overfit_epoch(val_loss: Sequence[float], tolerance: float = OVERFIT_TOLERANCE) -> tuple[int, int | None]:
    """The epoch (from 1) with the lowest validation loss, and the first later epoch whose validation loss
    is more than ``tolerance`` (relative) above that minimum, or None when it never rises that far.

    Example:
        >>> first_overfit_epoch([0.5, 0.4, 0.38, 0.385, 0.41, 0.45])
        (3, 5)
        >>> first_overfit_epoch([0.5, 0.4, 0.38])
        (3, None)
    """
    losses = np.asarray(val_loss, dtype=np.float64)
    best = int(losses.argmin())
    limit = losses[best] * (1 + tolerance)
    later = [i for i in range(best + 1, len(losses)) if losses[i] > limit]
    return best + 1, (later[0] + 1 if later else None)


__all__ = ["IMAGE_PIXELS", "OVERFIT_TOLERANCE", "dense_params", "first_overfit_epoch", "fit_accuracy_trend",
           "fit_cost_model", "fit_line", "mean_std", "predict_accuracy", "predict_seconds", "summarize_by"]
