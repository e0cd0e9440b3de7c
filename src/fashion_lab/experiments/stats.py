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
OVERFIT_EPOCHS = 2  # ... and it must stay there this many epochs, up to the last, before we call it overfitting
OVERFIT_RULE = (f"the model is said to overfit only when validation loss stays more than {OVERFIT_TOLERANCE:.0%} above "
                f"its lowest value for at least the last {OVERFIT_EPOCHS} epochs")
RETURNS_TOLERANCE = 0.001  # gains per doubling closer than this (0.1 percentage point) count as the same
MIN_FIT_SIZES = 3  # a line through 2 points always fits exactly (R² = 1), so a fit needs at least 3 sizes


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


def first_overfit_epoch(val_loss: Sequence[float], tolerance: float = OVERFIT_TOLERANCE,
                        evidence: int = OVERFIT_EPOCHS) -> tuple[int, int | None]:
    """The epoch (from 1) with the lowest validation loss, and the epoch from which the model overfits, or None.

    The rule (:data:`OVERFIT_RULE`): validation loss must stay more than ``tolerance`` (relative) above its minimum
    for at least the last ``evidence`` epochs; the model overfits from the first epoch of that stretch. One epoch
    above the minimum, or a rise that comes back down, is not enough.

    Example:
        >>> first_overfit_epoch([0.5, 0.4, 0.38, 0.385, 0.41, 0.45])
        (3, 5)
        >>> first_overfit_epoch([0.5, 0.4, 0.38])
        (3, None)
        >>> first_overfit_epoch([0.5, 0.4, 0.38, 0.45])  # one epoch of evidence: too few to tell
        (3, None)
    """
    losses = np.asarray(val_loss, dtype=np.float64)
    best = int(losses.argmin())
    limit = losses[best] * (1 + tolerance)
    start = len(losses)
    while start - 1 > best and losses[start - 1] > limit:
        start -= 1
    return best + 1, (start + 1 if len(losses) - start >= evidence else None)


def gains_per_doubling(sizes: Sequence[float], accuracy: Sequence[float]) -> tuple[dict[str, float], dict[str, float]]:
    """Accuracy gained per doubling of the layer in the smaller and in the larger half of the sizes.

    The halves meet at the middle size (sorted); each gain is the change in accuracy divided by the number of
    doublings it spans. Returns ``({"from", "to", "per_doubling"}, {...})`` for the small and the large half.

    Example:
        >>> small, large = gains_per_doubling([32, 128, 512], [0.83, 0.85, 0.854])
        >>> round(small["per_doubling"], 4), round(large["per_doubling"], 4)
        (0.01, 0.002)
    """
    pairs = sorted(zip(sizes, accuracy))
    if len(pairs) < MIN_FIT_SIZES:
        raise ConfigError(f"gains per doubling need at least {MIN_FIT_SIZES} sizes, got {len(pairs)}.")
    mid = len(pairs) // 2

    def half(a, b):
        return {"from": a[0], "to": b[0], "per_doubling": (b[1] - a[1]) / math.log2(b[0] / a[0])}

    return half(pairs[0], pairs[mid]), half(pairs[mid], pairs[-1])


__all__ = ["IMAGE_PIXELS", "MIN_FIT_SIZES", "OVERFIT_EPOCHS", "OVERFIT_RULE", "OVERFIT_TOLERANCE", "RETURNS_TOLERANCE",
           "dense_params",
           "first_overfit_epoch", "fit_accuracy_trend", "fit_cost_model", "fit_line", "gains_per_doubling", "mean_std",
           "predict_accuracy", "predict_seconds", "summarize_by"]
