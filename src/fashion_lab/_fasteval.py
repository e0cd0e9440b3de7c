"""Evaluation and prediction for the seed's networks in one compiled call shared by models of a shape.

On the JAX backend, ``model.evaluate`` and ``model.predict`` compile a function per model (and, for
``evaluate`` with several steps per execution, per number of batches in a call). For the seed's small
networks that compilation costs far more than the arithmetic: about 0.4 s per model to evaluate the
test and training sets, against a few hundredths of a second of work. A layer-size experiment that
trains a dozen models pays it a dozen times, plus once more per model for the validation set.

A model that is a plain stack of layers, ``Flatten`` then ``Dense`` layers with relu, softmax or no
activation (what :func:`fashion_lab.build_model` makes), optionally with ``Dropout`` between them (the
identity outside training) and a ``Normalization`` layer first (a standardized input), compiled with sparse categorical cross-entropy
and accuracy, is evaluated here by one jitted function of its *weights*: compiled once per layer shapes
and number of images, then reused by every model of that shape (every seed of an experiment, the
validation set after every epoch). It computes what Keras computes: the probabilities are normalised,
clipped to ``[epsilon, 1 - epsilon]`` and logged for the loss, averaged over the images; the accuracy
is the share of images whose largest probability is the true class. Any other model (another loss,
extra layers, the "no Flatten" model, another backend) goes to Keras's own ``evaluate``/``predict``.

Example:
    >>> import numpy as np
    >>> from fashion_lab import build_model
    >>> from fashion_lab._fasteval import evaluate, probabilities
    >>> model = build_model()
    >>> x, y = np.zeros((5, 28, 28), np.float32), np.zeros(5, np.uint8)
    >>> probabilities(model, x).shape
    (5, 10)
    >>> sorted(evaluate(model, x, y))
    ['accuracy', 'loss']
"""

from __future__ import annotations

import functools

import numpy as np

from .preprocess import PixelImages, as_array

CHUNK = 2048  # images per compiled call: one shape for every data size, and bounded memory for wide layers


def plan(model, *, for_loss: bool = False) -> tuple[str, ...] | None:
    """The Dense layers' activation names when ``model`` can take the shared path, else None.

    Args:
        model: a Keras model.
        for_loss: also require the compiled loss and metrics that :func:`evaluate` reproduces
            (sparse categorical cross-entropy, accuracy). Defaults to False (enough for prediction).
    """
    import keras

    if keras.backend.backend() != "jax" or type(model) is not keras.Sequential or not model.built:
        return None
    inputs = getattr(model, "inputs", None) or []
    layers = list(model.layers)
    steps: list[str] = []
    if layers and type(layers[0]) is keras.layers.Normalization:  # standardized input: (x - mean) / std
        norm = layers.pop(0)
        if norm.invert or norm.mean is None or norm.dtype_policy.name != "float32":
            return None
        steps.append("standardize")
    if (
        len(inputs) != 1 or inputs[0].dtype != "float32"  # Keras casts other input dtypes first
        or len(layers) < 2 or type(layers[0]) is not keras.layers.Flatten or layers[0].data_format != "channels_last"
        or layers[0].dtype_policy.name != "float32"
    ):
        return None
    names = {keras.activations.relu: "relu", keras.activations.softmax: "softmax", keras.activations.linear: "linear"}
    for layer in layers[1:]:
        if type(layer) is keras.layers.Dropout:  # the identity outside training
            continue
        if (
            type(layer) is not keras.layers.Dense
            or not layer.use_bias
            or layer.activation not in names
            or getattr(layer, "lora_enabled", False)
            or getattr(layer, "quantization_mode", None) is not None
            or layer.dtype_policy.name != "float32"
            or layer.kernel_regularizer is not None
            or layer.bias_regularizer is not None
            or layer.activity_regularizer is not None
        ):
            return None
        steps.append(names[layer.activation])
    if for_loss:
        config = model.get_compile_config() if model.compiled else None
        if not config or config.get("loss") != "sparse_categorical_crossentropy" or config.get("metrics") != ["accuracy"]:
            return None
        if config.get("loss_weights") is not None or config.get("weighted_metrics") is not None:
            return None
    return tuple(steps)


def _fits(model, x) -> bool:
    """True when ``x`` holds at least one image of the shape the model takes (Keras reports anything else)."""
    return len(x) > 0 and tuple(np.shape(x)[1:]) == tuple(model.input_shape[1:])


def _plain_labels(y: np.ndarray, classes: int) -> bool:
    """True for one integer label per image, each a class index (Keras handles other label forms itself)."""
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and len(y) > 0 and 0 <= y.min() and y.max() < classes


def _weights(model) -> list:
    """Per step of :func:`plan`: ``(mean, variance)`` of the standardization, ``(kernel, bias)`` of each Dense layer."""
    import keras

    out = []
    for layer in model.layers:
        if type(layer) is keras.layers.Normalization:
            out.append((layer.mean, layer.variance))
        elif type(layer) is keras.layers.Dense:
            out.append((layer.kernel.value, layer.bias.value))
    return out


