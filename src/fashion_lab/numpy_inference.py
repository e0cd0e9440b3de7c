"""Run a saved dense network (Flatten + Dense layers) with NumPy: predictions without importing Keras or JAX.

``fashion-lab predict RUN IMAGE`` needs one forward pass of a 100,000-weight network: microseconds of
arithmetic. Importing Keras and JAX and letting Keras rebuild the model takes seconds. For the networks
fashion-lab trains (an ``InputLayer`` of 28x28, ``Flatten``, ``Dense`` layers with relu/softmax and the
like, ``Dropout`` which does nothing at inference) :func:`load` reads the weights straight from the
``.keras`` archive and :class:`DenseNetwork` computes the same probabilities as Keras (to float32
rounding: tests compare them on 1,000 test images).

Nothing in the file is executed: the archive first passes :func:`fashion_lab.safe_load.check_model_file`
(the same guard as the Keras path), then its configuration is compared with the short list of layers
and settings this module implements. Anything else (a convolution, a regularizer's custom activation,
a dtype policy other than float32) makes :func:`load` return None, and the caller uses Keras.

Example:
    >>> network = load("runs/20261127-101500-fashion_mnist-h128/model.keras")  # doctest: +SKIP
    >>> network.probabilities(images).shape  # doctest: +SKIP
    (10000, 10)
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .safe_load import check_model_file

ACTIVATIONS = ("relu", "softmax", "linear", "sigmoid", "tanh")
EPSILON = 1e-7  # Keras's epsilon: probabilities are clipped to [eps, 1 - eps] before the log in the loss


@dataclass(frozen=True)
class DenseNetwork:
    """A Flatten + Dense network's weights and activations, run with NumPy in float32."""

    input_shape: tuple[int, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray, str], ...]  # (kernel, bias, activation) per Dense layer

    @property
    def num_classes(self) -> int:
        return int(self.layers[-1][0].shape[1])

    def count_params(self) -> int:
        return int(sum(kernel.size + bias.size for kernel, bias, _ in self.layers))

    def probabilities(self, x: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
        """Class probabilities for preprocessed images ``x`` of the input shape (float32)."""
        x = np.asarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected images of shape {self.input_shape}, got {tuple(x.shape[1:])}")
        out = [self._forward(x[i:i + batch_size].reshape(len(x[i:i + batch_size]), -1))
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Sparse categorical cross-entropy and accuracy, as Keras's ``evaluate`` computes them."""
        probs = self.probabilities(x)
        y = np.asarray(y).astype(np.int64).reshape(-1)
        picked = np.clip(probs[np.arange(len(y)), y], EPSILON, 1 - EPSILON)
        return {"loss": float(-np.log(picked).mean()), "accuracy": float((probs.argmax(axis=1) == y).mean())}

    def _forward(self, h: np.ndarray) -> np.ndarray:
        for kernel, bias, activation in self.layers:
            h = h @ kernel + bias
            if activation == "relu":
                h = np.maximum(h, 0)
            elif activation == "softmax":
                h = np.exp(h - h.max(axis=1, keepdims=True))
                h /= h.sum(axis=1, keepdims=True)
            elif activation == "sigmoid":
                h = 1 / (1 + np.exp(-h))
            elif activation == "tanh":
                h = np.tanh(h)
        return h.astype(np.float32, copy=False)


def plan(config: dict) -> list[tuple[str, str]] | None:
    """The Dense layers (name, activation) of a Keras model config this module can run, or None.

    Example:
        >>> plan({"class_name": "Sequential", "config": {"layers": [
        ...     {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28], "dtype": "float32"}},
        ...     {"class_name": "Flatten", "config": {"name": "flatten"}},
        ...     {"class_name": "Dense", "config": {"name": "out", "activation": "softmax", "use_bias": True}}]}})
        [('out', 'softmax')]
        >>> plan({"class_name": "Functional", "config": {}}) is None
        True
    """
    if config.get("class_name") != "Sequential" or config.get("module", "keras") != "keras":
        return None
    layers = (config.get("config") or {}).get("layers") or []
    if not layers or layers[0].get("class_name") != "InputLayer":
        return None
    first = layers[0].get("config") or {}
    if first.get("dtype", "float32") != "float32" or not _float32_policy(config.get("config", {}).get("dtype")):
        return None
    dense: list[tuple[str, str]] = []
    flattened = False
    for layer in layers[1:]:
        kind, settings = layer.get("class_name"), layer.get("config") or {}
        if not _float32_policy(settings.get("dtype")):
            return None
        if kind == "Flatten" and not dense:
            flattened = True
        elif kind == "Dropout":
            continue  # identity at inference
        elif kind == "Dense" and flattened:
            if (settings.get("activation") not in ACTIVATIONS or settings.get("use_bias") is not True
                    or settings.get("quantization_config") or settings.get("lora_rank")):
                return None
            dense.append((settings.get("name"), settings["activation"]))
        else:
            return None
    return dense if dense and dense[-1][1] == "softmax" else None


def _float32_policy(policy) -> bool:
    if policy is None:
        return True
    if isinstance(policy, str):
        return policy == "float32"
    return isinstance(policy, dict) and (policy.get("config") or {}).get("name") == "float32"


def load(path: str | os.PathLike[str]) -> DenseNetwork | None:
    """The network in the ``.keras`` file at ``path``, or None when it is not one this module runs.

    Raises:
        ModelError: the file fails :func:`~fashion_lab.safe_load.check_model_file` (as the Keras path would).
    """
    config = check_model_file(path)
    dense = plan(config)
    if dense is None:
        return None
    input_shape = tuple(config["config"]["layers"][0]["config"]["batch_shape"][1:])
    if any(not isinstance(d, int) for d in input_shape):
        return None
    import h5py

    with zipfile.ZipFile(Path(path)) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    by_name: dict[str, list[np.ndarray]] = {}
    with h5py.File(weights, "r") as h5:
        group = h5.get("layers")
        if group is None:
            return None
        for key in group:
            variables = group[key].get("vars")
            if variables is None:
                continue
            name = variables.attrs.get("name", key)
            by_name[name.decode() if isinstance(name, bytes) else name] = [
                np.asarray(variables[str(i)], dtype=np.float32) for i in range(len(variables))]
    layers = []
    width = int(np.prod(input_shape))
    for name, activation in dense:
        values = by_name.get(name)
        if not values or len(values) != 2 or values[0].ndim != 2 or values[0].shape[0] != width:
            return None
        kernel, bias = values
        if bias.shape != (kernel.shape[1],):
            return None
        layers.append((kernel, bias, activation))
        width = kernel.shape[1]
    return DenseNetwork(input_shape=input_shape, layers=tuple(layers))
