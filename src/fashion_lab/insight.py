"""What a trained network learned, as pictures and the numbers behind them (``fashion-lab inspect RUN_DIR``).

Five parts, each done when the model's architecture allows it and otherwise skipped with the reason:

- **weights**: the first Dense layer's weights, when it reads the 28x28 pixels directly (after Flatten), as
  one 28x28 image per unit, for the units with the largest weights (L2 norm), red positive, blue negative.
- **saliency**: for a few test images of each class (the first correctly classified ones and the first
  mistake, in test-set order), the gradient of the predicted class's probability with respect to each
  input pixel (its absolute value), computed with JAX through the loaded Keras model.
- **projection**: the last hidden layer's activations (the output layer's input) for the whole test set,
  projected on their first two principal components (PCA by SVD), coloured by true class.
- **filters** and **feature_maps**: for a model whose first layer with weights is a ``Conv2D``, its filters
  and their outputs for one test image.

Everything goes into the run folder: ``inspection.json`` (the numbers, and the model's stamp: the SHA-256 of
``model.keras`` and its epoch, so a later ``--resume`` shows the pictures are of an older model) and one PNG per
part (:data:`fashion_lab.runs.INSPECTION_IMAGES`); the run's ``report.html`` shows them.

Not to be confused with :mod:`fashion_lab.inspection`, which prints one dataset image for ``fashion-lab show``.

Example:
    >>> from fashion_lab.insight import inspect_run
    >>> result = inspect_run("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    >>> result["parts"]["projection"]["explained_variance"]  # doctest: +SKIP
    [0.29, 0.15]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import _atomic, runs
from .datasets import Dataset, open_dataset
from .errors import ModelError
from .preprocess import prepare_images

UNITS_SHOWN = 16  # first-layer units drawn, the largest weights first
CORRECT_PER_CLASS = 2  # saliency: correctly classified test images per class ...
MISTAKES_PER_CLASS = 1  # ... and mistakes per class (true class = that class)
GARMENT_THRESHOLD = 0.1  # a pixel above this share of full brightness (0..1) is on the garment
BATCH = 500  # images per forward pass when collecting activations (a conv layer's output is large)
SALIENCY_SAMPLE = 1000  # the saliency numbers (inside / outside the garment) are over the first this many test images


class Skipped(Exception):
    """A part that cannot be done for this model; the message says why (stored in ``inspection.json``)."""


# --------------------------------------------------------------------------------------------------
# The model's structure


def _weighted_layers(model) -> list:
    return [layer for layer in model.layers if layer.weights]


def model_input(model, images: np.ndarray) -> np.ndarray:
    """Preprocessed ``(n, 28, 28)`` images reshaped to the model's input (e.g. ``(n, 28, 28, 1)`` for a conv model)."""
    shape = tuple(model.inputs[0].shape[1:])
    if None in shape or int(np.prod(shape)) != int(np.prod(images.shape[1:])):
        raise Skipped(f"the model takes inputs of shape {shape}, which {images.shape[1:]} images do not fill")
    return images.reshape((len(images), *shape))


def first_dense_kernel(model) -> np.ndarray:
    """The first Dense layer's kernel ``(pixels, units)`` when that layer reads the flattened image directly."""
    import keras

    layers = _weighted_layers(model)
    first = layers[0] if layers else None
    if not isinstance(first, keras.layers.Dense):
        kind = type(first).__name__ if first is not None else "no layer with weights"
        raise Skipped(f"the first layer with weights is {kind}, not Dense: there are no per-pixel weights to draw"
                      + ("; see the filters instead" if isinstance(first, keras.layers.Conv2D) else ""))
    kernel = np.asarray(first.kernel.numpy())
    pixels = int(np.prod(model.inputs[0].shape[1:]))
    if kernel.ndim != 2 or kernel.shape[0] != pixels:
        raise Skipped(f"the first Dense layer ({first.name}) reads {kernel.shape[0]} values, not the image's {pixels} "
                      f"pixels (it has no Flatten before it), so its weights are not images")
    return kernel


