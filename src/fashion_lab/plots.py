"""PNG plots of runs and evaluations (matplotlib, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from . import _atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    plt = _pyplot()
    with _atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def _finish(fig, path, title: str = "") -> None:
    """Title the figure (when given) and save it."""
    if title:
        fig.suptitle(title)
    _save(fig, path)


def _epoch_axis(ax, metric: str, legend_size: float | None = None) -> None:
    """Label a per-epoch panel of ``metric``: whole-number epochs, grid, legend."""
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.grid(alpha=0.3)
    _legend(ax, legend_size, empty="no finished epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)


def _legend(ax, size: float | None = None, *, empty: str = "no data") -> None:
    """A legend when the panel has labelled lines; otherwise say in the panel that there is nothing to show."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=size)
    else:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, color="gray")


def plot_curves(history: dict[str, Sequence[float]], path: str | os.PathLike[str], title: str = "",
                mark_epoch: int | None = None) -> None:
    """Loss and accuracy per epoch (training, and validation when present), side by side.

    ``mark_epoch`` (from 1) draws a vertical line at that epoch, e.g. the one with the lowest validation loss.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label, style in ((metric, "train", "o-"), (f"val_{metric}", "validation", "s--")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=label)
        if mark_epoch is not None:
            ax.axvline(mark_epoch, color="gray", linestyle=":", label=f"best epoch ({mark_epoch})")
        _epoch_axis(ax, metric)
    _finish(fig, path, title)


def plot_confusion(matrix: np.ndarray, classes: Sequence[str], path: str | os.PathLike[str], title: str = "") -> None:
    """Confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(matrix, cmap="Blues")
    n = len(classes)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > threshold else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or "confusion matrix")
    _save(fig, path)


