"""Predict the class of people's own pictures, and of dataset images with their true label.

A picture goes through :mod:`fashion_lab.images` (greyscale, crop, fit, centre, invert when the
background is light) and then the same :func:`fashion_lab.preprocess.prepare_images` that training
used, so the model sees what it was trained on. A picture that cannot be read does not stop the
others: its :class:`Prediction` carries the error instead of probabilities.

Example:
    >>> from fashion_lab import load_run
    >>> from fashion_lab.predict import predict_images
    >>> run = load_run("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    >>> [p] = predict_images(run, ["my-shoe.jpg"])  # doctest: +SKIP
    >>> p.class_name, round(p.probability, 2), p.top[:2]  # doctest: +SKIP
    ('Sneaker', 0.91, [('Sneaker', 0.91), ('Sandal', 0.06)])

With a bare Keras model, say what its classes are and whether it was trained on normalized pixels:
``predict_images(model, paths, classes=DATASETS["fashion_mnist"].classes, normalized=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ImageError
from .images import FASHION_FRAMING, FRAMINGS, MAX_PIXELS, Framing, load_image


@dataclass
class Prediction:
    """What the model said about one image (or why it could not say anything).

    ``top`` lists ``(class name, probability)`` best first; ``image`` is the 28x28 uint8 the model
    saw; ``true_label``/``true_class`` are set for dataset images; ``error`` is set, and the
    prediction fields are None, when the image could not be read.
    """

    source: str
    image: np.ndarray | None = None
    label: int | None = None
    class_name: str | None = None
    probability: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    true_label: int | None = None
    true_class: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the image was read and predicted."""
        return self.error is None and self.label is not None

    @property
    def correct(self) -> bool | None:
        """Whether the prediction matches the true label; None when there is no true label."""
        return None if self.true_label is None or self.label is None else self.label == self.true_label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (no pixel arrays)."""
        out: dict[str, Any] = {"source": self.source}
        if self.error is not None:
            out["error"] = self.error
            return out
        out.update(label=self.label, class_name=self.class_name, probability=self.probability,
                   top=[{"class_name": name, "probability": p} for name, p in self.top])
        if self.true_label is not None:
            out.update(true_label=self.true_label, true_class=self.true_class, correct=self.correct)
        return out


def _run_settings(run) -> tuple[tuple[str, ...], bool, Framing]:
    """A run's class names, normalization and framing (its config names a known dataset)."""
    from .dataset_specs import get_spec

    return get_spec(run.config.dataset).classes, run.config.normalize, FRAMINGS[run.config.dataset]


def _model_and_settings(model, classes, normalized, framing):
    """A Run gives its own classes, normalization and framing; a bare model takes the arguments."""
    from .runs import Run

    if isinstance(model, Run):
        run_classes, normalized, run_framing = _run_settings(model)
        classes = classes if classes is not None else run_classes
        framing = framing or run_framing
        model = model.model if model.model is not None else model.load_model()
    if classes is None:
        from .datasets import FASHION_MNIST

        classes = FASHION_MNIST.classes
    return model, tuple(classes), normalized, framing or FASHION_FRAMING


def read_inputs(paths: Sequence[str | os.PathLike[str]], framing: Framing = FASHION_FRAMING, *,
                invert: bool | None = None, max_pixels: int = MAX_PIXELS) -> list[Prediction]:
    """Read and preprocess each file into a :class:`Prediction` holding its 28x28 ``image``, or its ``error``.

    No model is needed (and Keras is not imported), so bad files are found before any heavy work.
    """
    out = []
    for path in paths:
        try:
            out.append(Prediction(source=str(path), image=load_image(path, framing, invert=invert, max_pixels=max_pixels)))
        except ImageError as e:
            out.append(Prediction(source=str(path), error=str(e)))
    return out


def predict_inputs(model, inputs: Sequence[Prediction], classes: Sequence[str], *, normalized: bool = True,
                   top: int = 3) -> list[Prediction]:
    """Fill in the predictions of ``inputs`` that have an ``image``, in one batched call of the model."""
    from .evaluation import predict_probabilities

    good = [p for p in inputs if p.error is None and p.image is not None]
    if good:
        probs = predict_probabilities(model, np.stack([p.image for p in good]), normalized=normalized)
        _fill(good, probs, classes, top)
    return list(inputs)


def _fill(predictions: Sequence[Prediction], probs: np.ndarray, classes: Sequence[str], top: int) -> None:
    order = np.argsort(-probs, axis=1, kind="stable")[:, :max(1, min(top, probs.shape[1]))]
    for p, row, best in zip(predictions, probs, order):
        p.probabilities = row
        p.label = int(best[0])
        p.class_name = classes[p.label]
        p.probability = float(row[p.label])
        p.top = [(classes[int(i)], float(row[int(i)])) for i in best]
        if p.true_label is not None:
            p.true_class = classes[p.true_label]


