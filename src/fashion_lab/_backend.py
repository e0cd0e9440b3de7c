"""Choose Keras's backend before Keras is imported: JAX unless the user set ``KERAS_BACKEND``.

On JAX, Keras's uniform random draws (the Glorot-uniform initial weights of every Dense layer, made
again whenever a model is built, cloned or loaded) are also made faster to compile, without changing a
single number: see :func:`_flat_uniform`; and max pooling over non-overlapping windows (the CNN's) runs as a
reshape and a max, the same bits forward and backward, with a training step 2-3 times faster on the CPU: see
:mod:`fashion_lab._fastpool`.
"""

from __future__ import annotations

import functools
import math
import os


def keras():
    """Import and return Keras, on the JAX backend unless ``KERAS_BACKEND`` says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    if os.environ["KERAS_BACKEND"] == "jax":
        from .compile_cache import enable

        enable()  # before anything compiles: a second run loads its programs instead (see compile_cache)
    import keras as _keras

    _install_flat_uniform(_keras.backend.backend())
    _install_fast_pooling(_keras.backend.backend())
    return _keras


@functools.cache
def _install_flat_uniform(backend: str) -> bool:
    """Route Keras's JAX ``uniform`` through :func:`_flat_uniform`, once per process; True when installed."""
    if backend != "jax":
        return False
    try:
        from keras.src.backend.jax import random as jax_random
    except ImportError:  # Keras moved its modules: keep its own draws
        return False
    original = jax_random.uniform
    jax_random.uniform = functools.partial(_flat_uniform, original)
    return True


@functools.cache
def _install_fast_pooling(backend: str) -> bool:
    """Route Keras's JAX ``max_pool`` through :func:`fashion_lab._fastpool.max_pool` (the same bits forward and
    backward, much faster for non-overlapping windows), once per process; True when installed."""
    if backend != "jax":
        return False
    try:
        from keras.src.backend.jax import nn as jax_nn
    except ImportError:  # Keras moved its modules: keep its own pooling
        return False
    from ._fastpool import max_pool

    jax_nn.max_pool = functools.partial(max_pool, jax_nn.max_pool)
    return True


def _flat_uniform(original, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Keras's ``uniform`` drawn as one flat vector and reshaped: the same numbers, compiled up to 3x faster.

    JAX's threefry generator numbers the elements of a draw in row-major order, so a flat draw reshaped
    equals the draw of the shape itself (tests/test_fast_paths.py checks it). XLA on CPU compiles the
    flat draw much faster for some shapes: 0.12 s instead of 0.37 s for the (128, 10) output kernel,
    which every ``fashion-lab train`` (model, checkpoint copy) and every model load paid.
    """
    import jax

    if not isinstance(shape, (tuple, list)) or len(shape) < 2 or jax.config.jax_default_prng_impl != "threefry2x32":
        return original(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
    return original((math.prod(shape),), minval=minval, maxval=maxval, dtype=dtype, seed=seed).reshape(tuple(shape))
