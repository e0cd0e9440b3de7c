"""The one preprocessing step shared by training, evaluation and prediction.

Example:
    >>> import numpy as np
    >>> normalize(np.array([[0, 255]], dtype=np.uint8))
    array([[0., 1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np


def normalize(images: np.ndarray) -> np.ndarray:
    """Scale uint8 pixels 0..255 to float32 0..1 (the seed's ``/ 255.0``, without float64)."""
    return np.multiply(images, np.float32(1.0 / 255.0), dtype=np.float32)


def prepare_images(images: np.ndarray, *, normalized: bool = True) -> np.ndarray:
    """Turn uint8 images into the model's float32 input, normalized unless ``normalized=False``."""
    if normalized:
        return normalize(images)
    return np.asarray(images, dtype=np.float32)


def prepare_labels(labels: np.ndarray, *, num_classes: int = 10, one_hot: bool = False) -> np.ndarray:
    """Turn labels into the model's targets: int32 class indices, or one-hot float32 rows when ``one_hot``
    (a model trained with label smoothing takes those: Keras smooths only categorical cross-entropy).

    Example:
        >>> prepare_labels(np.array([2, 0], np.uint8), num_classes=3, one_hot=True)
        array([[0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """
    labels = np.asarray(labels).astype(np.int32)
    if not one_hot:
        return labels
    return np.eye(num_classes, dtype=np.float32)[labels]


class PixelImages:
    """uint8 images that read as :func:`prepare_images` would make them: float32, through a 256-entry table.

    Training and its evaluations keep the images in this form, a quarter of the float32 size: Fashion-MNIST's
    60,000 training images are 47 MB here against 188 MB as float32. Indexing gives float32 NumPy arrays; the
    fused training loop (:mod:`fashion_lab._fastfit`) puts :attr:`codes` on the device and turns each batch into
    floats inside the compiled epoch, by looking the pixels up in :attr:`table`, and the shared evaluation
    (:mod:`fashion_lab._fasteval`) does the same per chunk.

    The table holds exactly what :func:`prepare_images` gives for each grey level, so every pixel has the same
    bits as before. The lookup is a gather, not arithmetic: nothing in the compiled program can fuse it with
    the model's first operations (a multiply fused with a standardization's subtraction would round once
    instead of twice), so training gives the same weights as on the float32 images (tests/test_fast_paths.py).

    Example:
        >>> images = PixelImages(np.array([[[0, 255]], [[255, 0]]], np.uint8))
        >>> images[0], images.shape, len(images)
        (array([[0., 1.]], dtype=float32), (2, 1, 2), 2)
    """

    def __init__(self, codes: np.ndarray, *, normalized: bool = True):
        self.codes = np.asarray(codes)
        if self.codes.dtype != np.uint8:
            raise TypeError(f"PixelImages takes uint8 pixels, not {self.codes.dtype}")
        self.normalized = normalized
        self.table = prepare_images(np.arange(256, dtype=np.uint8), normalized=normalized)
        self._device = None

    shape = property(lambda self: self.codes.shape)
    ndim = property(lambda self: self.codes.ndim)
    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, key) -> np.ndarray:
        return np.take(self.table, self.codes[key])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy is False:
            raise ValueError("PixelImages hold uint8 codes: reading them as floats makes a new array, "
                             "and copy=False asked for none")
        table = self.table if dtype is None else self.table.astype(dtype)
        return table[self.codes]

    def select(self, index: np.ndarray) -> PixelImages:
        """The images at ``index``, still as uint8 codes (``self[index]`` gives them as float32)."""
        return PixelImages(self.codes[index], normalized=self.normalized)

    def on_device(self):
        """``(codes, table)`` as JAX arrays on the default device, put there once and kept."""
        if self._device is None:
            import jax

            self._device = (jax.device_put(self.codes), jax.device_put(self.table))
        return self._device


def as_array(images) -> np.ndarray:
    """``images`` as an array Keras's own ``fit``/``evaluate`` take: :class:`PixelImages` become float32."""
    return np.asarray(images) if isinstance(images, PixelImages) else images