def predict_images(model, paths: Sequence[str | os.PathLike[str]], *, classes: Sequence[str] | None = None,
                   normalized: bool = True, framing: Framing | None = None, invert: bool | None = None,
                   top: int = 3, max_pixels: int = MAX_PIXELS) -> list[Prediction]:
    """Predict the class of each image file; one :class:`Prediction` per path, in order.

    Args:
        model: a :class:`fashion_lab.Run` (its classes, normalization and dataset framing are used)
            or a Keras model.
        paths: image files: PNG, JPEG, BMP, GIF, WebP or TIFF, any size and mode.
        classes: class names, by label. Defaults to the run's dataset's, else Fashion-MNIST's.
        normalized: whether the model was trained on pixels / 255 (ignored for a Run, which knows).
            Defaults to True.
        framing: how to fit the object into 28x28. Defaults to the run's dataset's framing
            (Fashion-MNIST's for a bare model).
        invert: force (True) or forbid (False) inverting; None, the default, inverts when the
            background is light.
        top: how many classes to keep in ``Prediction.top``. Defaults to 3.
        max_pixels: refuse larger images (decompression bombs). Defaults to 40 megapixels.

    A file that cannot be read gives a Prediction with ``error`` set; the others are still predicted.
    """
    model, classes, normalized, framing = _model_and_settings(model, classes, normalized, framing)
    inputs = read_inputs(paths, framing, invert=invert, max_pixels=max_pixels)
    return predict_inputs(model, inputs, classes, normalized=normalized, top=top)


def predict_arrays(model, images: np.ndarray, *, labels: Sequence[int] | None = None, sources: Sequence[str] | None = None,
                   classes: Sequence[str] | None = None, normalized: bool = True, top: int = 3) -> list[Prediction]:
    """Predict dataset-style uint8 images (N x 28 x 28) in one batch, with their true ``labels`` when given.

    ``model`` is a Run or a Keras model, as for :func:`predict_images`.
    """
    model, classes, normalized, _ = _model_and_settings(model, classes, normalized, None)
    images = np.asarray(images, dtype=np.uint8)
    sources = list(sources) if sources is not None else [f"image {i}" for i in range(len(images))]
    out = [Prediction(source=s, image=img, true_label=None if labels is None else int(labels[i]))
           for i, (s, img) in enumerate(zip(sources, images))]
    return predict_inputs(model, out, classes, normalized=normalized, top=top)


def predict_dataset_images(run, indices: Sequence[int], split: str = "test", *, dataset=None,
                           top: int = 3) -> list[Prediction]:
    """Predict images ``indices`` of the run's dataset ``split``, each with its true label."""
    from .datasets import open_dataset
    from .inspection import get_image

    config = run.config
    if dataset is None:
        dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify)
    pairs = [get_image(dataset, int(i), split) for i in indices]
    return predict_arrays(run, np.stack([img for img, _ in pairs]), labels=[label for _, label in pairs],
                          sources=[f"{dataset.name} {split}[{i}]" for i in indices], classes=dataset.classes, top=top)


def save_inputs(predictions: Sequence[Prediction], folder: str | os.PathLike[str]) -> list[str]:
    """Write the 28x28 each prediction's model saw as ``<name>.png`` (enlarged 8x, sharp pixels); return the paths."""
    from pathlib import Path

    from .plots import save_image

    folder = Path(folder)
    written, used = [], set()
    for p in predictions:
        if p.image is None:
            continue
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(p.source).stem).strip("_") or "image"
        name, n = stem, 2
        while name in used:
            name, n = f"{stem}-{n}", n + 1
        used.add(name)
        path = folder / f"{name}.png"
        save_image(p.image, path, hint="choose a writable --show-input folder")
        written.append(str(path))
    return written


def format_predictions(predictions: Sequence[Prediction]) -> str:
    """Readable lines per image: the top classes with probabilities, and the truth when known."""
    lines = []
    for p in predictions:
        if not p.ok:
            continue
        truth = ""
        if p.true_label is not None:
            truth = f"  (true: {p.true_class}, {'correct' if p.correct else 'wrong'})"
        lines.append(f"{p.source}: {p.class_name} {p.probability:.1%}{truth}")
        for rank, (name, prob) in enumerate(p.top, start=1):
            lines.append(f"  {rank}. {name:<12} {prob:6.1%}")
    return "\n".join(lines)


def predict_run(run_dir: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]] = (), *,
                indices: Sequence[int] = (), split: str = "test", top: int = 3, invert: bool | None = None,
                max_pixels: int = MAX_PIXELS) -> list[Prediction]:
    """What ``fashion-lab predict`` does: image files, then dataset images ``indices``, with a run's model.

    Image files are read and checked before the model is loaded, so a call whose files are all bad
    fails fast; bad files give a Prediction with ``error`` and do not stop the others.
    """
    from .runs import load_run

    run = load_run(run_dir)
    classes, normalized, framing = _run_settings(run)
    inputs = read_inputs(images, framing, invert=invert, max_pixels=max_pixels)
    if not indices and not any(p.error is None for p in inputs):
        return inputs
    run.load_model()
    out = predict_inputs(run.model, inputs, classes, normalized=normalized, top=top)
    if indices:
        out += predict_dataset_images(run, indices, split, top=top)
    return out