@functools.cache
def _compiled():
    """The jitted functions, made on first use (importing JAX is kept off the CLI's start-up path).

    Both take one chunk of exactly CHUNK images (the last chunk padded), so each compiles once per layer
    shapes, whatever the number of images; and a pixel ``table`` when the chunk holds the uint8 codes of
    :class:`~fashion_lab.preprocess.PixelImages`, looked up inside the call (a quarter of the bytes to move,
    and no lookup on the host).
    """
    import jax
    import jax.numpy as jnp

    def forward(weights, x, activations, epsilon, table):
        if table is not None:  # uint8 pixels, looked up as PixelImages reads them: the same float32 bits
            x = table[x]
        x = x.reshape(x.shape[0], -1).astype(jnp.float32)
        for (kernel, bias), activation in zip(weights, activations):
            if activation == "standardize":  # kernel, bias = mean, variance, as keras.layers.Normalization divides
                mean, variance = kernel.reshape(1, -1), bias.reshape(1, -1)
                x = (x - mean) / jnp.maximum(jnp.sqrt(variance), epsilon)
                continue
            x = x @ kernel + bias
            if activation == "relu":
                x = jax.nn.relu(x)
            elif activation == "softmax":
                x = jax.nn.softmax(x, axis=-1)
        return x

    @functools.partial(jax.jit, static_argnames=("activations", "epsilon"))
    def predict(weights, x, activations, epsilon, table=None):
        return forward(weights, x, activations, epsilon, table)

    @functools.partial(jax.jit, static_argnames=("activations", "epsilon"))
    def loss_and_correct(weights, x, y, valid, activations, epsilon, table=None):
        """Sums over the first ``valid`` images: cross-entropy as Keras computes it, and correct predictions."""
        p = forward(weights, x, activations, epsilon, table)
        y = y.astype(jnp.int32)
        picked = jnp.take_along_axis(p / p.sum(axis=-1, keepdims=True), y[:, None], axis=-1)[:, 0]
        keep = jnp.arange(x.shape[0]) < valid
        loss = jnp.where(keep, -jnp.log(jnp.clip(picked, epsilon, 1.0 - epsilon)), 0.0).sum()
        return loss, (keep & (jnp.argmax(p, axis=-1) == y)).sum()

    return predict, loss_and_correct


def _pixels(x) -> tuple:
    """``(images to chunk, pixel table or None)``: a :class:`PixelImages`' uint8 codes and its table, else ``x``."""
    return (x.codes, x.table) if isinstance(x, PixelImages) else (x, None)


def _chunks(*arrays, index=None):
    """Yield ``(valid, chunk, ...)``: CHUNK-image slices of ``arrays``, the last one padded with zeros.

    With ``index``, the images ``arrays[i][index]`` in that order, gathered one chunk at a time (no copy of
    the whole selection is made).
    """
    n = len(arrays[0]) if index is None else len(index)
    for start in range(0, n, CHUNK):
        if index is None:
            parts = [a[start:start + CHUNK] for a in arrays]
        else:
            parts = [a[index[start:start + CHUNK]] for a in arrays]
        valid = len(parts[0])
        if valid < CHUNK:
            parts = [np.concatenate([p, np.zeros((CHUNK - valid, *p.shape[1:]), p.dtype)]) for p in parts]
        yield (valid, *parts)


def probabilities(model, x: np.ndarray, *, batch_size: int = 10_000) -> np.ndarray:
    """``model.predict(x)``: class probabilities, through the shared compiled path when the model allows.

    Args:
        model: a Keras model.
        x: preprocessed images (what the model was trained on), or :class:`~fashion_lab.preprocess.PixelImages`.
        batch_size: batch size for Keras's own ``predict`` when the model cannot take the shared path.
    """
    activations = plan(model)
    if activations is None or not _fits(model, x):
        return np.asarray(model.predict(as_array(x), batch_size=batch_size, verbose=0))
    import keras

    predict, _ = _compiled()
    weights, epsilon = _weights(model), float(keras.config.epsilon())
    x, table = _pixels(x)
    return np.concatenate([np.asarray(predict(weights, chunk, activations, epsilon, table))[:valid]
                           for valid, chunk in _chunks(x)])


def evaluate(model, x: np.ndarray, y: np.ndarray, index: np.ndarray | None = None, *,
             batch_size: int = 1024) -> dict[str, float]:
    """``model.evaluate(x, y, return_dict=True)``: ``{"loss": ..., "accuracy": ...}``, shared path when possible.

    Args:
        model: a compiled Keras model.
        x, y: preprocessed images (or :class:`~fashion_lab.preprocess.PixelImages`) and integer labels.
        index: evaluate on ``x[index], y[index]`` (a validation split of a shared array, say), gathered a
            chunk at a time on the shared path. Defaults to None: all of ``x``.
        batch_size: batch size for Keras's own ``evaluate`` when the model cannot take the shared path.
    """
    import keras

    activations = plan(model, for_loss=True)
    y = np.asarray(y)
    if activations is None or not _fits(model, x) or not _plain_labels(y, model.layers[-1].units):
        x, y = (as_array(x), y) if index is None else (x[index], y[index])
        logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {name: float(value) for name, value in logs.items()}
    _, loss_and_correct = _compiled()
    weights, epsilon = _weights(model), float(keras.config.epsilon())
    images, table = _pixels(x)
    sums = [loss_and_correct(weights, xc, yc, np.int32(valid), activations, epsilon, table)
            for valid, xc, yc in _chunks(images, y, index=index)]
    loss, correct = (sum(float(v) for v in column) for column in zip(*sums))
    n = len(x) if index is None else len(index)
    return {"loss": loss / n, "accuracy": correct / n}
