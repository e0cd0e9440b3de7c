"""Max pooling over non-overlapping windows as a reshape and a max: Keras's numbers, forward and backward,
about 30 times faster on the CPU.

Keras's JAX ``max_pool`` is ``lax.reduce_window``, whose gradient XLA on the CPU computes with a
``select_and_scatter`` that took 8.2 ms of each 32-image training step of the course's CNN (its first pooling,
26x26x64), against 0.26 ms here. When the windows do not overlap (``strides == pool_size``, ``"valid"``
padding, the Keras default for ``MaxPooling2D(2)``), every input belongs to at most one window, so pooling is
a reshape into windows and a max over each; the gradient goes, as XLA's ``select_and_scatter`` sends it, to the
first position of the window (in row-major order) that holds the maximum, and nowhere else. Both directions
give the same bits as ``lax.reduce_window`` (``tests/test_fast_paths.py`` checks ties, odd sizes that drop
the last row and column, and rectangular windows). Any other pooling goes to Keras's own.

:func:`fashion_lab._backend.keras` routes Keras's JAX ``max_pool`` through :func:`max_pool` once per process.

Example:
    >>> import jax.numpy as jnp
    >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    >>> max_pool(None, x, 2)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def max_pool(original, inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Keras's ``max_pool`` (``original``, called for what this does not cover) for non-overlapping 2-D windows
    of channels-last images."""
    window = _pair(pool_size)
    step = window if strides is None else _pair(strides)
    fmt = data_format or "channels_last"
    if (window is None or step != window or str(padding).lower() != "valid" or fmt != "channels_last"
            or getattr(inputs, "ndim", None) != 4 or not jnp.issubdtype(inputs.dtype, jnp.floating)
            or inputs.shape[1] < window[0] or inputs.shape[2] < window[1]):
        return original(inputs, pool_size, strides, padding, data_format)
    return _block_max(window)(inputs)


def _pair(value) -> tuple[int, int] | None:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


@functools.cache
def _block_max(window: tuple[int, int]):
    """The pooling for one window shape, with the gradient rule of ``select_and_scatter``."""
    ph, pw = window
    size = ph * pw

    def windows(x):  # (B, H, W, C) -> (B, H', W', C, ph*pw), each window's positions in row-major order
        b, h, w, c = x.shape
        h2, w2 = h // ph, w // pw
        blocks = x[:, :h2 * ph, :w2 * pw, :].reshape(b, h2, ph, w2, pw, c)
        return blocks.transpose(0, 1, 3, 5, 2, 4).reshape(b, h2, w2, c, size)

    @jax.custom_vjp
    def pool(x):
        return windows(x).max(axis=-1)

    def forward(x):
        blocks = windows(x)
        return blocks.max(axis=-1), (x.shape, blocks.argmax(axis=-1))  # argmax: the first maximum

    def backward(saved, g):
        (b, h, w, c), first = saved
        h2, w2 = h // ph, w // pw
        spread = jax.nn.one_hot(first, size, dtype=g.dtype) * g[..., None]
        spread = spread.reshape(b, h2, w2, c, ph, pw).transpose(0, 1, 4, 2, 5, 3).reshape(b, h2 * ph, w2 * pw, c)
        # Rows and columns no window reaches (an odd size) get no gradient, as in select_and_scatter.
        return (jnp.pad(spread, ((0, 0), (0, h - h2 * ph), (0, w - w2 * pw), (0, 0))),)

    pool.defvjp(forward, backward)
    return pool


__all__ = ["max_pool"]
