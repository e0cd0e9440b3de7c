"""PNG plots of runs and evaluations (matplotlib, no display needed)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from . import _atomic


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def import_in_background() -> threading.Thread:
    """Start importing matplotlib on a thread, so the plots at the end of a run do not wait for it.

    Training spends its time in compiled code that releases the GIL; the import (about half a second on
    2 cores) overlaps it. Importing the same modules again later simply finds them loaded.
    """
    thread = threading.Thread(target=pyplot, name="fashion-lab-import-matplotlib", daemon=True)
    thread.start()
    return thread


def save_figure(fig, path) -> None:
    """Save ``fig`` as a PNG at ``path`` (through a temporary file and a rename) and close it."""
    plt = pyplot()
    with _atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def _finish(fig, path, title: str = "") -> None:
    """Title the figure (when given) and save it."""
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


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
    plt = pyplot()
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
    plt = pyplot()
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
    save_figure(fig, path)


def plot_misclassified(images: np.ndarray, true: Sequence[int], predicted: Sequence[int], classes: Sequence[str],
                       path: str | os.PathLike[str], *, confidence: Sequence[float] | None = None,
                       columns: int = 6, title: str = "") -> None:
    """A grid of misclassified images, each labelled "true -> predicted" (and the predicted probability).

    The grid is one mosaic image on one axes, with the labels written above each tile: a figure of 36
    small axes took seconds to lay out and draw, most of ``fashion-lab evaluate``'s time.
    """
    plt = pyplot()
    n = len(images)
    rows = max(1, -(-n // columns))
    size, gap, label_space = 28, 4, 16  # pixels of a tile, between tiles, and above each tile for its label
    cell_w, cell_h = size + gap, size + gap + label_space
    mosaic = np.full((rows * cell_h, columns * cell_w), np.nan, np.float32)  # NaN: drawn white, not black
    for k in range(n):
        r, c = divmod(k, columns)
        top = r * cell_h + label_space
        mosaic[top:top + size, c * cell_w:c * cell_w + size] = images[k]
    fig, ax = plt.subplots(figsize=(columns * 1.75, rows * 2.05 + 0.45))
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    for k in range(n):
        r, c = divmod(k, columns)
        label = f"{classes[int(true[k])]}\n-> {classes[int(predicted[k])]}"
        if confidence is not None:
            label += f" {confidence[k]:.0%}"
        ax.text(c * cell_w + size / 2, r * cell_h + label_space - 1.5, label, ha="center", va="bottom", fontsize=8)
    if n == 0:
        ax.text(mosaic.shape[1] / 2, mosaic.shape[0] / 2, "no mistakes", ha="center", va="center")
    ax.set_axis_off()
    ax.set_title(title or "misclassified: true -> predicted", fontsize=11)
    save_figure(fig, path)


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
    when the rows have ``<key>_std`` (repeated seeds). A series with no value for some size (``None``: not
    measured, e.g. no later epoch after a single one) is not drawn."""
    sizes = [r["hidden"] for r in rows]
    for key, label, style in series:
        if any(r.get(key) is None for r in rows):
            continue
        errors = [r.get(f"{key}_std") or 0.0 for r in rows]
        ax.errorbar(sizes, [r[key] for r in rows], yerr=errors if any(errors) else None, fmt=style, capsize=3, label=label)


def _predicted_markers(ax, predictions: Sequence[dict], key: str) -> None:
    for p in predictions:
        if p.get(key) is None:  # this prediction has no such figure (e.g. no time from a missing cost model)
            continue
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
    plt = pyplot()
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
    save_figure(fig, path)


def plot_layer_size_time(rows: Sequence[dict], path: str | os.PathLike[str], *, cost_model: dict | None = None,
                         predictions: Sequence[dict] = (), title: str = "time per epoch against layer size") -> None:
    """Seconds per later epoch and for the first epoch per hidden size, with the fitted cost model.

    ``rows`` need ``hidden``, ``params``, ``seconds_per_epoch`` (None for a size trained one epoch: then no
    later-epoch line is drawn) and ``first_epoch_seconds``; ``cost_model``
    (``fixed``, ``per_param``) is drawn through the sizes' parameter counts.
    """
    plt = pyplot()
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
    save_figure(fig, path)


def plot_compare_curves(histories: dict[str, dict[str, Sequence[float]]], path: str | os.PathLike[str],
                        title: str = "") -> None:
    """Loss and accuracy per epoch of several runs side by side: solid training, dashed validation."""
    plt = pyplot()
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
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
    left.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    left.set_title(title or "input image")
    left.set_ylabel("pixel row")
    im = right.imshow(output, aspect="auto", cmap="viridis", interpolation="nearest")
    right.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
    right.set_ylabel("pixel row (one prediction each)")
    right.set_title(f"output without Flatten: shape {tuple(output.shape)}")
    fig.colorbar(im, ax=right, fraction=0.046, label="probability")
    save_figure(fig, path)


def plot_target(rows: Sequence[dict], target: float, path: str | os.PathLike[str], title: str = "") -> None:
    """Training accuracy against epochs and against elapsed seconds, with the target line.

    ``rows`` need ``epoch``, ``accuracy`` and ``elapsed_seconds``; ``val_accuracy`` is drawn when present.
    """
    plt = pyplot()
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
    save_figure(fig, path)


def _colour(values: np.ndarray, cmap: str, low: float, high: float) -> np.ndarray:
    """``values`` through matplotlib colour map ``cmap`` over ``[low, high]``, as RGB floats."""
    import matplotlib

    span = (high - low) or 1.0
    return matplotlib.colormaps[cmap](np.clip((np.asarray(values, dtype=np.float64) - low) / span, 0, 1))[..., :3]


