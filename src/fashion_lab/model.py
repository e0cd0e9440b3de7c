"""The seed's multilayer network: Flatten -> Dense(relu)... -> Dense(10, softmax).

Example:
    >>> from fashion_lab import build_model
    >>> model = build_model(hidden=[512])
    >>> model.count_params()
    407050
"""

from __future__ import annotations

from collections.abc import Sequence

from ._backend import keras as _keras
from .errors import ConfigError


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
    hidden = tuple(hidden)
    if not hidden or any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in hidden):
        raise ConfigError(f"hidden sizes must be positive integers, got {list(hidden)}; for example hidden=[128].")
    keras = _keras()
    layers = [keras.Input(shape=input_shape, name="image")]
    if flatten:
        layers.append(keras.layers.Flatten(name="flatten"))
    for i, units in enumerate(hidden, start=1):
        layers.append(keras.layers.Dense(units, activation="relu", name=f"hidden_{i}"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name="output"))
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
