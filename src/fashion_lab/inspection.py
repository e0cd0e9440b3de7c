"""Look at one dataset image: its label, its pixel array as the seed prints it, and a PNG.

Example:
    >>> from fashion_lab.inspection import describe_image
    >>> text = describe_image(dataset, 0)  # doctest: +SKIP
    >>> print(text.splitlines()[0])  # doctest: +SKIP
    Label: 9 (Ankle boot)
"""

from __future__ import annotations

import numpy as np

from .datasets import Dataset
from .errors import ConfigError


def get_image(dataset: Dataset, index: int, split: str = "train") -> tuple[np.ndarray, int]:
    """Image ``index`` of ``split`` and its label; a bad index raises a :class:`ConfigError` saying the valid range."""
    images, labels = dataset.split(split)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(images):
        raise ConfigError(f"index {index!r} is out of range for the {split} split; valid indices are 0 to {len(images) - 1}.")
    return images[index], int(labels[index])


def format_pixels(image: np.ndarray) -> str:
    """The pixel array as the seed prints it (``np.set_printoptions(linewidth=320)``)."""
    return np.array2string(np.asarray(image), max_line_width=320, threshold=image.size + 1)


def describe_image(dataset: Dataset, index: int, split: str = "train") -> str:
    """Label number and name, then the 28x28 pixel array, as text."""
    image, label = get_image(dataset, index, split)
    return f"Label: {label} ({dataset.classes[label]})\n\nImage Pixel Array:\n{format_pixels(image)}"
