"""Choose Keras's backend before Keras is imported: JAX unless the user set ``KERAS_BACKEND``.

On JAX, Keras's uniform random draws (the Glorot-uniform initial weights of every Dense layer, made
again whenever a model is built, cloned or loaded) are also made faster to compile, without changing a
single number: see :func:`_flat_uniform`; and max pooling over non-overlapping windows (the CNN's) runs as a
reshape and a max, the same bits forward and backward, with a training step 2-3 times faster on the CPU: see
:mod:`fashion_lab._fastpool`. Keras is imported without matplotlib, which its image-gallery helpers would load
eagerly (a third of ``import keras``): see :func:`_import_keras_without_matplotlib`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import sys


def keras():
    """Import and return Keras, on the JAX backend unless ``KERAS_BACKEND`` says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    if os.environ["KERAS_BACKEND"] == "jax":
        from .compile_cache import enable

        enable()  # before anything compiles: a second run loads its programs instead (see compile_cache)
    _keras = _import_keras_without_matplotlib()

    _install_flat_uniform(_keras.backend.backend())
    _install_fast_pooling(_keras.backend.backend())
    return _keras


# Keras modules that import matplotlib at their top, guarded by ``except ImportError``: (module, name it binds, what).
_KERAS_MATPLOTLIB_NAMES = (
    ("keras.src.visualization.plot_image_gallery", "plt", "matplotlib.pyplot"),
    ("keras.src.visualization.plot_bounding_box_gallery", "patches", "matplotlib.patches"),
)


def _import_keras_without_matplotlib():
    """``import keras``, leaving matplotlib unloaded; Keras's gallery helpers still work, loading it on first use.

    Keras 3 imports ``matplotlib.pyplot`` while it imports (for ``keras.visualization``, which fashion-lab does
    not use): 0.3-0.5 s of the 1.6-1.8 s of ``import keras`` on the 2-core machine, and 27 MB. Commands that do
    not plot should not pay it, and those that plot import it on a thread while they train
    (:func:`fashion_lab.plots.import_in_background`). So while Keras imports, matplotlib reads as absent; then
    the names Keras bound to None become stand-ins that import the real module at their first attribute.
    When matplotlib is already loaded (a notebook), this is a plain ``import keras``. Another thread importing
    matplotlib during those 1-1.5 s would find it absent too; fashion-lab's own (the dataset reader that runs
    beside the import) does not import it.
    """
    if "keras" in sys.modules or "matplotlib" in sys.modules:
        import keras

        return keras
    with _absent_modules("matplotlib", "matplotlib.pyplot", "matplotlib.patches"):
        import keras
    for module_name, attribute, target in _KERAS_MATPLOTLIB_NAMES:
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, attribute, "missing") is None:
            setattr(module, attribute, _ModuleOnFirstUse(target))
    return keras


@contextlib.contextmanager
def _absent_modules(*names: str):
    """Within the block, importing any of ``names`` raises ImportError (a None entry in ``sys.modules``)."""
    added = [name for name in names if name not in sys.modules]
    for name in added:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in added:
            if sys.modules.get(name, "other") is None:
                del sys.modules[name]


class _ModuleOnFirstUse:
    """Stands for the module ``name`` and imports it at the first attribute read.

    Example:
        >>> json = _ModuleOnFirstUse("json")
        >>> json.dumps([1])
        '[1]'
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


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
