"""Export a run's model to ONNX, so it runs outside Python's ML stack, and check the file against Keras.

Keras 3 exports ONNX on the JAX backend itself (``model.export(path, format="onnx")``, through
jax2onnx: no TensorFlow). A model loaded from ``.keras`` has not been called, so Keras needs the input
signature: one float32 input named ``image`` of shape (batch, 28, 28), any batch size. The class names,
dataset and whether pixels are divided by 255 are stored in the file's metadata.

The check runs the exported file with onnxruntime and the Keras model on the run's 10,000 test images
(preprocessed as training did) and compares: the largest absolute probability difference and how many
predicted classes are identical. A file that disagrees is not written.

Example:
    >>> result = export_onnx("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    >>> result.path.name, result.identical == result.images, result.max_difference < 1e-5  # doctest: +SKIP
    ('model.onnx', True, True)

Using the file from plain onnxruntime::

    session = onnxruntime.InferenceSession("model.onnx")
    probabilities = session.run(None, {"image": images.astype("float32") / 255})[0]   # N x 10
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _atomic
from .errors import ModelError, OutputError
from .extras import require_extra

INPUT_NAME = "image"
TOLERANCE = 1e-4  # largest probability difference accepted; float32 rounding gives about 1e-6


@dataclass
class ExportResult:
    """Where the ONNX file was written and what the check against Keras measured."""

    path: Path
    bytes: int
    images: int  # test images compared
    identical: int  # of them, how many got the same class from onnxruntime and Keras
    max_difference: float  # largest |probability(onnxruntime) - probability(Keras)| over all images and classes
    onnxruntime_version: str
    export_seconds: float
    dataset: str


def compare(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, int, int]:
    """``(max |difference|, identical classes, real disagreements)`` of two (N, classes) probability arrays.

    A real disagreement is a different class on an image whose reference top-two margin is larger than
    :data:`TOLERANCE` (a near-tie may flip on rounding alone).

    Example:
        >>> compare(np.array([[0.9, 0.1], [0.5, 0.5]]), np.array([[0.9, 0.1], [0.49999, 0.50001]]))
        (1.0000000000065512e-05, 1, 0)
    """
    difference = float(np.abs(reference - candidate).max(initial=0.0))
    same = reference.argmax(axis=1) == candidate.argmax(axis=1)
    top_two = np.sort(reference, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    return difference, int(same.sum()), int((~same & (margin > TOLERANCE)).sum())


def export_onnx(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> ExportResult:
    """Export the run's model to ONNX at ``out`` (default ``RUN_DIR/model.onnx``) and check it on the test images.

    Raises:
        DependencyError: onnx, onnxruntime or jax2onnx (the ``onnx`` extra) is not installed.
        RunError, ModelError: the run or its model cannot be loaded.
        DataError: the run's dataset cannot be opened for the check.
        ModelError: the exported file disagrees with Keras (nothing is written then).
        OutputError: ``out`` cannot be written.
    """
    require_extra("onnx", "fashion-lab export")
    from .datasets import get_spec, open_dataset
    from .evaluation import predict_probabilities
    from .preprocess import prepare_images
    from .runs import load_run

    if out is not None and Path(out).is_dir():
        raise OutputError(f"--out {out} is a folder; give a file name such as {Path(out) / 'model.onnx'}")
    run = load_run(run_dir)
    target = Path(out) if out is not None else run.dir / "model.onnx"
    model = run.load_model()
    config = run.config
    dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify, download=False)
    import onnx
    import onnxruntime

    from ._backend import keras

    started = time.perf_counter()
    signature = [keras().InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32", name=INPUT_NAME)]

    try:
        with _atomic.atomic_path(target) as tmp:
            model.export(str(tmp), format="onnx", input_signature=signature, verbose=False)
            proto = onnx.load(str(tmp))
            metadata = {"classes": json.dumps(list(get_spec(config.dataset).classes)), "dataset": config.dataset,
                        "normalized": json.dumps(config.normalize), "source": f"fashion-lab run {run.dir.name}",
                        "input": f"float32 (batch, 28, 28): {'pixels / 255' if config.normalize else 'pixels 0-255'}, "
                                 "a light garment on black as in the dataset"}
            onnx.helper.set_model_props(proto, metadata)
            onnx.save(proto, str(tmp))
            export_seconds = time.perf_counter() - started
            x = prepare_images(dataset.x_test, normalized=config.normalize)
            session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            exported = session.run(None, {INPUT_NAME: x})[0]
            reference = predict_probabilities(model, dataset.x_test, normalized=config.normalize)
            difference, identical, disagreements = compare(reference, exported)
            if difference > TOLERANCE or disagreements:
                raise ModelError(f"the exported model disagrees with Keras on the {len(x):,} test images (largest "
                                 f"probability difference {difference:.2g}, over the tolerance {TOLERANCE:g}; "
                                 f"{len(x) - identical} different classes), so it was not written; please report this")
            size = tmp.stat().st_size
    except OSError as e:
        raise OutputError(f"cannot write {target} ({e.strerror or e}); choose a writable --out") from None
    return ExportResult(path=target, bytes=size, images=len(x), identical=identical, max_difference=difference,
                        onnxruntime_version=onnxruntime.__version__, export_seconds=export_seconds,
                        dataset=config.dataset)


def format_export(result: ExportResult) -> str:
    """What ``fashion-lab export`` prints: the file, and the check's numbers."""
    return (f"wrote {result.path} ({result.bytes / 1024:.0f} KB) in {result.export_seconds:.1f} s\n"
            f"checked with onnxruntime {result.onnxruntime_version} against Keras on the {result.images:,} "
            f"{result.dataset} test images:\n"
            f"  largest probability difference: {result.max_difference:.2g}\n"
            f"  identical predicted classes:    {result.identical:,} of {result.images:,}")
