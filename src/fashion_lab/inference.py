"""Predict and evaluate with a saved model: NumPy for the dense networks fashion-lab trains, Keras otherwise.

``fashion-lab predict`` and ``evaluate`` need a forward pass, not a training framework. :func:`load_predictor`
returns a :class:`~fashion_lab.numpy_inference.DenseNetwork` when the file holds a network NumPy can run
exactly (no Keras or JAX import: a whole ``predict`` command answers in well under a second), and the
Keras model, loaded in safe mode, for anything else. :func:`probabilities` and :func:`evaluate` take
either.

Example:
    >>> model = load_predictor("runs/20261127-101500-fashion_mnist-h128/model.keras")  # doctest: +SKIP
    >>> probabilities(model, images).shape  # doctest: +SKIP
    (10000, 10)
"""

from __future__ import annotations

import os

import numpy as np

from .numpy_inference import DenseNetwork, load

PREDICT_BATCH = 10_000  # for Keras models off the shared path: the whole test set in one call


def load_predictor(path: str | os.PathLike[str], *, keras_only: bool = False):
    """The model in the ``.keras`` file at ``path``: a NumPy :class:`DenseNetwork` when it is one, else Keras's.

    Both paths refuse the same files first (:func:`fashion_lab.safe_load.check_model_file`). ``keras_only``
    skips the NumPy path (to compare, or when the Keras model itself is wanted).
    """
    network = None if keras_only else load(path)
    if network is not None:
        return network
    from .safe_load import load_model

    return load_model(path)


def probabilities(model, x: np.ndarray, *, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Class probabilities of preprocessed images ``x`` from a :class:`DenseNetwork` or a Keras model."""
    if isinstance(model, DenseNetwork):
        return model.probabilities(x, batch_size=batch_size)
    from . import _fasteval

    return _fasteval.probabilities(model, x, batch_size=batch_size)


def evaluate(model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``{"loss", "accuracy"}`` of preprocessed images ``x`` with labels ``y`` (as Keras's ``evaluate``)."""
    if isinstance(model, DenseNetwork):
        return model.evaluate(x, y)
    from . import _fasteval

    return _fasteval.evaluate(model, x, y)