def _diverging(values: np.ndarray) -> np.ndarray:
    """Red positive, blue negative, white at 0, scaled to the largest magnitude."""
    limit = float(np.abs(values).max()) or 1.0
    return _colour(values, "RdBu_r", -limit, limit)


def _mosaic(tiles: Sequence[np.ndarray], labels: Sequence[str], path, *, columns: int, scale: float,
            title: str = "", label_colours: Sequence[str] | None = None) -> None:
    """RGB tiles of one shape laid out in a grid, drawn as one image (fast: one ``imshow``), each labelled above."""
    plt = pyplot()
    h, w = tiles[0].shape[:2]
    gap, head = max(2, w // 10), max(4, h // 3)
    rows = -(-len(tiles) // columns)
    canvas = np.ones((rows * (h + head + gap), columns * (w + gap) - gap, 3))
    spots = []
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        top, left = r * (h + head + gap) + head, c * (w + gap)
        canvas[top:top + h, left:left + w] = tile
        spots.append((left, top))
    fig, ax = plt.subplots(figsize=(canvas.shape[1] * scale, canvas.shape[0] * scale))
    ax.imshow(canvas, interpolation="nearest")
    for k, ((left, top), label) in enumerate(zip(spots, labels)):
        ax.text(left, top - 1, label, fontsize=7, va="bottom", ha="left",
                color=(label_colours[k] if label_colours else "black"))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def plot_unit_weights(images: np.ndarray, units: Sequence[int], norms: Sequence[float], path: str | os.PathLike[str],
                      title: str = "") -> None:
    """Each unit's incoming weights as a 28x28 image, red positive and blue negative, white at 0 (per-unit scale)."""
    _mosaic([_diverging(image) for image in images], [f"unit {u}, |w| {n:.2f}" for u, n in zip(units, norms)], path,
            columns=4, scale=0.065, title=(title + "\n" if title else "") + "red: brightness there raises the unit, "
            "blue: lowers it; each unit scaled to its own largest weight")


def plot_saliency(images: np.ndarray, maps: np.ndarray, examples: Sequence[dict], path: str | os.PathLike[str],
                  title: str = "") -> None:
    """Each image beside its saliency map (black: 0, yellow: its largest), labelled true -> predicted and the
    probability; mistakes in red."""
    tiles, labels = [], []
    for image, sal, ex in zip(images, maps, examples):
        grey = np.repeat((np.asarray(image, dtype=np.float64) / 255.0)[..., None], 3, axis=2)
        heat = _colour(sal, "inferno", 0.0, float(sal.max()))
        tiles.append(np.concatenate([grey, np.ones((grey.shape[0], 1, 3)), heat], axis=1))
        labels.append((ex["true"] if ex["correct"] else f"{ex['true']} -> {ex['predicted']}") + f" {ex['probability']:.0%}")
    _mosaic(tiles, labels, path, columns=3, scale=0.07, title=title,
            label_colours=["black" if ex["correct"] else "C3" for ex in examples])


def plot_projection(points: np.ndarray, labels: np.ndarray, classes: Sequence[str], path: str | os.PathLike[str],
                    title: str = "") -> None:
    """A 2-D scatter of ``points`` coloured by class, with each class's centre labelled."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 6.5))
    for c, name in enumerate(classes):
        mine = points[labels == c]
        if len(mine):
            ax.scatter(mine[:, 0], mine[:, 1], s=3, alpha=0.35, color=f"C{c % 10}", label=name, rasterized=True)
            ax.annotate(name, mine.mean(axis=0), fontsize=8, ha="center", weight="bold",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.legend(markerscale=4, fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def plot_filters(filters: np.ndarray, path: str | os.PathLike[str], title: str = "") -> None:
    """Convolution filters ``(n, height, width)``, red positive and blue negative, each on its own scale."""
    big = [np.kron(_diverging(f), np.ones((4, 4, 1))) for f in filters]  # 3x3 is too small to label otherwise
    _mosaic(big, [str(k) for k in range(len(filters))], path, columns=8, scale=0.09, title=title)


def plot_feature_maps(image: np.ndarray, maps: np.ndarray, path: str | os.PathLike[str], title: str = "") -> None:
    """The input image (fitted to the maps' size), then each feature map ``(n, height, width)`` on its own scale
    (dark: 0)."""
    h, w = maps.shape[1:]
    grey = np.asarray(image, dtype=np.float64)[: h, : w] / 255.0
    first = np.ones((h, w, 3))
    first[: grey.shape[0], : grey.shape[1]] = grey[..., None]
    tiles = [first] + [_colour(m, "viridis", 0.0, max(float(m.max()), 1e-12)) for m in maps]
    _mosaic(tiles, ["input"] + [str(k) for k in range(len(maps))], path, columns=8, scale=0.075, title=title)


def plot_lr_range(rates: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
                  path: str | os.PathLike[str], *, marks: Sequence[tuple[float, str]] = (), title: str = "") -> None:
    """Loss against learning rate on a log axis: each step's loss, the smoothed curve, and vertical marks."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.4))
    ax.plot(rates, losses, ".", color="0.65", markersize=3, label="loss after each step")
    ax.plot(rates, smoothed, "-", color="C0", linewidth=2, label="smoothed")
    for k, (rate, label) in enumerate(marks):
        ax.axvline(rate, color=f"C{k + 1}", linestyle="--" if k == 0 else ":", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    top = float(np.nanmax(smoothed)) if len(smoothed) else 1.0
    ax.set_ylim(0, top * 1.15)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _finish(fig, path, title)
