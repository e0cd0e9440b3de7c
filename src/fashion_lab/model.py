"""The networks: the seed's multilayer network, the course's convolutional network, and how they are trained.

:func:`build_model` is the seed's Flatten -> Dense(relu)... -> Dense(10, softmax) with Adam; :func:`build_cnn`
the course's next lesson (Conv 64 3x3 -> MaxPool -> Conv 64 3x3 -> MaxPool -> Flatten -> Dense 128 -> Dense 10).
:func:`build_network` builds either from a :class:`~fashion_lab.TrainConfig` with its training recipe:
dropout, input standardization (a first layer holding the training split's statistics, so the saved model
standardizes whatever it is given), AdamW weight decay, label smoothing and a learning-rate schedule.

Example:
    >>> from fashion_lab import build_model
    >>> model = build_model(hidden=[512])
    >>> model.count_params()
    407050
    >>> build_cnn().count_params()
    243786
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._backend import keras as _keras
from .config import MODELS  # noqa: F401  (--model: the seed's dense network, or the course's convolutional one)
from .errors import ConfigError

CNN_FILTERS = 64  # both convolutions, 3x3, as in the course


def build_model(
    hidden: Sequence[int] = (128,),
    *,
    num_classes: int = 10,
    learning_rate: float = 0.001,
    input_shape: tuple[int, int] = (28, 28),
    flatten: bool = True,
    steps_per_execution: int = 1,
    compile: bool = True,
):
    """Build (and compile) the seed's classifier.

    Args:
        hidden: sizes of the hidden Dense(relu) layers, in order. Defaults to ``(128,)``.
        num_classes: size of the softmax output. Defaults to 10.
        learning_rate: Adam's learning rate. Defaults to 0.001.
        input_shape: shape of one image. Defaults to ``(28, 28)``.
        flatten: put the Flatten layer first. Defaults to True; False reproduces the
            seed's "no Flatten" experiment (the model then outputs one vector per image row).
        steps_per_execution: training steps per compiled call; larger means less Python
            overhead per batch. Defaults to 1 (what ``fashion_lab.train`` sets is larger).
        compile: compile with Adam, sparse categorical cross-entropy and accuracy. Defaults to True.
    """
    hidden = _checked_hidden(hidden)
    keras = _keras()
    layers = [keras.Input(shape=input_shape, name="image")]
    if flatten:
        layers.append(keras.layers.Flatten(name="flatten"))
    layers += _dense_stack(keras, hidden, num_classes, dropout=0.0)
    name = "mlp_" + "_".join(str(h) for h in hidden) + ("" if flatten else "_no_flatten")
    model = keras.Sequential(layers, name=name)
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
    return model


def build_cnn(hidden: Sequence[int] = (128,), *, num_classes: int = 10, input_shape: tuple[int, int] = (28, 28),
              dropout: float = 0.0, standardization: dict[str, Any] | None = None):
    """The course's convolutional network, uncompiled: Conv 64 3x3 -> MaxPool -> Conv 64 3x3 -> MaxPool ->
    Flatten -> Dense(relu) per ``hidden`` size -> Dense(10, softmax).

    Args:
        hidden: sizes of the Dense(relu) layers after the convolutions. Defaults to ``(128,)``, the course's.
        num_classes: size of the softmax output. Defaults to 10.
        input_shape: shape of one greyscale image. Defaults to ``(28, 28)``; a channel axis is added inside.
        dropout: dropout rate after each hidden Dense layer (training only). Defaults to 0.
        standardization: input statistics from :func:`input_statistics`. Defaults to None (none).

    Example:
        >>> [layer.name for layer in build_cnn().layers][:3]
        ['channel', 'conv_1', 'pool_1']
    """
    hidden = _checked_hidden(hidden)
    keras = _keras()
    layers: list = [keras.Input(shape=input_shape, name="image")]
    layers += _standardization_layer(keras, standardization)
    layers += [
        keras.layers.Reshape((*input_shape, 1), name="channel"),
        keras.layers.Conv2D(CNN_FILTERS, 3, activation="relu", name="conv_1"),
        keras.layers.MaxPooling2D(2, name="pool_1"),
        keras.layers.Conv2D(CNN_FILTERS, 3, activation="relu", name="conv_2"),
        keras.layers.MaxPooling2D(2, name="pool_2"),
        keras.layers.Flatten(name="flatten"),
    ]
    layers += _dense_stack(keras, hidden, num_classes, dropout=dropout)
    return keras.Sequential(layers, name="cnn_" + "_".join(str(h) for h in hidden))


def build_network(config, *, num_classes: int = 10, steps_per_epoch: int = 1,
                  standardization: dict[str, Any] | None = None, steps_per_execution: int = 1):
    """The network and training recipe ``config`` (a :class:`~fashion_lab.TrainConfig`) describes, compiled.

    The seed's recipe (``model="mlp"``, no dropout, no standardization, Adam, constant rate, no smoothing)
    gives exactly :func:`build_model`'s network. Weight decay > 0 uses AdamW; a ``"cosine"`` schedule rises
    linearly from 0 to ``learning_rate`` over ``warmup_epochs`` and then follows a cosine down to 0 at the last
    epoch (``steps_per_epoch`` converts epochs to optimizer steps); label smoothing > 0 trains on one-hot
    targets (see :func:`fashion_lab.preprocess.prepare_labels`) with smoothed categorical cross-entropy.

    Example:
        >>> from fashion_lab import TrainConfig
        >>> model = build_network(TrainConfig(dropout=0.3, weight_decay=0.01, lr_schedule="cosine"), steps_per_epoch=10)
        >>> type(model.optimizer).__name__, [type(layer).__name__ for layer in model.layers]
        ('AdamW', ['Flatten', 'Dense', 'Dropout', 'Dense'])
    """
    keras = _keras()
    if config.model == "cnn":
        model = build_cnn(config.hidden, num_classes=num_classes, dropout=config.dropout,
                          standardization=standardization)
    elif config.dropout or standardization:
        hidden = _checked_hidden(config.hidden)
        layers = [keras.Input(shape=(28, 28), name="image"), *_standardization_layer(keras, standardization),
                  keras.layers.Flatten(name="flatten"), *_dense_stack(keras, hidden, num_classes, dropout=config.dropout)]
        model = keras.Sequential(layers, name="mlp_" + "_".join(str(h) for h in hidden))
    else:
        model = build_model(config.hidden, num_classes=num_classes, compile=False)
    rate = learning_rate_schedule(config, steps_per_epoch)
    if config.weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate=rate, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=rate)
    if config.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    else:
        loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def learning_rate_schedule(config, steps_per_epoch: int):
    """``config.learning_rate`` as Keras takes it: the number itself, or a cosine decay with linear warm-up.

    The schedule is a function of the optimizer's step counter, which is optimizer state: it is saved in
    ``model.keras`` and resumed with it.

    Example:
        >>> from fashion_lab import TrainConfig
        >>> rate = learning_rate_schedule(TrainConfig(lr_schedule="cosine", warmup_epochs=1, epochs=3), steps_per_epoch=10)
        >>> [round(float(rate(step)), 6) for step in (0, 5, 10, 20, 30)]
        [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """
    if config.lr_schedule == "constant":
        return config.learning_rate
    keras = _keras()
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    total = config.epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=config.learning_rate, warmup_steps=warmup)


def input_statistics(images: np.ndarray, kind: str) -> dict[str, Any] | None:
    """Mean and standard deviation of preprocessed training ``images`` for standardization ``kind``.

    ``"global"``: one mean and one std over all pixels; ``"per-pixel"``: a 28x28 mean and std, each std at
    least :data:`MIN_PIXEL_STD` (a pixel that is almost always 0 would otherwise blow up); ``"none"``: None.
    Compute them on the training split only, so no validation or test image leaks into the model.

    Example:
        >>> stats = input_statistics(np.array([[[0.0, 1.0]], [[0.0, 3.0]]], np.float32), "global")
        >>> stats["mean"], round(stats["std"], 4)
        (1.0, 1.2247)
    """
    if kind == "none":
        return None
    x = np.asarray(images, dtype=np.float64)
    if kind == "global":
        return {"kind": kind, "mean": float(x.mean()), "std": float(x.std())}
    if kind == "per-pixel":
        return {"kind": kind, "mean": x.mean(axis=0).astype(np.float32),
                "std": np.maximum(x.std(axis=0), MIN_PIXEL_STD).astype(np.float32)}
    raise ConfigError(f"unknown standardization {kind!r}; choose one of: none, global, per-pixel.")


MIN_PIXEL_STD = 0.05  # per-pixel std floor (pixels in 0..1): near-constant border pixels stay near 0, not huge


def _standardization_layer(keras, stats: dict[str, Any] | None) -> list:
    if stats is None:
        return []
    if stats["kind"] == "global":
        return [keras.layers.Normalization(axis=None, mean=stats["mean"], variance=stats["std"] ** 2,
                                           name="standardize")]
    return [keras.layers.Normalization(axis=(1, 2), mean=np.asarray(stats["mean"]),
                                       variance=np.square(np.asarray(stats["std"], np.float64)), name="standardize")]


def _dense_stack(keras, hidden: tuple[int, ...], num_classes: int, *, dropout: float) -> list:
    layers = []
    for i, units in enumerate(hidden, start=1):
        layers.append(keras.layers.Dense(units, activation="relu", name=f"hidden_{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{i}"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name="output"))
    return layers


def _checked_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    hidden = tuple(hidden)
    if not hidden or any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in hidden):
        raise ConfigError(f"hidden sizes must be positive integers, got {list(hidden)}; for example hidden=[128].")
    return hidden
