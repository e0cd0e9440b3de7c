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


def plot_curves(history: dict[str, Sequence[float]], path: str | os.PathLike[str], title: str = "") -> None:
    """Loss and accuracy per epoch (training, and validation when present), side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label, style in ((metric, "train", "o-"), (f"val_{metric}", "validation", "s--")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    _save(fig, path)


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
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 2.15), squeeze=False)
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


def save_image(image: np.ndarray, path: str | os.PathLike[str], scale: int = 8) -> None:
    """Save a 28x28 uint8 image as a PNG, enlarged ``scale`` times with sharp pixels."""
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    with _atomic.atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