def plot_misclassified(images: np.ndarray, true: Sequence[int], predicted: Sequence[int], classes: Sequence[str],
                       path: str | os.PathLike[str], *, confidence: Sequence[float] | None = None,
                       columns: int = 6, title: str = "") -> None:
    """A grid of misclassified images, each labelled "true -> predicted" (and the predicted probability)."""
    plt = _pyplot()
    n = len(images)
    rows = max(1, -(-n // columns))
    # Constrained layout puts the title right above the grid (a fixed layout left a wide empty band under it).
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 2.0 + 0.5), squeeze=False,
                             layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(images[k], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        label = f"{classes[int(true[k])]}\n-> {classes[int(predicted[k])]}"
        if confidence is not None:
            label += f" {confidence[k]:.0%}"
        ax.set_title(label, fontsize=8)
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(title or "misclassified: true -> predicted")
    _save(fig, path)


def save_image(image: np.ndarray, path: str | os.PathLike[str], scale: int = 8, *,
               hint: str = "choose a writable path") -> None:
    """Save a 28x28 uint8 image as a PNG, enlarged ``scale`` times with sharp pixels.

    Raises:
        OutputError: ``path`` cannot be written; the message ends with ``hint`` (say which option to change).
    """
    from PIL import Image

    from .errors import OutputError

    img = Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    try:
        with _atomic.atomic_path(path) as tmp:
            img.save(tmp, format="PNG")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}; {hint}.") from None


def _size_series(ax, rows: Sequence[dict], series) -> None:
    """One line per ``(key, label, style)`` of ``series`` against the rows' hidden sizes, with std error bars
    when the rows have ``<key>_std`` (repeated seeds)."""
    sizes = [r["hidden"] for r in rows]
    for key, label, style in series:
        errors = [r.get(f"{key}_std") or 0.0 for r in rows]
        ax.errorbar(sizes, [r[key] for r in rows], yerr=errors if any(errors) else None, fmt=style, capsize=3, label=label)


def _predicted_markers(ax, predictions: Sequence[dict], key: str) -> None:
    for p in predictions:
        ax.plot(p["hidden"], p[key], "D", mfc="none", color="C3", markersize=9, label=f"predicted ({p['hidden']})")


def _size_axis(ax, sizes: Sequence[int], ylabel: str, title: str) -> None:
    """A log2 axis of hidden sizes, each size a tick; labels, grid and legend."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(sizes)), [str(s) for s in sorted(set(sizes))])
    ax.minorticks_off()
    ax.set_xlabel("hidden units (log scale)")
    ax.grid(alpha=0.3)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def plot_layer_size_accuracy(rows: Sequence[dict], path: str | os.PathLike[str], *, predictions: Sequence[dict] = (),
                             trend: dict | None = None, title: str = "accuracy against layer size") -> None:
    """Train, validation and test accuracy per hidden size (mean, with std error bars when repeated).

    ``rows`` need ``hidden``, ``train_accuracy``, ``validation_accuracy``, ``test_accuracy`` (and optional ``*_std``);
    ``trend`` (``intercept``, ``per_doubling``) is drawn as a dotted line; ``predictions`` as open markers.
    """
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["hidden"])
    sizes = [r["hidden"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _size_series(ax, rows, (("train_accuracy", "train", "o-"), ("validation_accuracy", "validation", "s-"),
                            ("test_accuracy", "test (reported only)", "^--")))
    shown = sizes + [p["hidden"] for p in predictions]
    if trend:
        xs = np.geomspace(min(shown), max(shown), 50)
        ax.plot(xs, np.clip(trend["intercept"] + trend["per_doubling"] * np.log2(xs), 0, 1), ":", color="gray",
                label="validation trend")
    _predicted_markers(ax, predictions, "predicted_validation_accuracy")
    _size_axis(ax, shown, "accuracy", title)
    _save(fig, path)


def plot_layer_size_time(rows: Sequence[dict], path: str | os.PathLike[str], *, cost_model: dict | None = None,
                         predictions: Sequence[dict] = (), title: str = "time per epoch against layer size") -> None:
    """Seconds per later epoch and for the first epoch per hidden size, with the fitted cost model.

    ``rows`` need ``hidden``, ``params``, ``seconds_per_epoch`` and ``first_epoch_seconds``; ``cost_model``
    (``fixed``, ``per_param``) is drawn through the sizes' parameter counts.
    """
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["hidden"])
    sizes = [r["hidden"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _size_series(ax, rows, (("seconds_per_epoch", "later epochs (mean)", "o-"),
                            ("first_epoch_seconds", "first epoch (with compilation)", "s--")))
    shown = sorted(set(sizes + [p["hidden"] for p in predictions]))
    if cost_model:
        params = {r["hidden"]: r["params"] for r in rows} | {p["hidden"]: p["params"] for p in predictions}
        ax.plot(shown, [cost_model["fixed"] + cost_model["per_param"] * params[s] for s in shown], ":", color="gray",
                label=f"cost model: {cost_model['fixed']:.3f} s + {cost_model['per_million_params']:.3f} s per M params")
    _predicted_markers(ax, predictions, "predicted_seconds_per_epoch")
    _size_axis(ax, shown, "seconds per epoch", title)
    ax.set_ylim(bottom=0)
    _save(fig, path)


def plot_compare_curves(histories: dict[str, dict[str, Sequence[float]]], path: str | os.PathLike[str],
                        title: str = "") -> None:
    """Loss and accuracy per epoch of several runs side by side: solid training, dashed validation."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for i, (name, history) in enumerate(histories.items()):
            for key, suffix, style in ((metric, "train", "o-"), (f"val_{metric}", "validation", "s--")):
                values = history.get(key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, style, color=f"C{i}", label=f"{name}, {suffix}")
        _epoch_axis(ax, metric, legend_size=8)
    _finish(fig, path, title)


def plot_row_predictions(image: np.ndarray, output: np.ndarray, classes: Sequence[str], path: str | os.PathLike[str],
                         title: str = "") -> None:
    """An image beside a model's per-row output (rows x classes), as a model without Flatten produces it."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
    left.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    left.set_title(title or "input image")
    left.set_ylabel("pixel row")
    im = right.imshow(output, aspect="auto", cmap="viridis", interpolation="nearest")
    right.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
    right.set_ylabel("pixel row (one prediction each)")
    right.set_title(f"output without Flatten: shape {tuple(output.shape)}")
    fig.colorbar(im, ax=right, fraction=0.046, label="probability")
    _save(fig, path)


def plot_target(rows: Sequence[dict], target: float, path: str | os.PathLike[str], title: str = "") -> None:
    """Training accuracy against epochs and against elapsed seconds, with the target line.

    ``rows`` need ``epoch``, ``accuracy`` and ``elapsed_seconds``; ``val_accuracy`` is drawn when present.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, xkey, xlabel in zip(axes, ("epoch", "elapsed_seconds"), ("epoch", "seconds of training")):
        xs = [r[xkey] for r in rows]
        ax.plot(xs, [r["accuracy"] for r in rows], "o-", label="train accuracy (monitored)")
        if all(r.get("val_accuracy") is not None for r in rows):
            ax.plot(xs, [r["val_accuracy"] for r in rows], "s--", label="validation accuracy")
        ax.axhline(target, color="C3", linestyle=":", label=f"target {target:g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title or f"time to reach {target:g} accuracy")
    _save(fig, path)
