"""Reading people's pictures: every format and mode, transparency, 16-bit, GIF frames, inversion, framing, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashion_lab.errors import ImageError
from fashion_lab.images import FASHION_FRAMING, MNIST_FRAMING, load_image, read_image, to_dataset_style


def dark_on_white(height=240, width=180, box=(40, 60, 200, 140), ink=40, paper=250) -> np.ndarray:
    """A photo-like picture: a dark rectangle (rows 40-200, columns 60-140, so twice as tall as wide) on paper."""
    picture = np.full((height, width), paper, np.uint8)
    top, left, bottom, right = box
    picture[top:bottom, left:right] = ink
    return picture


def object_extent(image: np.ndarray, threshold: int = 64) -> tuple[int, int]:
    rows = np.flatnonzero((image > threshold).any(axis=1))
    cols = np.flatnonzero((image > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def assert_dataset_style(image: np.ndarray) -> None:
    """28x28 uint8, black background, a light object twice as tall as wide, fitted to 28 and centred."""
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image[0, 0] == image[-1, -1] == image[0, -1] == 0
    assert image.max() >= 240
    height, width = object_extent(image)
    assert height == 28 and 13 <= width <= 15
    cols = np.flatnonzero((image > 64).any(axis=0))
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1


FORMATS = {"PNG": "png", "JPEG": "jpg", "BMP": "bmp", "GIF": "gif", "WEBP": "webp", "TIFF": "tif"}


@pytest.mark.parametrize("mode", ["L", "RGB", "P"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_and_mode(tmp_path, fmt, mode):
    grey = dark_on_white()
    img = Image.fromarray(np.stack([grey, grey // 2 + 100, grey], -1), "RGB")  # a tinted object
    if mode == "L":
        img = img.convert("L")
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    if fmt == "JPEG" and mode == "P":
        img = img.convert("RGB")  # JPEG has no palette mode
    path = tmp_path / f"picture.{FORMATS[fmt]}"
    img.save(path, format=fmt)
    assert_dataset_style(load_image(path))


def test_light_and_dark_backgrounds_give_the_same_input(tmp_path):
    Image.fromarray(dark_on_white()).save(tmp_path / "white.png")
    Image.fromarray(255 - dark_on_white()).save(tmp_path / "black.png")
    on_white, on_black = load_image(tmp_path / "white.png"), load_image(tmp_path / "black.png")
    assert_dataset_style(on_black)
    assert np.abs(on_white.astype(int) - on_black).max() <= 2


def test_invert_can_be_forced(tmp_path):
    Image.fromarray(dark_on_white()).save(tmp_path / "white.png")
    Image.fromarray(255 - dark_on_white()).save(tmp_path / "black.png")
    assert np.array_equal(load_image(tmp_path / "white.png", invert=True), load_image(tmp_path / "white.png"))
    assert np.array_equal(load_image(tmp_path / "black.png", invert=False), load_image(tmp_path / "black.png"))
    with pytest.raises(ImageError, match="no object stands out"):  # forced the wrong way: the object vanishes
        load_image(tmp_path / "black.png", invert=True)


@pytest.mark.parametrize("hidden_colour", [(0, 0, 0), (255, 255, 255)], ids=["transparent-black", "transparent-white"])
@pytest.mark.parametrize("ink", [30, 230], ids=["dark-object", "light-object"])
def test_rgba_transparency_is_composited_behind_the_object(tmp_path, hidden_colour, ink):
    # A cut-out: the object is opaque, the rest fully transparent with whatever colour the editor left there.
    rgba = np.zeros((240, 180, 4), np.uint8)
    rgba[..., :3] = hidden_colour
    rgba[40:200, 60:140] = (ink, ink, ink, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    assert_dataset_style(load_image(tmp_path / "cutout.png"))


def test_palette_with_transparent_index(tmp_path):
    indices = np.zeros((240, 180), np.uint8)  # index 0: transparent (its colour is black)
    indices[40:200, 60:140] = 1  # index 1: dark grey, opaque
    img = Image.fromarray(indices, "P")
    img.putpalette([0, 0, 0, 50, 50, 50] + [0] * 762)
    img.save(tmp_path / "palette.png", transparency=0)
    img.save(tmp_path / "palette.gif", transparency=0)
    for name in ("palette.png", "palette.gif"):
        assert_dataset_style(load_image(tmp_path / name))


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_16_bit_greyscale_keeps_its_range(tmp_path, fmt):
    picture = np.full((240, 180), 64000, np.uint16)  # light paper in 16 bits
    picture[40:200, 60:140] = 3000
    path = tmp_path / f"deep.{fmt}"
    Image.fromarray(picture).save(path)
    assert Image.open(path).mode.startswith("I;16")
    grey = read_image(path)
    assert grey.dtype == np.float32 and abs(grey[0, 0] - 64000 / 65535) < 1e-3
    assert_dataset_style(load_image(path))


def test_gif_uses_the_first_frame(tmp_path):
    tall = Image.fromarray(dark_on_white())
    wide = Image.fromarray(dark_on_white(box=(100, 10, 140, 170)))
    tall.save(tmp_path / "anim.gif", save_all=True, append_images=[wide], duration=100, loop=0)
    assert Image.open(tmp_path / "anim.gif").n_frames == 2
    assert_dataset_style(load_image(tmp_path / "anim.gif"))  # tall: the first frame


def test_exif_rotation_is_applied(tmp_path):
    img = Image.fromarray(dark_on_white()).transpose(Image.Transpose.ROTATE_90)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert_dataset_style(load_image(tmp_path / "phone.jpg"))


def test_mnist_framing_is_20x20_centred_by_mass():
    picture = 1.0 - dark_on_white().astype(np.float32) / 255
    picture[40:60, 60:140] = 1.0  # a heavy top bar: the centre of mass moves up
    image = to_dataset_style(1.0 - picture, MNIST_FRAMING)
    assert object_extent(image) == (20, 10)
    ys, xs = np.indices(image.shape)
    mass = image.astype(np.float64)
    assert abs((ys * mass).sum() / mass.sum() - 13.5) <= 0.6
    assert abs((xs * mass).sum() / mass.sum() - 13.5) <= 0.6


def test_fashion_framing_keeps_aspect_ratio_for_wide_objects():
    wide = dark_on_white(box=(100, 10, 140, 170)).astype(np.float32) / 255  # 40 x 160: four times as wide
    image = to_dataset_style(wide, FASHION_FRAMING)
    assert object_extent(image) == (7, 28)


def test_small_object_in_a_corner_is_found_and_enlarged():
    picture = np.full((1000, 800), 1.0, np.float32)
    picture[900:980, 700:740] = 0.1  # a tiny dark object near the bottom right
    image = to_dataset_style(picture)
    assert object_extent(image) == (28, 14)


def test_flat_picture_is_refused():
    with pytest.raises(ImageError, match="wall.png is one flat colour"):
        to_dataset_style(np.full((50, 50), 0.7, np.float32), name="wall.png")


def test_missing_empty_and_non_image_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not a picture")
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="not an image Pillow can read"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="does not exist|folder"):
        read_image(tmp_path)


def test_truncated_file(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or damaged"):
        read_image(tmp_path / "cut.png")


def test_pixel_limit_is_checked_from_the_header(tmp_path):
    Image.new("L", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=r"300 x 200 = 0.1 megapixels, over the limit of 0.05 megapixels"):
        read_image(tmp_path / "big.png", max_pixels=50_000)


def test_pillows_own_bomb_errors_are_caught(tmp_path, monkeypatch):
    Image.new("L", (300, 200)).save(tmp_path / "bomb.png")
    for limit in (50_000, 20_000):  # over Pillow's limit: a warning; over twice it: an error
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(ImageError, match="300 x 200 .* decompression bombs"):
            read_image(tmp_path / "bomb.png", max_pixels=10**9)
