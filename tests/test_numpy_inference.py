"""The NumPy path for saved dense networks gives Keras's probabilities and refuses what it does not implement."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fashion_lab import TrainConfig, build_model, numpy_inference, train
from fashion_lab._backend import keras
from fashion_lab._fasteval import evaluate, probabilities


def _saved(model, tmp_path, name="model.keras"):
    path = tmp_path / name
    model.save(path)
    return path


@pytest.mark.real_data
def test_same_probabilities_as_keras_on_1000_test_images(tmp_path):
    from fashion_lab import load_dataset, normalize

    run = train(TrainConfig(epochs=1, hidden=(64, 32), run_dir=str(tmp_path / "run")), verbose=False)
    (_, _), (xt, yt) = load_dataset("fashion_mnist")
    x, y = normalize(xt[:1000]), yt[:1000]
    network = numpy_inference.load(run.dir / "model.keras")
    assert network is not None and network.count_params() == run.metrics["params"]
    ours, theirs = network.probabilities(x), probabilities(run.model, x)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert (ours.argmax(1) == theirs.argmax(1)).all()
    keras_logs = evaluate(run.model, x, y)
    assert network.evaluate(x, y)["loss"] == pytest.approx(keras_logs["loss"], rel=1e-5)
    assert network.evaluate(x, y)["accuracy"] == keras_logs["accuracy"]


def test_loading_needs_neither_keras_nor_jax(tmp_path):
    import subprocess

    path = _saved(build_model((8,)), tmp_path)
    code = ("import sys; from fashion_lab import numpy_inference as n; import numpy as np; "
            f"net = n.load({str(path)!r}); p = net.probabilities(np.zeros((2, 28, 28), np.float32)); "
            "assert p.shape == (2, 10); assert 'keras' not in sys.modules and 'jax' not in sys.modules, "
            "[m for m in sys.modules if m.startswith(('keras', 'jax'))][:5]")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_dropout_is_an_identity_at_inference(tmp_path):
    k = keras()
    model = k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(16, activation="relu"),
                          k.layers.Dropout(0.5), k.layers.Dense(10, activation="softmax")])
    network = numpy_inference.load(_saved(model, tmp_path))
    x = np.random.default_rng(0).random((50, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(network.probabilities(x), model.predict(x, verbose=0), atol=1e-6)


def _unsupported():
    k = keras()
    yield "no flatten", build_model((8,), flatten=False)
    yield "convolution", k.Sequential([k.Input((28, 28, 1)), k.layers.Conv2D(4, 3), k.layers.Flatten(),
                                       k.layers.Dense(10, activation="softmax")])
    yield "gelu", k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(8, activation="gelu"),
                                k.layers.Dense(10, activation="softmax")])
    yield "no bias", k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax",
                                                                                           use_bias=False)])
    yield "logits out", k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(10)])
    inputs = k.Input((28, 28))
    yield "functional", k.Model(inputs, k.layers.Dense(10, activation="softmax")(k.layers.Flatten()(inputs)))
    k.config.set_dtype_policy("mixed_float16")
    try:
        yield "float16", build_model((8,))
    finally:
        k.config.set_dtype_policy("float32")


def test_architectures_it_does_not_implement_are_left_to_keras(tmp_path):
    for name, model in _unsupported():
        assert numpy_inference.load(_saved(model, tmp_path, name.replace(" ", "_") + ".keras")) is None, name
