"""The fast paths give Keras's own numbers: flat uniform draws, and the shared evaluation/prediction."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fashion_lab import _fasteval, build_model
from fashion_lab._backend import keras
from helpers import assert_fast_path_is_model_fit


def test_initial_weights_are_kerass_own_draws():
    keras()
    from keras.src.backend.jax import random as jax_random

    assert isinstance(jax_random.uniform, functools.partial)  # installed by fashion_lab._backend.keras()
    original = jax_random.uniform.args[0]
    for shape in [(128, 10), (784, 128), (3, 4, 5), (7,), [6, 2], 5]:
        fast = np.asarray(jax_random.uniform(shape, -0.2, 0.2, seed=11))
        own = np.asarray(original(shape, minval=-0.2, maxval=0.2, seed=11))
        assert fast.shape == own.shape and np.array_equal(fast, own)


def _reduce_window_pool(x, window, strides):
    import jax
    import jax.numpy as jnp

    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, *window, 1), (1, *strides, 1), "VALID")


@pytest.mark.parametrize("shape, window", [((3, 26, 26, 4), (2, 2)), ((2, 11, 11, 3), (2, 2)),
                                           ((2, 9, 10, 2), (3, 3)), ((2, 7, 9, 2), (2, 3))])
def test_block_max_pooling_gives_reduce_windows_bits_forward_and_backward(shape, window):
    """The CNN's pooling (fashion_lab._fastpool) equals lax.reduce_window's: values, and where the gradient goes
    when a window holds its maximum twice (ties after a ReLU, flat regions) or the size is odd."""
    import jax

    keras()
    from keras.src.backend.jax import nn as jax_nn

    assert isinstance(jax_nn.max_pool, functools.partial)  # installed by fashion_lab._backend.keras()
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=shape), 0).astype(np.float32)  # zeros tie after the ReLU
    x[:, :4, :4, :] = 0.5  # positive ties
    x[0, -1, -1, 0] = 9.0  # in the row or column an odd size leaves out of every window
    fast = lambda v: jax_nn.max_pool(v, window, window, "valid", "channels_last")  # noqa: E731
    own = lambda v: _reduce_window_pool(v, window, window)  # noqa: E731
    out, fast_vjp = jax.vjp(fast, x)
    expected, own_vjp = jax.vjp(own, x)
    assert out.shape == expected.shape and np.array_equal(out, expected)
    g = rng.normal(size=expected.shape).astype(np.float32)
    np.testing.assert_array_equal(fast_vjp(g)[0], own_vjp(g)[0])


def test_other_poolings_go_to_kerass_own():
    keras()
    from keras.src.backend.jax import nn as jax_nn

    original = jax_nn.max_pool.args[0]
    x = np.random.default_rng(1).random((2, 8, 7, 3), dtype=np.float32)
    for args in [((2, 2), (1, 1), "valid", None), ((2, 2), (2, 2), "same", None), ((3, 3), (3, 3), "same", None),
                 ((2, 2), (2, 2), "valid", "channels_first")]:
        np.testing.assert_array_equal(jax_nn.max_pool(x, *args), original(x, *args))
    assert jax_nn.max_pool(x, (2, 2), (1, 1), "valid", None).shape == (2, 7, 6, 3)  # overlapping windows


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    n = _fasteval.CHUNK + 905  # one full chunk and a padded one
    return rng.random((n, 28, 28), dtype=np.float32), rng.integers(0, 10, n).astype(np.uint8)


def _trained(hidden, images):
    x, y = images
    keras().utils.set_random_seed(1)
    model = build_model(hidden)
    model.fit(x[:512], y[:512], epochs=1, batch_size=64, verbose=0)
    return model


@pytest.mark.parametrize("hidden", [(32,), (16, 8)])
def test_evaluate_and_predict_match_keras(images, hidden):
    x, y = images
    model = _trained(hidden, images)
    assert _fasteval.plan(model, for_loss=True) == ("relu",) * len(hidden) + ("softmax",)
    ours = _fasteval.evaluate(model, x, y)
    theirs = model.evaluate(x, y, batch_size=1024, verbose=0, return_dict=True)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-6)
    small = _fasteval.evaluate(model, x[:3], y[:3])  # fewer images than a chunk
    assert small["loss"] == pytest.approx(model.evaluate(x[:3], y[:3], verbose=0, return_dict=True)["loss"], rel=1e-5)
    np.testing.assert_allclose(_fasteval.probabilities(model, x), model.predict(x, batch_size=4096, verbose=0), atol=1e-6)


def test_models_of_one_shape_share_one_compilation(images):
    x, y = images
    _fasteval.evaluate(_trained((24,), images), x, y)
    _, compiled = _fasteval._compiled()
    size = compiled._cache_size()
    other = build_model((24,))  # another model of the same shape: no new compilation
    _fasteval.evaluate(other, x[:100], y[:100])
    assert compiled._cache_size() == size


def test_other_models_go_to_keras(images):
    x, y = images
    no_flatten = build_model((8,), flatten=False)
    assert _fasteval.plan(no_flatten) is None
    assert _fasteval.probabilities(no_flatten, x[:4]).shape == (4, 28, 10)  # Keras's own answer: per image row
    other_loss = build_model((8,), compile=False)
    other_loss.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    assert _fasteval.plan(other_loss) == ("relu", "softmax") and _fasteval.plan(other_loss, for_loss=True) is None
    logs = _fasteval.evaluate(other_loss, x[:100], y[:100])
    assert set(logs) == {"loss", "accuracy", "sparse_top_k_categorical_accuracy"}
    with pytest.raises(ValueError):  # images of another shape: Keras's own error, not a JAX shape error
        _fasteval.probabilities(build_model((8,)), np.zeros((2, 14, 14), np.float32))


def _history(images, init_seed):
    from fashion_lab import _fastfit

    x, y = images
    keras().utils.set_random_seed(init_seed)
    model = build_model((24,))
    return _fastfit.fit(model, x, y, epochs=2, batch_size=64, seed=5).history


def test_models_of_one_shape_share_one_training_function(images, monkeypatch):
    from fashion_lab import _fastfit

    monkeypatch.setattr(_fastfit, "_SHARED", type(_fastfit._SHARED)())
    alone = _history(images, init_seed=2)  # trained through its own compiled function
    assert len(_fastfit._SHARED) == 1
    _fastfit.forget_compiled()
    _history(images, init_seed=1)  # compiles and shares its function ...
    (shared_function,) = _fastfit._SHARED.values()
    after = _history(images, init_seed=2)  # ... which this model, another init, then reuses
    assert list(_fastfit._SHARED.values()) == [shared_function]
    assert after == alone  # exactly its own history: nothing of the first model leaked in


def test_only_plain_adam_networks_share_a_training_function():
    from fashion_lab import _fastfit

    k = keras()
    plain = build_model((8,))
    assert _fastfit._sharing_key(plain, 100, 32) == _fastfit._sharing_key(build_model((8,)), 100, 32) is not None
    assert _fastfit._sharing_key(plain, 100, 32) != _fastfit._sharing_key(build_model((8,)), 100, 16)
    decayed = build_model((8,), compile=False)
    decayed.compile(optimizer=k.optimizers.AdamW(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    custom_loss = build_model((8,), compile=False)

    def doubled(y, p):
        return k.losses.sparse_categorical_crossentropy(y, p) * 2

    custom_loss.compile(optimizer="adam", loss=doubled, metrics=["accuracy"])

    class Changed(k.Sequential):  # same config, another computation
        pass

    subclass = Changed(build_model((8,)).layers, name="mlp_8")
    subclass.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for model in (decayed, custom_loss, subclass):
        assert _fastfit._sharing_key(model, 100, 32) is None
    epsilon, before = k.config.epsilon(), _fastfit._sharing_key(plain, 100, 32)
    try:  # a global Keras setting read while tracing is part of the key
        k.config.set_epsilon(1e-3)
        assert _fastfit._sharing_key(plain, 100, 32) != before
    finally:
        k.config.set_epsilon(epsilon)


def test_unusual_models_and_labels_get_kerass_own_answers(images):
    k = keras()
    x, y = images
    x, y = x[:300], y[:300]
    model = _trained((8,), images)
    as_column = _fasteval.evaluate(model, x, y.reshape(-1, 1))  # labels of shape (n, 1)
    assert as_column["loss"] == pytest.approx(model.evaluate(x, y.reshape(-1, 1), verbose=0, return_dict=True)["loss"], rel=1e-5)
    bad = y.copy()
    bad[0] = 10  # not a class index: Keras's own number, whatever it makes of it
    assert _fasteval.evaluate(model, x, bad)["loss"] == pytest.approx(
        model.evaluate(x, bad, verbose=0, return_dict=True)["loss"], rel=1e-5)
    int_input = k.Sequential([k.Input((28, 28), dtype="int32"), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    unbuilt = k.Sequential([k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    for other in (int_input, unbuilt):
        assert _fasteval.plan(other) is None


# --- The fused loop is model.fit: same batches in, same weights and history out ---------------------------------


def test_fast_path_equals_model_fit_given_the_same_batch_order(images):
    """Keras's own model.fit, fed each epoch's batches in the order the fused loop draws, ends identical."""
    from fashion_lab import _fastfit

    k = keras()
    x, y = images
    x, y = x[:700], y[:700]  # 10 full batches of 64 and a last one of 60, as model.fit makes them
    seed, epochs, batch = 5, 3, 64
    k.utils.set_random_seed(7)
    fast = build_model((16,))
    k.utils.set_random_seed(7)
    plain = build_model((16,))
    assert all(np.array_equal(a, b) for a, b in zip(fast.get_weights(), plain.get_weights()))
    assert _fastfit.supported(fast)

    assert_fast_path_is_model_fit(fast, plain, x, y, seed=seed, epochs=epochs, batch=batch)


def test_training_on_an_index_equals_training_on_the_gathered_images(images):
    """A run's split given as indices into the shared images (no copy of the split) trains exactly as the split."""
    from fashion_lab import _fastfit

    k = keras()
    x, y = images
    x, y = x[:900], y[:900]
    index = np.sort(np.random.default_rng(3).permutation(900)[:700])
    models = []
    for _ in range(2):
        k.utils.set_random_seed(7)
        models.append(build_model((16,)))
    on_index = _fastfit.fit(models[0], x, y, index=index, epochs=2, batch_size=64, seed=5)
    gathered = _fastfit.fit(models[1], x[index], y[index], epochs=2, batch_size=64, seed=5)
    assert on_index.history == gathered.history
    assert all(np.array_equal(a, b) for a, b in zip(models[0].get_weights(), models[1].get_weights()))


