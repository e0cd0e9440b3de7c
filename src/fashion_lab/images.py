"""People's own pictures in, the 28x28 the model expects out.

A photo of a shoe is not a Fashion-MNIST image: it is large, in colour, often on a white
background, maybe transparent, maybe 16-bit. :func:`read_image` opens any file Pillow can read
(PNG, JPEG, BMP, GIF's first frame, WebP, TIFF; RGB, RGBA, palette, 16-bit, greyscale) as one
greyscale float array, and :func:`to_dataset_style` turns that into what the dataset's images
look like: a light object on black, cropped, fitted into a box keeping its aspect ratio, and
centred in 28x28 (by centre of mass, as MNIST was made, or by its bounding box, as
Fashion-MNIST was made). No Keras here: the result is uint8, and prediction normalizes it with
the same :func:`fashion_lab.preprocess.prepare_images` that training used.

Example:
    >>> import numpy as np
    >>> from PIL import Image
    >>> picture = np.full((300, 200), 255, np.uint8)        # white paper...
    >>> picture[100:250, 50:150] = 30                       # ...with a dark shape on it
    >>> Image.fromarray(picture).save("/tmp/shape.png")
    >>> image = load_image("/tmp/shape.png")
    >>> image.shape, image.dtype, int(image[0, 0]), int(image[14, 14])
    ((28, 28), dtype('uint8'), 0, 255)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ImageError

MAX_PIXELS = 40_000_000  # a decompression bomb guard: 40 megapixels is more than any phone photo
FORMATS = "PNG, JPEG, BMP, GIF, WebP or TIFF"


@dataclass(frozen=True)
class Framing:
    """How a dataset's images were framed: the object fitted into ``box`` x ``box`` keeping its aspect
    ratio, then placed in a ``size`` x ``size`` canvas centred by ``centre`` (``"mass"`` or ``"box"``)."""

    box: int = 28
    centre: str = "box"
    size: int = 28

    def __post_init__(self):
        if self.centre not in ("mass", "box"):
            raise ValueError(f"centre must be 'mass' or 'box', got {self.centre!r}")
        if not 1 <= self.box <= self.size:
            raise ValueError(f"box must be between 1 and size ({self.size}), got {self.box}")


# Fashion-MNIST's paper: trim, longest edge resized to 28, centred by the bounding box, negated.
FASHION_FRAMING = Framing(box=28, centre="box")
# MNIST: fitted into 20x20 keeping the aspect ratio, centred in 28x28 by the centre of mass.
MNIST_FRAMING = Framing(box=20, centre="mass")
FRAMINGS = {"fashion_mnist": FASHION_FRAMING, "mnist": MNIST_FRAMING}
FRAMINGS["mnist_10k"] = MNIST_FRAMING  # the same digits, so the same framing


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as a 2-D float32 greyscale array in [0, 1] (0 black, 1 white).

    Multi-frame files (GIF, TIFF) give their first frame. Transparent pixels are composited onto a
    background that contrasts with the opaque object (white behind a dark object, black behind a
    light one), so a cut-out shoe never disappears into its own background. 16-bit images keep
    their full range. EXIF rotation (phone photos) is applied.

    Args:
        path: the image file.
        max_pixels: refuse images with more pixels than this (a decompression bomb guard), checked
            from the header before any pixel is decoded. Defaults to ``MAX_PIXELS`` (40 megapixels).

    Raises:
        ImageError: the file is missing, empty, not an image, truncated or too large.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ImageError(f"{path} {what}; give an image file ({FORMATS}).")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes); give an image file ({FORMATS}).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageError(_too_big(path, width, height, max_pixels))
                img.seek(0)  # first frame of a GIF or multi-page TIFF
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_grey(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(_too_big(path, *_header_size(path), max_pixels)) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read; give a {FORMATS} file.") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated or corrupt data
        raise ImageError(f"{path} could not be decoded ({e}); the file may be truncated or damaged.") from None


def _header_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                with Image.open(path) as img:
                    return img.size
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception:
        return (0, 0)


def _too_big(path: Path, width: int, height: int, limit: int) -> str:
    size = f"{width} x {height} = {width * height / 1e6:.1f} megapixels" if width else "too many pixels"
    return (f"{path} has {size}, over the limit of {limit / 1e6:g} megapixels (a guard against "
            f"decompression bombs); scale the picture down and try again.")


def _to_grey(img) -> np.ndarray:
    """Any Pillow mode to float32 greyscale in [0, 1], compositing transparency first."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = values.max(initial=0.0)
        scale = 1.0 if img.mode == "F" and top <= 1.0 else 255.0 if top <= 255 else 65535.0
        return np.clip(values / scale, 0.0, 1.0).astype(np.float32)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L"
        alpha = rgba[..., 3]
        opaque = alpha.sum()
        object_level = float((grey * alpha).sum() / opaque) if opaque > 0 else 0.0
        background = 1.0 if object_level < 0.5 else 0.0
        return (grey * alpha + background * (1.0 - alpha)).astype(np.float32)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def to_dataset_style(grey: np.ndarray, framing: Framing = FASHION_FRAMING, *, invert: bool | None = None,
                     name: str = "image") -> np.ndarray:
    """Turn a greyscale picture (floats in [0, 1]) into a dataset-style ``size`` x ``size`` uint8 image.

    Steps: invert when the background is light (the datasets have light objects on black; the
    background is the median of the border pixels), stretch so the background is 0 and the brightest
    pixel 255, crop to the object, fit it into ``framing.box`` keeping its aspect ratio, and centre it
    in the canvas by its centre of mass or its bounding box.

    Args:
        grey: 2-D array of floats in [0, 1].
        framing: box size and centring rule. Defaults to Fashion-MNIST's (longest edge 28, centred
            by bounding box); ``MNIST_FRAMING`` is 20x20 centred by centre of mass.
        invert: True or False to force it; None (the default) decides from the border.
        name: what to call the picture in error messages. Defaults to ``"image"``.

    Raises:
        ImageError: the picture is one flat colour, with no object to crop.
    """
    from PIL import Image

    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 2 or grey.size == 0:
        raise ImageError(f"{name}: expected a 2-D greyscale array, got shape {grey.shape}.")
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    forced = invert is not None
    if invert is None:
        invert = bool(np.median(border) > 0.5)
    if invert:
        grey = 1.0 - grey
        border = 1.0 - border
    background = float(np.median(border))
    peak = float(grey.max())
    if peak - background < 0.05:
        raise ImageError(f"{name} is one flat colour after {'inverting' if invert else 'reading'} it (no object "
                         f"stands out from the background); give a picture of one piece of clothing on a plain "
                         f"background{', or let the inversion be automatic' if forced else ''}.")
    grey = np.clip((grey - background) / (peak - background), 0.0, 1.0)
    rows = np.flatnonzero((grey > 0.1).any(axis=1))
    cols = np.flatnonzero((grey > 0.1).any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = framing.box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR  # BOX averages, no aliasing
    fitted = np.asarray(Image.fromarray(crop, mode="F").resize((new_w, new_h), resample), dtype=np.float32)
    fitted = np.clip(fitted, 0.0, 1.0)
    size = framing.size
    if framing.centre == "mass" and fitted.sum() > 0:
        ys, xs = np.indices(fitted.shape)
        cy, cx = (ys * fitted).sum() / fitted.sum(), (xs * fitted).sum() / fitted.sum()
        top, left = round((size - 1) / 2 - cy), round((size - 1) / 2 - cx)
    else:
        top, left = (size - new_h) // 2, (size - new_w) // 2
    top = min(max(top, 0), size - new_h)  # keep the whole object on the canvas
    left = min(max(left, 0), size - new_w)
    canvas = np.zeros((size, size), np.float32)
    canvas[top:top + new_h, left:left + new_w] = fitted
    return np.round(canvas * 255.0).astype(np.uint8)


def load_image(path: str | os.PathLike[str], framing: Framing = FASHION_FRAMING, *, invert: bool | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`read_image` then :func:`to_dataset_style`: any image file to a dataset-style 28x28 uint8 array."""
    return to_dataset_style(read_image(path, max_pixels=max_pixels), framing, invert=invert, name=str(path))
