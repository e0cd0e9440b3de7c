"""A run's model, loaded once, answering uploaded pictures (as bytes) and the run's test images.

No web framework here: :class:`RunPredictor` is what the web app calls, and what a script can call too.
An upload is written into its own folder inside one temporary folder that the predictor owns, read
by the same :func:`fashion_lab.predict.predict_images` that ``fashion-lab predict`` uses, and the
folder is removed before the answer is returned; :meth:`RunPredictor.close` removes the rest.

Example:
    >>> predictor = RunPredictor("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    >>> p = predictor.predict_bytes(open("shoe.jpg", "rb").read(), "shoe.jpg")  # doctest: +SKIP
    >>> p.class_name, p.source  # doctest: +SKIP
    ('Sneaker', 'shoe.jpg')
    >>> predictor.close()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..predict import Prediction, predict_arrays, predict_images
from ..runs import Run, load_run
from .batching import Batcher

SAMPLES_PER_CLASS = 1  # test images offered to try: the first of each class
SUMMARY_METRICS = ("test_accuracy", "test_loss", "train_accuracy", "validation_accuracy", "epochs_run", "params")


def safe_filename(name: str | None) -> str:
    """An uploaded file's name reduced to a plain base name (letters, digits, ``.-_``), never a path.

    Example:
        >>> safe_filename("../../etc/my shoe.JPG"), safe_filename(""), safe_filename("..")
        ('my_shoe.JPG', 'upload', 'upload')
    """
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:100]
    return cleaned or "upload"


class RunPredictor:
    """A run's model loaded once (as `predict` loads it), with the run's classes, preprocessing and test images.

    Args:
        run_dir: a folder made by ``fashion-lab train``.
        load_test_images: open the run's dataset so its test images can be offered to try. Defaults to
            True; when the dataset cannot be opened the predictor still works and
            ``test_images_error`` says why.

    Raises:
        RunError: the run folder is missing or damaged.
        ModelError: its ``model.keras`` is refused by the safe loader or cannot be loaded.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, load_test_images: bool = True):
        self.run: Run = load_run(run_dir)
        # Once, here, as `fashion-lab predict` loads it: check_model_file, then NumPy for a dense network
        # (nothing in the file is run) or Keras in safe mode for anything else; the answers equal the CLI's.
        self.run.model = self.run.load_predictor()
        from ..datasets import get_spec

        self.classes: tuple[str, ...] = get_spec(self.run.config.dataset).classes
        self.test_x: np.ndarray | None = None
        self.test_y: np.ndarray | None = None
        self.test_images_error: str | None = None
        if load_test_images:
            self._open_test_images()
        self.temp_dir = Path(tempfile.mkdtemp(prefix="fashion-lab-serve-"))
        # Uploads that arrive together are read and predicted in one call (see batching.py).
        self._batcher = Batcher(lambda paths: predict_images(self.run, paths, top=len(self.classes)))
        # Compile the prediction once now, so the first visitor does not wait for it.
        predict_arrays(self.run, np.zeros((1, 28, 28), np.uint8))

    def _open_test_images(self) -> None:
        from ..datasets import open_dataset

        config = self.run.config
        try:
            dataset = open_dataset(config.dataset, config.data_dir, verify=config.verify, download=False)
        except DataError as e:
            self.test_images_error = f"the run's test images are not available here ({e})"
            return
        self.test_x, self.test_y = dataset.x_test, dataset.y_test

    def summary(self) -> dict[str, Any]:
        """Which run is served: its folder, dataset, classes, config and main metrics."""
        metrics = self.run.metrics
        return {
            "run": self.run.dir.name,
            "dir": str(self.run.dir),
            "dataset": self.run.config.dataset,
            "classes": list(self.classes),
            "config": self.run.config.to_dict(),
            "metrics": {key: metrics[key] for key in SUMMARY_METRICS if key in metrics},
            "test_images": self.test_images_error or "available",
        }

    def predict_bytes(self, data: bytes, filename: str | None = None, *, top: int = 3) -> Prediction:
        """Predict one uploaded picture given as bytes; its ``source`` is the cleaned file name.

        The bytes are written to a folder of their own inside :attr:`temp_dir`, read exactly as
        ``fashion-lab predict`` reads a file (by :func:`fashion_lab.predict.predict_images`, together with
        the uploads of other requests waiting at the same moment), and the folder is removed before this
        returns. Error messages name the file as the uploader named it, not the temporary path.
        """
        name = safe_filename(filename)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.temp_dir))
        try:
            path = folder / name
            path.write_bytes(data)
            prediction = self._batcher.submit(path)
            prediction.top = prediction.top[:top]  # the batch keeps every class, best first
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        prefix = str(folder) + os.sep
        prediction.source = name
        if prediction.error:
            prediction.error = prediction.error.replace(prefix, "")
        return prediction

    def test_image_samples(self) -> list[dict[str, Any]]:
        """The first test image of each class: ``index``, ``true_label``, ``true_class`` and 28x28 ``pixels``."""
        if self.test_y is None:
            return []
        out = []
        for label in range(len(self.classes)):
            for index in np.flatnonzero(self.test_y == label)[:SAMPLES_PER_CLASS]:
                out.append({"index": int(index), "true_label": label, "true_class": self.classes[label],
                            "pixels": self.test_x[index].tolist()})
        return out

    def predict_test_image(self, index: int, *, top: int = 3) -> Prediction:
        """Predict test image ``index`` with its true label (the dataset's own 28x28, as ``predict --index``).

        Raises:
            IndexError: no such test image, or the test images are not available.
        """
        if self.test_x is None:
            raise IndexError(self.test_images_error or "test images are not loaded")
        if not 0 <= index < len(self.test_x):
            raise IndexError(f"test image {index} does not exist; give an index from 0 to {len(self.test_x) - 1}")
        [prediction] = predict_arrays(self.run, self.test_x[index:index + 1], labels=[int(self.test_y[index])],
                                      sources=[f"{self.run.config.dataset} test[{index}]"], top=top)
        return prediction

    def close(self) -> None:
        """Remove the temporary folder (and anything an interrupted request left in it)."""
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def answer(prediction: Prediction) -> dict[str, Any]:
    """The JSON answer for one prediction: ``Prediction.to_dict()`` (the fields of one entry of
    ``fashion-lab predict --json``) plus ``model_input``, the 28x28 pixels the model saw, when there is one."""
    out = prediction.to_dict()
    if prediction.image is not None:
        out["model_input"] = np.asarray(prediction.image).tolist()
    return out