def test_an_untested_keras_version_falls_back_to_model_fit_with_one_warning(images, monkeypatch):
    from fashion_lab import _fastfit

    k = keras()
    x, y = images
    monkeypatch.setattr(k, "__version__", "3.99.0")
    monkeypatch.setattr(_fastfit, "_warned_untested", set())

    def not_used(*args, **kwargs):
        raise AssertionError("the fused loop ran on an untested Keras")

    monkeypatch.setattr(_fastfit, "_shared_epoch_function", not_used)
    model = build_model((8,))
    with pytest.warns(UserWarning, match=r"tested with Keras 3\.11 to 3\.15\.x, not 3\.99\.0.*model\.fit"):
        history = _fastfit.fit(model, x[:300], y[:300], epochs=2, batch_size=50, seed=0).history
    assert len(history["loss"]) == 2 and model.train_function is not None  # Keras's own loop trained it
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per process, not per fit
        _fastfit.fit(build_model((8,)), x[:100], y[:100], epochs=1, batch_size=50, seed=0)


def test_test_hooks_fire_around_validation_on_the_fast_path(images):
    from fashion_lab import _fastfit

    k = keras()
    x, y = images
    events = []

    class Hooks(k.callbacks.Callback):
        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_end(self, logs=None):
            events.append(("test_end", sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch))

    model = build_model((8,))
    assert _fastfit.supported(model, [Hooks()])
    _fastfit.fit(model, x[:200], y[:200], epochs=2, batch_size=50, seed=0, validation_data=(x[200:260], y[200:260]),
                 callbacks=[Hooks()])
    assert events == ["test_begin", ("test_end", ["accuracy", "loss"]), ("epoch_end", 0),
                      "test_begin", ("test_end", ["accuracy", "loss"]), ("epoch_end", 1)]


