"""People's own pictures in, the 28x28 the model expects out.

A photo of a shoe is not a Fashion-MNIST image: it is large, in colour, often on a white
background, maybe transparent, maybe 16-bit. :func:`read_image` opens any file Pillow can read
(PNG, JPEG, BMP, GIF's first frame, WebP, TIFF; RGB, RGBA, palette, 16-bit, greyscale) as one
greyscale float array, and :func:`read_picture` (or :func:`to_dataset_style`, its image) turns
that into what the dataset's images look like: the garment found by
:func:`fashion_lab.segmentation.find_object` (frame, background, object), a light object on black,
cropped, fitted into a box keeping its aspect ratio, and centred in 28x28 (by centre of mass, as
MNIST was made, or by its bounding box, as Fashion-MNIST was made). A 28x28 picture is taken as it is. No Keras here: the result is uint8, and prediction normalizes it with
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

from .errors import CannotRead, ImageError
from .segmentation import MIN_CONTRAST, Found, find_object, upright_angle

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
        # Fashion-MNIST was made from product photos on white: a cut-out goes on white too, unless it is
        # itself almost white (then on black, so that it does not vanish).
        darkness = (1.0 - grey)[alpha > 0.5]
        background = 1.0 if darkness.size == 0 or float(np.percentile(darkness, 95)) >= 0.15 else 0.0
        return (grey * alpha + background * (1.0 - alpha)).astype(np.float32)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


@dataclass
class Reading:
    """A picture read for the model: ``image`` (the ``size`` x ``size`` uint8 it sees) and ``found``, what
    :func:`fashion_lab.segmentation.find_object` found (frame, background, object outline); ``as_is`` is True
    when the picture already had the model's size and was taken as it is (inverted at most)."""

    image: np.ndarray
    found: Found
    as_is: bool = False


def read_picture(grey: np.ndarray, framing: Framing = FASHION_FRAMING, *, invert: bool | None = None,
                 name: str = "image") -> Reading:
    """Turn a greyscale picture (floats in [0, 1]) into the dataset-style image the model sees, and say what was found.

    A picture that already has the model's size (28x28) is taken as it is, only inverted when its
    background is light: a dataset image saved to a file and read back gets the same prediction as
    the dataset image. Any other picture goes through :func:`fashion_lab.segmentation.find_object`
    (frame, background, object) and :func:`fit_to_frame` (crop, scale, centre).

    Raises:
        CannotRead: no single garment could be found (see :func:`fashion_lab.segmentation.find_object`).
        ImageError: ``grey`` is not a 2-D picture.
    """
    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 2 or grey.size == 0:
        raise ImageError(f"{name}: expected a 2-D greyscale array, got shape {grey.shape}.")
    if grey.shape == (framing.size, framing.size):
        return _as_is(grey, invert, name)
    found = find_object(grey, invert=invert, name=name)
    return Reading(fit_to_frame(upright_crop(found), framing), found)


def upright_crop(found: Found) -> np.ndarray:
    """The found object cropped to its box, turned upright first when it stands at a slight angle
    (:func:`fashion_lab.segmentation.upright_angle`; the angle is kept in ``found.angle``)."""
    from scipy import ndimage

    top, bottom, left, right = found.bbox
    signal, mask = found.signal[top:bottom, left:right], found.mask[top:bottom, left:right]
    found.angle = upright_angle(mask)
    if found.angle:
        signal = np.clip(ndimage.rotate(signal, found.angle, order=1, reshape=True), 0.0, 1.0)
        mask = ndimage.rotate(mask.astype(np.float32), found.angle, order=1, reshape=True) > 0.5
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        signal = signal[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return signal


def _as_is(grey: np.ndarray, invert: bool | None, name: str) -> Reading:
    """A picture of the model's size: inverted when its border is light (or when asked), otherwise unchanged."""
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    found = Found(picture=grey, background=float(np.median(border)))
    found.inverted = bool(found.background > 0.5) if invert is None else bool(invert)
    signal = 1.0 - grey if found.inverted else grey
    background = 1.0 - found.background if found.inverted else found.background
    found.contrast = float(signal.max()) - background
    if float(grey.max() - grey.min()) < 2 / 255:
        raise CannotRead(f"{name} is one flat colour (every pixel {found.background * 255:.0f} of 255): there is "
                         f"nothing to recognise; give a picture of one piece of clothing.", reason="flat", found=found)
    if found.contrast < MIN_CONTRAST:
        how = "after inverting it" if found.inverted else "as it is"
        raise CannotRead(f"cannot read {name}: no object stands out {how} (nothing is brighter than the "
                         f"background, {background:.2f}); "
                         f"{'let the inversion be automatic (--invert auto)' if invert is not None else 'give a clearer picture'}.",
                         reason="low_contrast", found=found)
    found.mask = signal > background + MIN_CONTRAST
    rows, cols = np.flatnonzero(found.mask.any(axis=1)), np.flatnonzero(found.mask.any(axis=0))
    found.bbox = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    found.signal = signal
    found.objects = [{"area": int(found.mask.sum()), "bbox": found.bbox}]
    return Reading(np.round(np.clip(signal, 0.0, 1.0) * 255.0).astype(np.uint8), found, as_is=True)


def fit_to_frame(crop: np.ndarray, framing: Framing = FASHION_FRAMING) -> np.ndarray:
    """Fit an object cropped to its box (floats in [0, 1], light on 0) into ``framing``: its longest edge scaled
    to ``framing.box`` keeping the aspect ratio, centred in the ``size`` x ``size`` canvas by its bounding box or
    its centre of mass. Returns uint8.

    Example:
        >>> fit_to_frame(np.ones((10, 5), np.float32)).shape
        (28, 28)
    """
    from PIL import Image

    h, w = crop.shape
    scale = framing.box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR  # BOX averages, no aliasing
    fitted = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize((new_w, new_h), resample),
                        dtype=np.float32)
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


def to_dataset_style(grey: np.ndarray, framing: Framing = FASHION_FRAMING, *, invert: bool | None = None,
                     name: str = "image") -> np.ndarray:
    """The ``size`` x ``size`` uint8 image the model sees for a greyscale picture: :func:`read_picture`'s ``image``.

    Args:
        grey: 2-D array of floats in [0, 1].
        framing: box size and centring rule. Defaults to Fashion-MNIST's (longest edge 28, centred
            by bounding box); ``MNIST_FRAMING`` is 20x20 centred by centre of mass.
        invert: True or False to force it; None (the default) inverts when the background is light.
        name: what to call the picture in error messages. Defaults to ``"image"``.

    Raises:
        CannotRead: no single garment could be found.
    """
    return read_picture(grey, framing, invert=invert, name=name).image


def load_image(path: str | os.PathLike[str], framing: Framing = FASHION_FRAMING, *, invert: bool | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`read_image` then :func:`to_dataset_style`: any image file to a dataset-style 28x28 uint8 array."""
    return load_picture(path, framing, invert=invert, max_pixels=max_pixels).image


def load_picture(path: str | os.PathLike[str], framing: Framing = FASHION_FRAMING, *, invert: bool | None = None,
                 max_pixels: int = MAX_PIXELS) -> Reading:
    """:func:`read_image` then :func:`read_picture`: the image the model sees and what was found in the file."""
    return read_picture(read_image(path, max_pixels=max_pixels), framing, invert=invert, name=str(path))
