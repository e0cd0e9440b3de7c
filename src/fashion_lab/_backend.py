"""Choose Keras's backend before Keras is imported: JAX unless the user set ``KERAS_BACKEND``."""

from __future__ import annotations

import os


def keras():
    """Import and return Keras, on the JAX backend unless ``KERAS_BACKEND`` says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras as _keras

    return _keras