def test_the_fallback_leaves_the_model_as_it_found_it_and_honours_the_seed(images):
    from fashion_lab import _fastfit

    k = keras()
    x, y = images
    x, y = x[:400], y[:400]

    class CountBatches(k.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

    def fallback_fit(seed):
        k.utils.set_random_seed(1)
        model = build_model((8,), steps_per_execution=4)
        counter = CountBatches()
        assert not _fastfit.supported(model, [counter])
        np.random.seed(12345)  # whatever the caller's global state: the seed decides the shuffling
        history = _fastfit.fit(model, x, y, epochs=2, batch_size=40, seed=seed, callbacks=[counter]).history
        assert counter.batches == 2 * 10  # every batch seen
        assert model.steps_per_execution == 4  # put back as it was
        return history

    assert fallback_fit(seed=3) == fallback_fit(seed=3)
    assert fallback_fit(seed=3) != fallback_fit(seed=4)


_DRAWS = r'''
import sys
import numpy as np
if sys.argv[1] == "after-fashion-lab":
    import functools
    from fashion_lab import build_model
    build_model((4,))  # installs the flat uniform draw
    from keras.src.backend.jax import random as jax_random
    assert isinstance(jax_random.uniform, functools.partial)
import keras
keras.utils.set_random_seed(3)
model = keras.Sequential([
    keras.Input((9, 9, 2)),
    keras.layers.Conv2D(5, 3, kernel_initializer="he_uniform"),
    keras.layers.Conv2D(4, (2, 3), kernel_initializer=keras.initializers.RandomUniform(-1, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(7, kernel_initializer="lecun_uniform", bias_initializer="random_uniform"),
    keras.layers.Dense(3),
])
generator = keras.random.SeedGenerator(11)
draws = [keras.random.uniform(shape, minval=-2.0, maxval=5.0, dtype=dtype, seed=generator)
         for shape in [(3, 4, 5), [6, 2], (7,), (2, 3, 4, 5)] for dtype in ("float32", "float16", "bfloat16")]
draws.append(keras.random.randint((4, 6), 0, 100, seed=5))
np.savez(sys.argv[2], *[np.asarray(w, dtype=np.float64) for w in model.get_weights() + draws])
'''


def test_the_flat_uniform_draw_changes_nothing_in_other_keras_code(tmp_path):
    """Another program's Keras draws the same numbers after fashion_lab patched the JAX uniform as before."""
    import os
    import subprocess
    import sys

    script = tmp_path / "draws.py"
    script.write_text(_DRAWS)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    for mode in ("keras-alone", "after-fashion-lab"):
        subprocess.run([sys.executable, str(script), mode, str(tmp_path / f"{mode}.npz")], check=True, env=env,
                       cwd=tmp_path, timeout=300)
    alone, patched = np.load(tmp_path / "keras-alone.npz"), np.load(tmp_path / "after-fashion-lab.npz")
    assert len(alone.files) == len(patched.files) == 8 + 13
    for name in alone.files:
        np.testing.assert_array_equal(alone[name], patched[name], err_msg=name)


def test_pixel_images_read_as_the_preprocessed_floats():
    """Every grey level, normalized or not, reads as prepare_images makes it: indexing, np.asarray, float64."""
    from fashion_lab.preprocess import PixelImages, prepare_images

    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for normalized in (True, False):
        pixels, floats = PixelImages(grey, normalized=normalized), prepare_images(grey, normalized=normalized)
        assert pixels[:].dtype == np.float32 and pixels.shape == grey.shape and len(pixels) == 16
        np.testing.assert_array_equal(pixels[:], floats)
        np.testing.assert_array_equal(pixels[np.array([3, 1])], floats[[3, 1]])
        np.testing.assert_array_equal(np.asarray(pixels), floats)
        np.testing.assert_array_equal(np.asarray(pixels, dtype=np.float64), floats.astype(np.float64))
        np.testing.assert_array_equal(np.asarray(pixels.select(np.array([5, 2]))), floats[[5, 2]])
    with pytest.raises(TypeError, match="uint8"):
        PixelImages(grey.astype(np.float32))


def _recipe_model(config, x):
    from fashion_lab.model import build_network, input_statistics

    keras().utils.set_random_seed(7)
    return build_network(config, steps_per_epoch=11, standardization=input_statistics(x, config.standardize))


@pytest.mark.parametrize("recipe", ["seed", "best-mlp", "raw-pixels"])
def test_training_on_uint8_pixels_gives_the_float32_images_results(recipe):
    """The fused loop on PixelImages (uint8 on the device, a table lookup per batch) ends with the same history
    and weights as on the float32 images, with standardization, dropout and label smoothing (best-mlp's
    recipe) too, and through a validation split given as indices."""
    from fashion_lab import TrainConfig, _fastfit
    from fashion_lab.preprocess import PixelImages, prepare_images, prepare_labels

    config = {"seed": TrainConfig(hidden=(16,)), "raw-pixels": TrainConfig(hidden=(16,), normalize=False),
              "best-mlp": TrainConfig(hidden=(32, 16), dropout=0.2, standardize="global", label_smoothing=0.1,
                                      lr_schedule="cosine")}[recipe]
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (900, 28, 28), dtype=np.uint8)
    y = prepare_labels(rng.integers(0, 10, 900), one_hot=bool(config.label_smoothing))
    pixels, floats = PixelImages(codes, normalized=config.normalize), prepare_images(codes, normalized=config.normalize)
    fit_index, val_index = np.arange(700), np.arange(700, 900)
    histories, models = [], []
    for x in (pixels, floats):
        model = _recipe_model(config, x[fit_index])
        assert _fastfit.supported(model)
        histories.append(_fastfit.fit(model, x, y, index=fit_index, validation_data=(x, y, val_index), epochs=2,
                                      batch_size=64, seed=5).history)
        models.append(model)
    assert histories[0] == histories[1]
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("standardize", ["none", "per-pixel"])
def test_uint8_pixels_evaluate_and_predict_as_float32_images(standardize):
    """The shared evaluation looks PixelImages' codes up inside its compiled call: the same loss, accuracy and
    probabilities as for the float32 images, on all of them and on a split given as indices."""
    from fashion_lab import TrainConfig
    from fashion_lab.preprocess import PixelImages, normalize

    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (_fasteval.CHUNK + 300, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, len(codes)).astype(np.int32)
    pixels, floats = PixelImages(codes), normalize(codes)
    model = _recipe_model(TrainConfig(hidden=(16,), standardize=standardize), floats)
    assert _fasteval.plan(model, for_loss=True) is not None
    index = rng.permutation(len(codes))[:2500]
    assert _fasteval.evaluate(model, pixels, y) == _fasteval.evaluate(model, floats, y)
    assert _fasteval.evaluate(model, pixels, y, index) == _fasteval.evaluate(model, floats, y, index)
    np.testing.assert_array_equal(_fasteval.probabilities(model, pixels), _fasteval.probabilities(model, floats))


