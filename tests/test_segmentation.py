"""Finding the garment in a photo, step by step, on small synthetic pictures: frame, background, threshold,
objects, upright, and the 'cannot read' answers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashion_lab.errors import CannotRead
from fashion_lab.images import load_image, read_picture
from fashion_lab.segmentation import (edge_ring, find_frame, find_object, fit_background, otsu_threshold,
                                      separate_objects, upright_angle)


def garment(height=240, width=320, box=(40, 200, 120, 200), ink=0.15, paper=(0.80, 0.98), noise=0.025, seed=0):
    """A dark 'garment' (rows 40-200, columns 120-200) on paper lit from the left (0.80) to the right (0.98), noisy."""
    rng = np.random.default_rng(seed)
    picture = np.broadcast_to(np.linspace(*paper, width, dtype=np.float32), (height, width)).copy()
    top, bottom, left, right = box
    picture[top:bottom, left:right] = ink
    return np.clip(picture + rng.normal(0, noise, picture.shape), 0, 1).astype(np.float32)


def test_otsu_splits_two_populations_between_them():
    rng = np.random.default_rng(1)
    values = np.r_[rng.normal(0.1, 0.03, 5000), rng.normal(0.7, 0.05, 2000)]
    assert 0.25 < otsu_threshold(values) < 0.55


def test_background_surface_follows_a_gradient_and_ignores_the_object():
    picture = garment(noise=0.0)
    surface = fit_background(picture, ~np.pad(np.ones((180, 100), bool), ((30, 30), (110, 110))), degree=1)
    paper = np.linspace(0.80, 0.98, 320)
    assert np.abs(surface - paper[None, :]).max() < 1e-3  # the object's pixels did not pull it


@pytest.mark.parametrize("colour, width", [(0.0, 5), (1.0, 12), (0.35, 3)], ids=["black-5px", "white-12px", "grey-3px"])
def test_a_frame_is_found_and_cut_off_by_its_width(colour, width):
    picture = np.pad(garment(), width, constant_values=colour)
    widths = find_frame(picture)  # (on the right of a white frame the paper is 0.98: no step there, nothing to cut)
    assert sum(width <= w <= width + 2 for w in widths) >= 3 and all(w == 0 or width <= w <= width + 2 for w in widths)
    found = find_object(picture)
    assert found.bbox is not None and found.original_box(found.bbox) == pytest.approx([40 + width, 200 + width,
                                                                                    120 + width, 200 + width], abs=2)


def test_no_frame_on_a_plain_photo_a_gradient_or_a_big_object():
    assert find_frame(garment()) == (0, 0, 0, 0)
    assert find_frame(garment(paper=(0.55, 1.0), noise=0.0)) == (0, 0, 0, 0)  # a strong gradient is not a frame
    wide = garment(box=(30, 210, 20, 300))  # an object over most of every line near the edge
    assert find_frame(wide) == (0, 0, 0, 0)


def test_the_object_is_found_on_a_gradient_with_noise_and_cropped_to_its_box():
    found = find_object(garment())
    assert found.inverted and found.frame == (0, 0, 0, 0)
    assert found.bbox == pytest.approx((40, 200, 120, 200), abs=2)
    assert found.noise == pytest.approx(0.025, rel=0.3)
    assert found.signal.max() == 1.0 and found.signal[:, :100].max() == 0.0  # the background is black, as in the dataset
    image = read_picture(garment()).image
    rows, cols = np.flatnonzero((image > 64).any(1)), np.flatnonzero((image > 64).any(0))
    assert rows[-1] - rows[0] + 1 == 28 and 13 <= cols[-1] - cols[0] + 1 <= 15  # 160 x 80 fitted to 28 x 14


def test_a_small_object_off_centre_on_a_wide_canvas_is_centred():
    picture = garment(height=300, width=500, box=(20, 140, 400, 460))
    image = read_picture(picture).image
    cols = np.flatnonzero((image > 64).any(0))
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1 and image[:, :5].max() == 0


def test_separate_objects_labels_components_largest_first_and_drops_specks():
    smooth = np.zeros((100, 200), np.float32)
    smooth[10:60, 10:60] = 1.0
    smooth[20:50, 120:150] = 1.0
    smooth[90, 190] = 1.0  # a speck
    _, objects = separate_objects(smooth, 0.5, closing=1)
    assert [o["area"] for o in objects] == [2500, 900]
    assert objects[1]["bbox"] == (20, 50, 120, 150)


def test_a_tilted_object_is_turned_upright():
    from scipy import ndimage

    mask = np.zeros((200, 200), bool)
    mask[50:150, 70:130] = True
    assert upright_angle(mask) == 0.0
    tilted = ndimage.rotate(mask.astype(float), 10, order=1) > 0.5
    assert abs(upright_angle(tilted) + 10) <= 1


def test_edge_ring():
    ring = edge_ring((6, 8), 2)
    assert ring.sum() == 6 * 8 - 2 * 4 and not ring[2:4, 2:6].any()


# --- cannot read ------------------------------------------------------------------------------------------------


def two_garments():
    picture = garment()
    picture[50:190, 240:300] = 0.2  # a second one, beside the first
    return picture


CANNOT_READ = {
    "uniform-noise": (lambda: np.random.default_rng(0).uniform(0, 1, (240, 320)).astype(np.float32), "low_contrast"),
    "grey-noise": (lambda: np.clip(np.random.default_rng(0).normal(0.5, 0.15, (240, 320)), 0, 1).astype(np.float32),
                   "low_contrast"),
    "two-garments": (two_garments, "several_objects"),
    "flat-colour": (lambda: np.full((240, 320), 0.6, np.float32), "flat"),
    "faint": (lambda: garment(ink=0.88, paper=(0.9, 0.9), noise=0.02), "low_contrast"),
    "close-up": (lambda: _plus(), "touches_edges"),
}


def _plus():
    picture = np.full((240, 320), 0.92, np.float32)
    picture[70:170, :] = 0.2
    picture[:, 90:230] = 0.2  # a pattern running off every side
    return picture


@pytest.mark.parametrize("name", list(CANNOT_READ))
def test_pictures_without_one_garment_cannot_be_read(name):
    make, reason = CANNOT_READ[name]
    with pytest.raises(CannotRead) as caught:
        read_picture(make(), name=f"{name}.png")
    assert caught.value.reason == reason
    assert f"{name}.png" in str(caught.value)
    assert caught.value.found.summary()["background"] in ("light", "dark")


def test_several_objects_says_where_they_are():
    with pytest.raises(CannotRead, match=r"2 objects of similar size \(.*rows 4\d-20\d, columns 1[12]\d-20\d; .*"
                                         r"rows [45]\d-19\d, columns 2[34]\d-30\d\)"):
        read_picture(two_garments(), name="two.png")


def test_a_small_second_object_is_ignored():
    picture = garment()
    picture[10:20, 280:290] = 0.2  # a button beside the garment
    assert find_object(picture).bbox == pytest.approx((40, 200, 120, 200), abs=2)


def test_dark_frame_with_forced_inversion_is_read(tmp_path):
    # issue 10: `predict RUN framed.jpg --invert yes` said "one flat colour after inverting it"
    framed = np.pad(garment(), 5, constant_values=0.0)
    Image.fromarray((framed * 255).round().astype(np.uint8)).save(tmp_path / "framed.jpg", quality=90)
    forced = load_image(tmp_path / "framed.jpg", invert=True)
    assert np.abs(forced.astype(int) - load_image(tmp_path / "framed.jpg")).max() <= 1
    assert forced.max() >= 240 and forced[:, :4].max() == 0


def test_forcing_the_wrong_inversion_says_what_it_saw():
    light_on_dark = 1.0 - garment()
    with pytest.raises(CannotRead) as caught:
        read_picture(light_on_dark, invert=True, name="night.png")
    message = str(caught.value)
    assert "one flat colour" not in message
    assert "the picture's edge is dark and --invert yes expects a dark object on a light background" in message
    assert "--invert auto" in message
