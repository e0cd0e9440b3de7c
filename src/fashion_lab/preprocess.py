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