def test_uint8_pixels_train_together_and_through_kerass_fit_as_float32_images():
    """fit_many's stacked epochs, and Keras's own model.fit (the fallback for per-batch callbacks), take
    PixelImages with the same results as the float32 images."""
    from fashion_lab import _fastfit
    from fashion_lab.preprocess import PixelImages, normalize

    k = keras()

    class CountBatches(k.callbacks.Callback):  # a per-batch hook: fit() hands the run to Keras's model.fit
        def on_train_batch_end(self, batch, logs=None):
            self.seen = getattr(self, "seen", 0) + 1

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (600, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 600).astype(np.int32)
    results = []
    for x in (PixelImages(codes), normalize(codes)):
        k.utils.set_random_seed(3)
        models = [build_model((8,)), build_model((8,))]
        together = _fastfit.fit_many(models, x, y, epochs=2, batch_size=50, seeds=[1, 2])
        k.utils.set_random_seed(3)
        alone, counter = build_model((8,)), CountBatches()
        by_keras = _fastfit.fit(alone, x, y, epochs=1, batch_size=50, seed=1, callbacks=[counter],
                                validation_data=(x, y, np.arange(100)))
        assert counter.seen == 12
        results.append(([h.history for h in together] + [by_keras.history],
                        [w for m in (*models, alone) for w in m.get_weights()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def test_keras_imports_without_matplotlib_and_its_galleries_still_plot(tmp_path):
    """fashion_lab imports Keras without the matplotlib its gallery helpers load eagerly (a third of the import);
    the first use of keras.visualization still finds matplotlib and plots."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from fashion_lab._backend import keras\n"
        "k = keras()\n"
        "assert 'matplotlib' not in sys.modules, 'keras() loaded matplotlib'\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import numpy as np\n"
        "k.visualization.plot_image_gallery(np.zeros((2, 8, 8, 3), 'float32'), rows=1, cols=2, value_range=(0, 1),"
        " path=sys.argv[1])\n"
    )
    out = tmp_path / "gallery.png"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, timeout=120)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frozen_startup_objects_leave_later_garbage_collectable():
    """An experiment freezes the objects of its imports (resources.freeze_startup_objects) so that the garbage
    collection before each model skips them; what a model leaves behind afterwards is still collected."""
    import subprocess
    import sys

    script = (
        "import gc, weakref\n"
        "from fashion_lab.resources import freeze_startup_objects\n"
        "freeze_startup_objects()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.other, b.other = b, a\n"
        "gone = weakref.ref(a); del a, b\n"
        "gc.collect()\n"
        "assert gone() is None, 'a cycle made after the freeze was not collected'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
