"""fashion-lab inspect: what a network learned, as pictures and numbers tied to the model they describe."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from PIL import Image

from fashion_lab import TrainConfig, insight, runs, train
from fashion_lab._backend import keras as _keras
from fashion_lab.insight import garment_masks, inside_outside, inspect_run, pca_2d, saliency
from helpers import synthetic_arrays


def test_docstring_examples_run():
    assert doctest.testmod(insight).failed == 0


@pytest.fixture
def run_dir(tmp_path, synthetic_fashion):
    return train(TrainConfig(hidden=(32,), epochs=2, run_dir=str(tmp_path / "run")), verbose=False).dir


def _png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_inspect_writes_its_images_numbers_and_report(run_dir):
    result = inspect_run(run_dir)
    parts = result["parts"]
    assert set(result["images"]) == {"weights", "saliency", "projection"}
    for name, file in result["images"].items():
        assert _png_size(run_dir / file)[0] > 200, name
    assert not (run_dir / "filters.png").exists() and not (run_dir / "feature_maps.png").exists()
    # weights: 16 of the 32 units, the largest first
    assert parts["weights"]["layer_units"] == 32 and len(parts["weights"]["units_shown"]) == 16
    assert parts["weights"]["weight_norms_shown"] == sorted(parts["weights"]["weight_norms_shown"], reverse=True)
    # saliency: 28x28 maps; per class up to 2 right and 1 wrong, in test order
    assert parts["saliency"]["map_shape"] == [28, 28]
    examples = parts["saliency"]["examples"]
    assert 10 <= len(examples) <= 30 and all(e["correct"] == (e["true"] == e["predicted"]) for e in examples)
    # projection: all 200 synthetic test images, two components of the 32 units
    projection = parts["projection"]
    assert projection["units"] == 32 and projection["images"] == 200 and len(projection["explained_variance"]) == 2
    assert 0 < projection["explained_variance"][1] <= projection["explained_variance"][0] <= 1
    assert "not Conv2D" in parts["filters"]["skipped"]
    # tied to the model it describes
    saved = json.loads((run_dir / runs.INSPECTION).read_text())
    assert saved["model"] == runs.model_fingerprint(run_dir) and saved["model"]["epoch"] == 2
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4  # curves + the three pictures
    text = insight.format_inspection(result)
    assert "saliency: " in text and "filters: skipped: the first layer with weights is Dense, not Conv2D" in text


def test_saliency_is_the_gradient_of_the_predicted_probability():
    keras = _keras()
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    x = synthetic_arrays(4)[0].astype(np.float32) / 255
    maps, probs = saliency(model, x)
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in model.get_weights())
    for i in range(len(x)):  # by hand: d softmax_c / d x through the relu layer
        h = x[i].reshape(-1) @ w1 + b1
        p = np.exp(h.clip(0) @ w2 + b2)
        p /= p.sum()
        c = int(p.argmax())
        d_logits = p[c] * (np.eye(10)[c] - p)
        expected = w1 @ ((h > 0) * (w2 @ d_logits))
        np.testing.assert_allclose(maps[i].reshape(-1), np.abs(expected), rtol=1e-3, atol=1e-7)
        np.testing.assert_allclose(probs[i], p, rtol=1e-4)


def test_pca_recovers_the_main_direction():
    rng = np.random.default_rng(0)
    t = rng.normal(size=500)
    values = np.outer(t, [3.0, 4.0, 0.0]) + rng.normal(scale=0.01, size=(500, 3))
    points, explained = pca_2d(values)
    assert points.shape == (500, 2) and explained[0] > 0.999
    np.testing.assert_allclose(np.abs(points[:, 0]), np.abs(t - t.mean()) * 5, atol=0.05)


def test_conv_model_filters_and_feature_maps(run_dir):
    keras = _keras()
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    runs.save_model(model, run_dir)  # the run now holds a convolutional network
    result = inspect_run(run_dir)
    parts = result["parts"]
    assert parts["filters"]["kernel_shape"] == [3, 3, 1, 8] and len(parts["filters"]["filter_norms"]) == 8
    assert parts["feature_maps"]["map_shape"] == [26, 26] and parts["feature_maps"]["maps"] == 8
    assert 0 <= parts["feature_maps"]["maps_active"] <= 8
    assert "Conv2D" in parts["weights"]["skipped"] and "filters instead" in parts["weights"]["skipped"]
    assert parts["saliency"]["map_shape"] == [28, 28] and parts["projection"]["units"] == 16
    assert set(result["images"]) == {"saliency", "projection", "filters", "feature_maps"}
    assert not (run_dir / "weights.png").exists()
    assert _png_size(run_dir / "filters.png") and _png_size(run_dir / "feature_maps.png")


def test_model_without_flatten_gets_a_reason_for_each_part(run_dir):
    from fashion_lab import build_model

    runs.save_model(build_model(flatten=False), run_dir)  # outputs one prediction per image row
    parts = inspect_run(run_dir)["parts"]
    assert "reads 28 values, not the image's 784 pixels" in parts["weights"]["skipped"]
    assert "not one vector of class scores per image" in parts["saliency"]["skipped"]
    assert "not one vector per image" in parts["projection"]["skipped"]
    assert not any((run_dir / name).exists() for name in runs.INSPECTION_IMAGES.values())


@pytest.mark.real_data
def test_trouser_saliency_is_larger_inside_the_garment():
    from fashion_lab import build_model, load_dataset, normalize

    (x, y), (x_test, y_test) = load_dataset("fashion_mnist")
    _keras().utils.set_random_seed(0)
    model = build_model(hidden=[64])
    model.fit(normalize(x[:12000]), y[:12000], epochs=1, batch_size=32, verbose=0)  # a few seconds
    trousers = x_test[y_test == 1][:100]
    maps, probs = saliency(model, normalize(trousers))
    assert maps.shape == (100, 28, 28) and (probs.argmax(axis=1) == 1).mean() > 0.9
    pixels, box = garment_masks(trousers)
    inside_box = inside_outside(maps, box)
    assert inside_box[0] > 1 and np.median(inside_box) > 1.1  # the first trouser, and most of them