def units_by_weight(kernel: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` units (columns) with the largest L2 norm of their weights, largest first.

    Example:
        >>> units_by_weight(np.array([[1.0, 0.0, 3.0], [1.0, 0.1, 0.0]]), 2).tolist()
        [2, 0]
    """
    norms = np.linalg.norm(kernel, axis=0)
    return np.argsort(-norms, kind="stable")[:k]


def _outputs_probabilities(model) -> bool:
    """True when the model's last layer already applies softmax (else its outputs are logits)."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    return getattr(last, "activation", None) is keras.activations.softmax


def _check_classifier(model) -> None:
    if len(model.outputs[0].shape) != 2:
        raise Skipped(f"the model outputs shape {tuple(model.outputs[0].shape)}, not one vector of class scores "
                      f"per image, so there is no single predicted class to explain")


def probabilities(model, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """The model's class probabilities for inputs ``x`` (softmax applied when the model outputs logits)."""
    _check_classifier(model)
    out = layer_outputs(model, model.outputs[0], x, batch)
    if _outputs_probabilities(model):
        return out
    shifted = np.exp(out - out.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def saliency(model, x: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """``(|d p_predicted / d x|, probabilities)`` for model inputs ``x``: one gradient per image, with JAX.

    The probability is the model's softmax output (softmax is applied when the model outputs logits).
    The gradient goes through ``model.stateless_call``, so the model's variables are only read. Images go
    through in batches of ``batch`` (one compiled shape; a conv layer's activations of the whole test set
    would take gigabytes).
    """
    import jax
    import jax.numpy as jnp
    import keras

    if keras.backend.backend() != "jax":
        raise Skipped(f"saliency maps are computed with JAX; Keras runs on {keras.backend.backend()!r}")
    _check_classifier(model)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    softmax_done = _outputs_probabilities(model)

    def predicted_probability(inputs):
        outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
        probs = outputs if softmax_done else jax.nn.softmax(outputs, axis=-1)
        chosen = jax.lax.stop_gradient(jnp.argmax(probs, axis=-1))
        # Images do not interact (inference mode), so the gradient of the sum is each image's own gradient.
        return jnp.sum(jnp.take_along_axis(probs, chosen[:, None], axis=1)), probs

    step = jax.jit(jax.grad(predicted_probability, has_aux=True))
    size = min(batch, len(x))
    grads, probs = [], []
    for start in range(0, len(x), size):
        part = np.asarray(x[start:start + size], np.float32)
        padded = np.concatenate([part, np.zeros((size - len(part), *part.shape[1:]), np.float32)])  # one shape
        g, p = step(jnp.asarray(padded))
        grads.append(np.asarray(g)[: len(part)])
        probs.append(np.asarray(p)[: len(part)])
    return np.abs(np.concatenate(grads)), np.concatenate(probs)


def layer_outputs(model, tensor, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """The values of ``tensor`` (a symbolic tensor of ``model``, e.g. ``layer.output``) for inputs ``x``.

    One jitted call per batch of ``batch`` images (the last one padded: one compiled shape); the weights are
    arguments of the compiled function, not constants baked into it.
    """
    import jax
    import keras

    probe = keras.Model(model.inputs[0], tensor)
    trainable = [v.value for v in probe.trainable_variables]
    non_trainable = [v.value for v in probe.non_trainable_variables]
    run = jax.jit(lambda tv, ntv, xb: probe.stateless_call(tv, ntv, xb, training=False)[0])
    size = min(batch, len(x))
    out = []
    for start in range(0, len(x), size):
        part = np.asarray(x[start:start + size], np.float32)
        padded = np.concatenate([part, np.zeros((size - len(part), *part.shape[1:]), np.float32)])
        out.append(np.asarray(run(trainable, non_trainable, padded))[: len(part)])
    return np.concatenate(out)


def last_hidden_tensor(model):
    """The output layer's input: the last hidden layer's activations (through any Dropout, an identity at inference)."""
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or len(_weighted_layers(model)) < 2:
        raise Skipped("the model has no hidden layer before its Dense output layer" if isinstance(last, keras.layers.Dense)
                      else f"its last layer is {type(last).__name__}, not a Dense output layer whose input is the last "
                           f"hidden layer")
    tensor = last.input
    if len(tensor.shape) != 2:
        raise Skipped(f"the output layer's input has shape {tuple(tensor.shape)}, not one vector per image")
    return tensor


def pca_2d(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``values`` projected on their first two principal components, and the share of variance of each
    (PCA with NumPy: the eigenvectors of the centred data's scatter matrix, as an SVD would give them).

    Each component's sign is chosen so that its largest loading is positive (the same picture every time).

    Example:
        >>> points, explained = pca_2d(np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.1], [6.0, 0.0]]))
        >>> points.shape, bool(explained[0] > 0.99)
        ((4, 2), True)
    """
    centred = np.asarray(values, dtype=np.float64) - np.mean(values, axis=0)
    # The right singular vectors of the centred data are the eigenvectors of its (units x units) scatter matrix:
    # far cheaper than an SVD of all the rows when there are many more images than units.
    variances, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(-variances)[:2]
    top = vectors[:, order]
    signs = np.sign(top[np.argmax(np.abs(top), axis=0), np.arange(top.shape[1])])
    signs[signs == 0] = 1
    points = centred @ (top * signs)
    total = float(np.clip(variances, 0, None).sum())
    explained = np.clip(variances[order], 0, None) / total if total > 0 else np.zeros(len(order))
    if points.shape[1] < 2:
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    return points, np.pad(explained, (0, 2 - len(explained)))


def centroid_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose nearest class centroid (in ``points``' space) is their own class: how much of the
    class structure the projection keeps.

    Example:
        >>> centroid_accuracy(np.array([[0.0, 0], [0.2, 0], [5, 0], [5.2, 0]]), np.array([0, 0, 1, 1]))
        1.0
    """
    classes = np.unique(labels)
    centroids = np.stack([points[labels == c].mean(axis=0) for c in classes])
    nearest = classes[np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)]
    return float(np.mean(nearest == labels))


def first_conv_layer(model):
    """The first layer with weights when it is a ``Conv2D``."""
    import keras

    layers = _weighted_layers(model)
    if not layers or not isinstance(layers[0], keras.layers.Conv2D):
        kind = type(layers[0]).__name__ if layers else "no layer with weights"
        raise Skipped(f"the first layer with weights is {kind}, not Conv2D: the model has no convolution filters")
    return layers[0]


def choose_examples(y: np.ndarray, predicted: np.ndarray, classes: int, correct: int = CORRECT_PER_CLASS,
                    mistakes: int = MISTAKES_PER_CLASS) -> list[int]:
    """Per class, in test-set order: the first ``correct`` right predictions, then the first ``mistakes`` wrong ones.

    Example:
        >>> choose_examples(np.array([0, 0, 1, 1, 0]), np.array([0, 1, 1, 1, 0]), 2, correct=1, mistakes=1)
        [0, 1, 2]
    """
    chosen = []
    for c in range(classes):
        of_class = np.flatnonzero(y == c)
        right = of_class[predicted[of_class] == c][:correct]
        wrong = of_class[predicted[of_class] != c][:mistakes]
        chosen += right.tolist() + wrong.tolist()
    return chosen


def garment_masks(images: np.ndarray, threshold: float = GARMENT_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Per uint8 image: its garment pixels (above ``threshold`` of full brightness) and the garment's bounding box
    (the rows and columns holding such a pixel), as boolean masks.

    Example:
        >>> image = np.zeros((1, 3, 3), np.uint8); image[0, 0, 0] = image[0, 1, 1] = 255
        >>> pixels, box = garment_masks(image)
        >>> int(pixels.sum()), int(box.sum())
        (2, 4)
    """
    pixels = np.asarray(images, dtype=np.float64) / 255.0 > threshold
    rows, cols = pixels.any(axis=2), pixels.any(axis=1)

    def span(flags):  # first to last True, filled
        idx = np.arange(flags.shape[1])
        first = np.where(flags.any(axis=1), np.argmax(flags, axis=1), flags.shape[1])
        last = np.where(flags.any(axis=1), flags.shape[1] - 1 - np.argmax(flags[:, ::-1], axis=1), -1)
        return (idx >= first[:, None]) & (idx <= last[:, None])

    box = span(rows)[:, :, None] & span(cols)[:, None, :]
    return pixels, box


def inside_outside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: the mean of ``maps`` inside ``masks`` over its mean outside; NaN where a side is empty.

    Example:
        >>> inside_outside(np.array([[[4.0, 1.0], [1.0, 1.0]]]), np.array([[[True, False], [False, False]]])).tolist()
        [4.0]
    """
    masks = np.asarray(masks, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = np.where(masks, maps, 0).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
        outside = np.where(~masks, maps, 0).sum(axis=(1, 2)) / (~masks).sum(axis=(1, 2))
        return inside / outside


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return round(float(np.median(values)), 3) if len(values) else None


# --------------------------------------------------------------------------------------------------
# The parts


def _weights_part(model, folder: Path, units: int) -> dict[str, Any]:
    from .plots import plot_unit_weights

    kernel = first_dense_kernel(model)
    chosen = units_by_weight(kernel, units)
    if kernel.shape[0] != 28 * 28:
        raise Skipped(f"the first Dense layer reads {kernel.shape[0]} pixels, not a 28x28 image")
    images = kernel[:, chosen].T.reshape(len(chosen), 28, 28)
    norms = np.linalg.norm(kernel, axis=0)
    plot_unit_weights(images, chosen, norms[chosen], folder / runs.INSPECTION_IMAGES["weights"],
                      title=f"first Dense layer: the {len(chosen)} of {kernel.shape[1]} units with the largest weights")
    return {"layer_units": int(kernel.shape[1]), "units_shown": chosen.tolist(),
            "weight_norms_shown": [round(float(v), 4) for v in norms[chosen]],
            "weight_norm_median": round(float(np.median(norms)), 4), "image_shape": [28, 28]}


def _saliency_part(model, x_in, images, y, classes, folder: Path) -> dict[str, Any]:
    from .plots import plot_saliency

    predicted = probabilities(model, x_in).argmax(axis=1)
    chosen = choose_examples(y, predicted, len(classes))
    # The maps of the chosen images, and of the first SALIENCY_SAMPLE test images for the numbers.
    which = np.unique(np.concatenate([np.arange(min(SALIENCY_SAMPLE, len(y))), chosen])).astype(np.int64)
    computed, probs = saliency(model, x_in[which])
    maps = dict(zip(which.tolist(), computed.reshape(len(which), *images.shape[1:])))
    sample = which[which < SALIENCY_SAMPLE]
    sample_maps = np.stack([maps[i] for i in sample.tolist()])
    pixels, box = garment_masks(images[sample])
    box_ratio, pixel_ratio = inside_outside(sample_maps, box), inside_outside(sample_maps, pixels)
    chosen_masks = garment_masks(images[chosen])
    chosen_maps = np.stack([maps[i] for i in chosen])
    chosen_box, chosen_pixels = inside_outside(chosen_maps, chosen_masks[1]), inside_outside(chosen_maps, chosen_masks[0])
    position = {int(i): k for k, i in enumerate(which)}

    def number(v):
        return None if not np.isfinite(v) else round(float(v), 3)

    examples = [{"index": int(i), "true": classes[y[i]], "predicted": classes[predicted[i]],
                 "probability": round(float(probs[position[i], predicted[i]]), 4), "correct": bool(predicted[i] == y[i]),
                 "box_ratio": number(b), "pixel_ratio": number(p)}
                for i, b, p in zip(chosen, chosen_box, chosen_pixels)]
    plot_saliency(images[chosen], chosen_maps, examples, folder / runs.INSPECTION_IMAGES["saliency"],
                  title="saliency: |gradient of the predicted class's probability| per pixel (brighter: moves it more)")
    y_sample = y[sample]
    per_class = {name: {"box_ratio_median": _median(box_ratio[y_sample == c]),
                        "pixel_ratio_median": _median(pixel_ratio[y_sample == c])} for c, name in enumerate(classes)}
    return {"examples": examples, "map_shape": list(chosen_maps.shape[1:]), "garment_threshold": GARMENT_THRESHOLD,
            "ratio_images": int(len(sample)), "box_ratio_median": _median(box_ratio),
            "pixel_ratio_median": _median(pixel_ratio), "per_class": per_class,
            "softmax_applied": not _outputs_probabilities(model)}


def _projection_part(model, x_in, y, classes, folder: Path) -> dict[str, Any]:
    from .plots import plot_projection

    tensor = last_hidden_tensor(model)
    activations = layer_outputs(model, tensor, x_in)
    points, explained = pca_2d(activations)
    plot_projection(points, y, classes, folder / runs.INSPECTION_IMAGES["projection"],
                    title=f"last hidden layer ({activations.shape[1]} units), test set: first two principal components "
                          f"({explained[0]:.0%} and {explained[1]:.0%} of the variance)")
    centroids = {name: [round(float(v), 3) for v in points[y == c].mean(axis=0)] for c, name in enumerate(classes)
                 if np.any(y == c)}
    return {"units": int(activations.shape[1]), "images": int(len(points)),
            "explained_variance": [round(float(v), 4) for v in explained],
            "nearest_centroid_accuracy_2d": round(centroid_accuracy(points, y), 4), "class_centroids": centroids}


def _conv_parts(model, x_in, images, y, classes, folder: Path) -> dict[str, Any]:
    from .plots import plot_feature_maps, plot_filters

    layer = first_conv_layer(model)
    kernel = np.asarray(layer.kernel.numpy())  # (height, width, input channels, filters)
    filters = kernel[:, :, 0, :] if kernel.shape[2] == 1 else kernel.mean(axis=2)
    filters = np.moveaxis(filters, -1, 0)
    plot_filters(filters, folder / runs.INSPECTION_IMAGES["filters"],
                 title=f"{layer.name}: {filters.shape[0]} filters of {kernel.shape[0]}x{kernel.shape[1]}"
                       + ("" if kernel.shape[2] == 1 else f" (mean over {kernel.shape[2]} input channels)"))
    index = 0
    maps = layer_outputs(model, layer.output, x_in[index:index + 1])[0]  # (height, width, filters)
    maps = np.moveaxis(maps, -1, 0)
    plot_feature_maps(images[index], maps, folder / runs.INSPECTION_IMAGES["feature_maps"],
                      title=f"{layer.name}'s {maps.shape[0]} feature maps of test image {index} ({classes[y[index]]})")
    active = maps.reshape(len(maps), -1).max(axis=1) > 0
    return {"filters": {"layer": layer.name, "kernel_shape": list(kernel.shape),
                        "filter_norms": [round(float(v), 4) for v in np.linalg.norm(filters.reshape(len(filters), -1), axis=1)]},
            "feature_maps": {"layer": layer.name, "image_index": index, "true": classes[y[index]],
                             "map_shape": list(maps.shape[1:]), "maps": int(len(maps)),
                             "maps_active": int(active.sum())}}


def inspect_run(run_dir: str | os.PathLike[str], *, dataset: Dataset | None = None, units: int = UNITS_SHOWN,
                update_report: bool = True) -> dict[str, Any]:
    """Draw what a run's model learned into its folder and return the numbers (also in ``inspection.json``).

    Returns a dict with ``model`` (the stamp of the model it describes: ``epoch``, ``sha256``; None without a model), ``parts``
    (per part its numbers, or ``{"skipped": reason}``) and ``images`` (part -> PNG file name, for the parts done).
    A part that does not apply removes its PNG from an earlier inspection, so no picture of another model stays.

    Args:
        run_dir: a folder made by ``fashion-lab train``.
        dataset: the run's dataset, already open. Defaults to None (opened from the run's config).
        units: how many first-layer units to draw. Defaults to 16.
        update_report: rewrite the run's ``report.html`` with the pictures. Defaults to True.
    """
    run = runs.load_run(run_dir)
    model = run.load_model()
    stamp = runs.model_fingerprint(run.dir)  # the model these pictures describe (see runs.DERIVED)
    config = run.config
    if dataset is None:
        dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify)
    classes = list(dataset.classes)
    images, y = dataset.x_test, dataset.y_test.astype(np.int64)
    parts: dict[str, Any] = {}
    try:
        x_in = model_input(model, prepare_images(images, normalized=config.normalize))
    except Skipped as e:
        raise ModelError(f"cannot inspect {run.dir / runs.MODEL}: {e}. fashion-lab inspect knows models that take "
                         f"28x28 images.") from None

    def attempt(name, make):
        try:
            parts[name] = make()
        except Skipped as e:
            parts[name] = {"skipped": str(e)}

    attempt("weights", lambda: _weights_part(model, run.dir, units))
    attempt("saliency", lambda: _saliency_part(model, x_in, images, y, classes, run.dir))
    attempt("projection", lambda: _projection_part(model, x_in, y, classes, run.dir))
    try:
        parts.update(_conv_parts(model, x_in, images, y, classes, run.dir))
    except Skipped as e:
        parts["filters"] = parts["feature_maps"] = {"skipped": str(e)}
    done = {name: runs.INSPECTION_IMAGES[name] for name, part in parts.items() if "skipped" not in part}
    for name, file in runs.INSPECTION_IMAGES.items():
        if name not in done:
            (run.dir / file).unlink(missing_ok=True)
    result = {"run": str(run.dir), "model": stamp, "partial": runs.partial_note(run), "dataset": dataset.name,
              "test_images": int(len(y)), "parts": parts, "images": done}
    _atomic.write_json(run.dir / runs.INSPECTION, result)
    if update_report:
        from .report import write_run_report

        write_run_report(run.dir)
    return result


def format_inspection(result: dict[str, Any]) -> str:
    """A plain-text summary of :func:`inspect_run`'s result, for the terminal."""
    parts = result["parts"]
    lines = []
    for name, part in parts.items():
        if "skipped" in part:
            lines.append(f"{name}: skipped: {part['skipped']}.")
            continue
        file = result["images"][name]
        if name == "weights":
            lines.append(f"weights: {len(part['units_shown'])} of {part['layer_units']} first-layer units as 28x28 "
                         f"images (weight norms {part['weight_norms_shown'][0]:.2f} to {part['weight_norms_shown'][-1]:.2f}, "
                         f"median of all {part['weight_norm_median']:.2f}) -> {file}")
        elif name == "saliency":
            wrong = sum(not e["correct"] for e in part["examples"])
            line = f"saliency: {len(part['examples'])} test images ({wrong} mistakes) -> {file}"
            if part["box_ratio_median"] is not None and part["pixel_ratio_median"] is not None:
                line += (f"; over the first {part['ratio_images']:,} test images the median image's saliency is {part['box_ratio_median']:.2f}x as large "
                         f"inside the garment's bounding box as outside it, {part['pixel_ratio_median']:.2f}x on its "
                         f"bright pixels as on the dark ones")
            lines.append(line)
        elif name == "projection":
            ev = part["explained_variance"]
            lines.append(f"projection: {part['units']} hidden units of {part['images']:,} test images on 2 principal "
                         f"components ({ev[0]:.1%} + {ev[1]:.1%} of the variance; nearest class centre in 2-D is right "
                         f"for {part['nearest_centroid_accuracy_2d']:.1%}) -> {file}")
        elif name == "filters":
            lines.append(f"filters: {part['kernel_shape'][-1]} of {part['kernel_shape'][0]}x{part['kernel_shape'][1]} "
                         f"in {part['layer']} -> {file}")
        elif name == "feature_maps":
            lines.append(f"feature maps: {part['maps_active']} of {part['maps']} maps active for test image "
                         f"{part['image_index']} ({part['true']}) -> {file}")
    stamp = result["model"]
    lines.append(f"model: epoch {stamp['epoch']}, sha256 {stamp['sha256'][:12]}")
    if result.get("partial"):
        lines.append(f"note: {result['partial']}")
    return "\n".join(lines)


__all__ = ["Skipped", "centroid_accuracy", "choose_examples", "first_conv_layer", "first_dense_kernel", "format_inspection",
           "garment_masks", "inside_outside", "inspect_run", "probabilities", "last_hidden_tensor", "layer_outputs", "model_input", "pca_2d", "saliency",
           "units_by_weight"]
