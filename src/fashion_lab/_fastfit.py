"""A fused training loop for Keras models on the JAX backend: one compiled call per epoch.

Keras's ``model.fit`` on JAX runs one jitted step per batch from Python, slicing each batch on the host
and copying it to the device; for the seed's small network that overhead costs more than the arithmetic.
Here the data goes to the device once, and each epoch is a single jitted ``lax.scan`` of the model's own
``train_step`` over a fresh permutation, so the model, optimizer, loss and metrics are exactly the ones
Keras compiled. Callbacks are called per epoch: ``on_train_begin``/``on_train_end``,
``on_epoch_begin``/``on_epoch_end`` with the usual logs (``val_`` metrics included), and, around each
validation pass, ``on_test_begin``/``on_test_end`` with the validation logs; that is all that the
library's callbacks and the seed's need. :func:`fit` falls back to ``model.fit`` (with one warning where
the reason is not obvious) when a callback asks for per-batch events (``on_train_batch_*``,
``on_test_batch_*``), for a model with convolutions (:func:`has_convolutions`), on another backend, for a model that runs eagerly, and on a Keras version outside
the range this loop was tested with (:data:`TESTED_KERAS`), since it calls Keras's ``train_step`` and
state layout directly.

Example:
    >>> from fashion_lab import build_model
    >>> from fashion_lab._fastfit import fit
    >>> history = fit(build_model(), x, y, epochs=5, batch_size=32, seed=0)  # doctest: +SKIP
    >>> len(history.history["loss"])  # doctest: +SKIP
    5
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _fasteval
from .preprocess import PixelImages, as_array

_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
                "on_test_batch_begin", "on_test_batch_end")

# Keras versions the fused loop is tested with (tests/test_fast_paths.py compares it with model.fit):
# from 3.11 (the project's lowest) up to and including every 3.15.x release.
TESTED_KERAS = ((3, 11), (3, 15))
_warned_untested: set[str] = set()


def keras_is_tested(version: str) -> bool:
    """True when Keras ``version`` lies in :data:`TESTED_KERAS` (major.minor, any patch release).

    Example:
        >>> keras_is_tested("3.15.1"), keras_is_tested("3.16.0"), keras_is_tested("3.10.0")
        (True, False, False)
    """
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    low, high = TESTED_KERAS
    return low <= major_minor <= high


def supported(model, callbacks: Sequence[Any] = ()) -> bool:
    """True when the fused loop can stand in for ``model.fit``: a tested Keras on JAX, no per-batch callbacks.

    On a Keras version outside :data:`TESTED_KERAS` it says so once per process (a warning) and answers False.
    """
    import keras

    if keras.backend.backend() != "jax" or getattr(model, "run_eagerly", False) or has_convolutions(model):
        return False
    if not keras_is_tested(keras.__version__):
        if keras.__version__ not in _warned_untested:
            _warned_untested.add(keras.__version__)
            low, high = TESTED_KERAS
            warnings.warn(f"fashion-lab's one-call-per-epoch training is tested with Keras {low[0]}.{low[1]} to "
                          f"{high[0]}.{high[1]}.x, not {keras.__version__}: training uses Keras's own model.fit "
                          f"instead (same results, slower).", stacklevel=3)
        return False
    return not wants_batch_events(callbacks)


def has_convolutions(model) -> bool:
    """True when ``model`` convolves: XLA on the CPU runs a convolution inside a loop (the fused epoch's
    ``lax.scan``) about 4x slower than the same convolution called step by step, so such models train
    through ``model.fit``, whose per-step overhead is small beside a convolution's arithmetic
    (``benchmarks/recipes.py`` measures both)."""
    import keras

    kinds = tuple(getattr(keras.layers, name) for name in (
        "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
        "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D") if hasattr(keras.layers, name))
    layers = list(getattr(model, "layers", []))
    while layers:  # nested models included
        layer = layers.pop()
        if isinstance(layer, kinds):
            return True
        layers.extend(getattr(layer, "layers", []))
    return False


def wants_batch_events(callbacks: Sequence[Any]) -> bool:
    """True when a callback overrides a per-batch hook (``on_train_batch_end`` and the like)."""
    import keras

    base = keras.callbacks.Callback
    return any(getattr(type(cb), hook, None) is not getattr(base, hook) for cb in callbacks for hook in _BATCH_HOOKS)


def _state(model) -> tuple[list, list, list, list]:
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )


def _assign(model, state) -> None:
    trainable, non_trainable, optimizer, metrics = state
    for groups, values in (
        (model.trainable_variables, trainable),
        (model.non_trainable_variables, non_trainable),
        (model.optimizer.variables, optimizer),
        (model.metrics_variables, metrics),
    ):
        for ref, value in zip(groups, values):
            ref.assign(value)


def epoch_order(seed, epoch, n: int):
    """The order in which epoch ``epoch`` (from 0) visits ``n`` training images for ``seed``.

    A fresh permutation per epoch, derived from the seed and the epoch number alone, so a resumed run
    sees the same batches as an uninterrupted one.

    Example:
        >>> import numpy as np
        >>> order = np.asarray(epoch_order(np.uint32(0), np.int32(0), 5))
        >>> sorted(order.tolist())
        [0, 1, 2, 3, 4]
    """
    import jax

    return jax.random.permutation(jax.random.fold_in(jax.random.key(seed), epoch), n)


def _epoch_body(model, n: int, batch_size: int):
    """``(state, x, y, seed, epoch, index=None, table=None) -> (state, logs)``: one shuffled epoch, to be jitted.

    With ``index`` the epoch visits ``x[index]`` (a model's own split of shared images) in the order
    ``index[epoch_order(...)]``: the images are gathered batch by batch, never copied as a whole. With
    ``table``, ``x`` holds uint8 pixels and each batch becomes ``table[batch]`` (a :class:`PixelImages`).
    The shuffling key and the epoch's logs (the metrics' running means, as ``model.fit`` reports them)
    are made inside the compiled call too: done eagerly, each would be a small compilation of its own.
    """
    import jax
    import keras

    steps, rest = divmod(n, batch_size)

    def run_epoch(state, x, y, seed, epoch, index=None, table=None):
        order = epoch_order(seed, epoch, n)
        if index is not None:
            order = index[order]

        def step(state, idx):
            batch = x[idx] if table is None else table[x[idx]]
            _, state = model.train_step(state, (batch, y[idx]))
            return state, None

        if steps:
            state, _ = jax.lax.scan(step, state, order[: steps * batch_size].reshape(steps, batch_size))
        if rest:  # the last, smaller batch, as model.fit does it
            state, _ = step(state, order[steps * batch_size:])
        with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, state[3]))):
            logs = model.get_metrics_result()
        return state, logs

    return run_epoch


def _epoch_function(model, n: int, batch_size: int):
    """Compile-once function: ``(state, x, y, seed, epoch, index, table) -> (state, logs)`` after one shuffled
    epoch (see :func:`_epoch_body`)."""
    import jax

    # x and y are arguments, never closed over: a closed-over array would be baked into the program.
    return jax.jit(_epoch_body(model, n, batch_size))


def _stacked_epoch_function(model, n: int, batch_size: int):
    """:func:`_epoch_body` over a stack of models: ``(states, x, y, seeds, epoch, indices, table) -> (states, logs)``.

    Every leaf of ``states``, ``seeds`` and ``indices`` (or None) has the models on its first axis; the
    images ``x, y`` (and the pixel ``table``, or None) are one shared copy. Compiled once per number of models.
    """
    import jax

    body = _epoch_body(model, n, batch_size)
    return jax.jit(jax.vmap(body, in_axes=(0, None, None, 0, None, 0, None)))


_SHARED: OrderedDict[tuple, Any] = OrderedDict()  # architecture and settings -> compiled epoch function
_SHARED_KEPT = 4  # each entry keeps its first model alive: a few MB for the seed's networks
_SHARED_LOCK = threading.Lock()


def _sharing_key(model, n: int, batch_size: int) -> tuple | None:
    """What decides the compiled epoch of ``model``, or None when sharing it could not be shown sound.

    Only plain dense networks are shared: an exact ``keras.Sequential`` of Flatten and Dense layers (with
    Dropout between them and a standardizing first layer allowed) with the built-in loss and metric (checked
    by ``_fasteval.plan``), trained by Adam without weight decay. Dropout's random state is a non-trainable
    variable, so it is in the state passed in too; the standardization's statistics are in the model config. For those, everything the traced call reads is in its configuration,
    in Keras's global numeric settings, or in the state passed in. Subclasses, custom losses or metrics
    (closures serialise by name only) and optimizers with state outside their config (weight-decay
    exclusions) would not be, so they compile their own. A constant learning rate is left out: Keras keeps
    it in an optimizer variable, part of the state, so models that differ only in it (a sweep's trials,
    :func:`fit_many`'s stacks) run the same program.
    """
    import keras

    optimizer = getattr(model, "optimizer", None)
    if _fasteval.plan(model, for_loss=True) is None or type(optimizer) is not keras.optimizers.Adam:
        return None
    if optimizer.weight_decay is not None:
        return None
    try:
        settings = model.get_compile_config()
        optimizer_config = settings["optimizer"]["config"]
        optimizer_config.pop("name", None)  # "adam", "adam_1", ...: a label, not the computation
        if isinstance(optimizer_config.get("learning_rate"), (int, float)):
            optimizer_config.pop("learning_rate")  # a variable in the state, not a constant of the program
        return (n, batch_size, keras.config.epsilon(), keras.config.floatx(), keras.config.dtype_policy().name,
                json.dumps(model.get_config(), sort_keys=True), json.dumps(settings, sort_keys=True))
    except (TypeError, ValueError, KeyError, AttributeError, NotImplementedError):
        return None


def _shared_epoch_function(model, n: int, batch_size: int, *, stacked: bool = False):
    """:func:`_epoch_function`, reused by every model with the same :func:`_sharing_key` (an experiment's seeds
    and variants, a notebook's second run), which then skip its compilation (~0.7 s).

    Sharing is sound for those models because the compiled call reads nothing of the model it was traced
    with but its structure: every weight, optimizer slot, learning rate, step counter and metric total is in
    the state passed in (``tests/test_fast_paths.py`` checks that a model trained through another's function
    ends with exactly its own history). ``stacked``: the :func:`_stacked_epoch_function` of :func:`fit_many`.
    """
    make = _stacked_epoch_function if stacked else _epoch_function
    key = _sharing_key(model, n, batch_size)
    if key is None:
        return make(model, n, batch_size)
    key = (stacked, *key)
    with _SHARED_LOCK:
        if key in _SHARED:
            _SHARED.move_to_end(key)
            return _SHARED[key]
    function = make(model, n, batch_size)
    with _SHARED_LOCK:
        _SHARED[key] = function
        while len(_SHARED) > _SHARED_KEPT:
            _SHARED.popitem(last=False)
    return function


def forget_compiled() -> None:
    """Drop the shared compiled epochs, so the next fit of every architecture compiles (and is timed so)."""
    with _SHARED_LOCK:
        _SHARED.clear()


def fit(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    validation_data: tuple | None = None,
    validation_batch_size: int = 1024,
    callbacks: Sequence[Any] = (),
    initial_epoch: int = 0,
    index: np.ndarray | None = None,
):
    """Train ``model`` like ``model.fit(..., shuffle=True, verbose=0)``, one compiled call per epoch.

    Args:
        model: a compiled Keras model.
        x, y: training inputs and integer labels: float32 inputs, or :class:`~fashion_lab.preprocess.PixelImages`
            (uint8 on the device, a quarter of the memory, the same results).
        epochs: index of the last epoch, as in ``model.fit``.
        batch_size: samples per gradient step.
        seed: seeds the per-epoch shuffling, so the same seed gives the same history.
        validation_data: ``(x_val, y_val)``, or ``(x, y, index)`` for ``x[index], y[index]``, evaluated after
            every epoch. Defaults to None.
        validation_batch_size: batch size for that evaluation. Defaults to 1024.
        callbacks: Keras callbacks, called per epoch. Defaults to none.
        initial_epoch: epoch to start from (for resumed runs). Defaults to 0.
        index: train on ``x[index], y[index]`` only (a run's split of shared images), exactly as if those
            had been passed: the batches are gathered from ``x`` step by step, so the split is never copied
            as a whole (169 MB for Fashion-MNIST's 54,000 training images). Defaults to None (all of ``x``).

    Returns:
        The ``keras.callbacks.History`` of the run, as ``model.fit`` returns it.
    """
    import jax

    if not supported(model, callbacks):
        # Keras's model.fit takes the images themselves, as float32
        x, y = (as_array(x), y) if index is None else (x[index], y[index])
        return _fit_with_keras(model, x, y, epochs=epochs, batch_size=batch_size, seed=seed,
                               validation_data=validation_data, validation_batch_size=validation_batch_size,
                               callbacks=callbacks, initial_epoch=initial_epoch)
    n = len(x) if index is None else len(index)
    callback_list = _start(model, x, y, batch_size, callbacks, epochs, n)
    run_epoch = _shared_epoch_function(model, n, batch_size)
    (x_dev, table), y_dev = _on_device(x), jax.device_put(y)  # once, not per batch
    index_dev = None if index is None else jax.device_put(np.asarray(index, np.int32))

    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        state, epoch_logs = run_epoch(_state(model), x_dev, y_dev, np.uint32(seed % 2**32), np.int32(epoch), index_dev,
                                      table)
        _assign(model, state)  # the model's variables hold this epoch's weights before any callback runs
        logs = {name: float(value) for name, value in jax.device_get(epoch_logs).items()}
        _end_epoch(model, callback_list, epoch, logs, validation_data, validation_batch_size)
        if model.stop_training:
            break
    return _finish(model, callback_list, logs)


def _on_device(x) -> tuple:
    """``(images, pixel table or None)`` on the device: uint8 codes and their table for :class:`PixelImages`."""
    import jax

    return x.on_device() if isinstance(x, PixelImages) else (jax.device_put(x), None)


def _start(model, x, y, batch_size: int, callbacks: Sequence[Any], epochs: int, n: int):
    """Build ``model`` for the data and return its ``CallbackList`` (with a History, as ``model.fit`` makes)."""
    import keras

    model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))  # builds layers, metrics, optimizer
    model.stop_training = False
    return keras.callbacks.CallbackList(list(callbacks), add_history=True, add_progbar=False, verbose=0,
                                        epochs=epochs, steps=-(-n // batch_size), model=model)


def _end_epoch(model, callback_list, epoch: int, logs: dict[str, float], validation_data, batch_size: int) -> None:
    """After an epoch's weights are in ``model``: the validation pass (adding ``val_`` logs), then ``on_epoch_end``."""
    if validation_data is not None:
        callback_list.on_test_begin()
        val = _fasteval.evaluate(model, *validation_data, batch_size=batch_size)
        callback_list.on_test_end(val)
        logs.update({f"val_{name}": value for name, value in val.items()})
    callback_list.on_epoch_end(epoch, logs)


def _finish(model, callback_list, logs: dict[str, float]):
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs=logs)
    return model.history  # the History that CallbackList attached, as model.fit returns it


def fit_many(
    models: Sequence[Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seeds: Sequence[int],
    indices: Sequence[np.ndarray] | None = None,
    validation_data: Sequence[tuple] | None = None,
    validation_batch_size: int = 1024,
    callbacks: Sequence[Sequence[Any]] | None = None,
    initial_epoch: int = 0,
) -> list:
    """Train models of one architecture together, each as :func:`fit` would train it alone.

    Every epoch is one compiled call over the models' stacked states (``jax.vmap`` of the same scanned
    ``train_step`` that :func:`fit` runs): each model keeps its own weights, optimizer state and learning
    rate, shuffles with its own seed and reports its own logs, validation and callbacks. The images are
    on the device once, shared; each model may train on its own subset of them (``indices``), gathered
    batch by batch. A model whose callbacks stop it (a target, early stopping, divergence) is left out of
    the following epochs, so its weights and history end where they would alone.

    The models must share one program (:func:`why_not_together` says when they do not); then they are
    trained one by one with :func:`fit`, with the same results.

    Args:
        models: compiled Keras models of one architecture (their learning rates may differ).
        x, y: the training images and integer labels, shared by every model.
        epochs: index of the last epoch, as in ``model.fit``.
        batch_size: samples per gradient step.
        seeds: one per model: seeds its per-epoch shuffling, as ``seed`` does in :func:`fit`.
        indices: one per model, all of one length: model k trains on ``x[indices[k]]``. Defaults to None
            (every model trains on all of ``x``).
        validation_data: one per model, ``(x_val, y_val)`` or ``(x, y, index)``, evaluated after every epoch.
            Defaults to None.
        validation_batch_size: batch size for that evaluation. Defaults to 1024.
        callbacks: one list of Keras callbacks per model, called per epoch. Defaults to none.
        initial_epoch: epoch to start from. Defaults to 0.

    Returns:
        One ``keras.callbacks.History`` per model, in order.

    Example:
        >>> histories = fit_many([build_model(), build_model()], x, y, epochs=5, batch_size=32,
        ...                      seeds=[0, 1])  # doctest: +SKIP
        >>> [len(h.history["loss"]) for h in histories]  # doctest: +SKIP
        [5, 5]
    """
    import jax

    k = len(models)
    if len(seeds) != k or (indices is not None and len(indices) != k) or \
            (validation_data is not None and len(validation_data) != k) or (callbacks is not None and len(callbacks) != k):
        raise ValueError(f"fit_many needs one seed (and one index, validation set, callback list when given) per "
                         f"model: {k} models, {len(seeds)} seeds.")
    callbacks = [list(c) for c in callbacks] if callbacks is not None else [[] for _ in models]
    validation_data = list(validation_data) if validation_data is not None else [None] * k
    if indices is not None:
        indices = [np.asarray(i, dtype=np.int32) for i in indices]
    problem = why_not_together(models, x, y, batch_size, callbacks, indices)
    if problem is not None:
        return [fit(model, x, y, index=idx, epochs=epochs, batch_size=batch_size, seed=seed, validation_data=val,
                    validation_batch_size=validation_batch_size, callbacks=cbs, initial_epoch=initial_epoch)
                for model, seed, val, cbs, idx in zip(models, seeds, validation_data, callbacks, indices or [None] * k)]
    n = len(x) if indices is None else len(indices[0])
    lists = [_start(model, x, y, batch_size, cbs, epochs, n) for model, cbs in zip(models, callbacks)]
    run_epochs = _shared_epoch_function(models[0], n, batch_size, stacked=True)
    (x_dev, table), y_dev = _on_device(x), jax.device_put(y)  # one copy for all the models
    index_dev = None if indices is None else jax.device_put(np.stack(indices))  # k x n int32: the only per-model data
    seeds = np.array([seed % 2**32 for seed in seeds], dtype=np.uint32)

    for callback_list in lists:
        callback_list.on_train_begin()
    logs: list[dict[str, float]] = [{} for _ in models]
    training = list(range(k))
    width = k  # models per compiled call: narrowed (one compilation each time) when half or more have stopped
    for epoch in range(initial_epoch, epochs):
        if not training:
            break
        for i in training:
            models[i].reset_metrics()
            lists[i].on_epoch_begin(epoch)
        if len(training) <= width // 2:
            width = len(training)
        members = training + training[:1] * (width - len(training))  # fillers: computed, never read back
        states = jax.tree.map(lambda *leaves: np.stack(leaves), *[_state(models[i]) for i in members])
        states, epoch_logs = run_epochs(states, x_dev, y_dev, seeds[members], np.int32(epoch),
                                        None if index_dev is None else index_dev[np.array(members)], table)
        states, epoch_logs = jax.device_get((states, epoch_logs))
        for row, i in enumerate(training):
            _assign(models[i], jax.tree.map(lambda leaf: leaf[row], states))
            logs[i] = {name: float(value[row]) for name, value in epoch_logs.items()}
            _end_epoch(models[i], lists[i], epoch, logs[i], validation_data[i], validation_batch_size)
        training = [i for i in training if not models[i].stop_training]
    return [_finish(model, callback_list, model_logs) for model, callback_list, model_logs in zip(models, lists, logs)]


def why_not_together(models: Sequence[Any], x, y, batch_size: int, callbacks: Sequence[Sequence[Any]] = (),
                     indices: Sequence[np.ndarray] | None = None) -> str | None:
    """Why :func:`fit_many` cannot train ``models`` as one program, in words; None when it can.

    They can when the fused loop applies to each (:func:`supported`) and they are plain networks of the
    same architecture, loss, metrics and optimizer settings but the learning rate, with one training set
    size (see :func:`_sharing_key`).

    Example:
        >>> why_not_together([build_model((8,)), build_model((16,))], x, y, 32)  # doctest: +SKIP
        'the models differ in architecture or training settings (not only seed or learning rate)'
    """
    if not models:
        return "there are no models"
    if any(not supported(model, cbs) for model, cbs in zip(models, list(callbacks) or [()] * len(models))):
        return "the one-call-per-epoch loop does not apply (another backend, or a callback with per-batch events)"
    sizes = {len(x)} if indices is None else {len(i) for i in indices}
    if len(sizes) != 1:
        return f"the models train on different numbers of images ({sorted(sizes)})"
    n = sizes.pop()
    for model in models:
        model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))
    keys = {_sharing_key(model, n, batch_size) for model in models}
    if None in keys:
        return "the models are not plain Flatten + Dense networks trained by Adam (build_model's), whose sameness can be checked"
    if len(keys) != 1:
        return "the models differ in architecture or training settings (not only seed or learning rate)"
    return None


def _fit_with_keras(model, x, y, *, epochs, batch_size, seed, validation_data, validation_batch_size, callbacks,
                    initial_epoch):
    """``model.fit`` with :func:`fit`'s meaning, leaving the model's settings as it found them.

    ``seed`` seeds NumPy's global generator, which Keras's ``model.fit`` shuffles with, when the fit starts
    at epoch 0; a resumed fit (``initial_epoch > 0``) continues from the generator state the caller restored
    (what :mod:`fashion_lab.checkpoint` saved). Per-batch callbacks need one step per compiled call to see
    every batch: the model's ``steps_per_execution`` is set to 1 for this fit and put back after it.
    """
    if validation_data is not None and len(validation_data) == 3:  # (x, y, index): Keras would read a sample weight
        x_all, y_all, index = validation_data
        validation_data = (x_all[index], y_all[index])
    saved_steps = model.steps_per_execution
    one_step = wants_batch_events(callbacks) and saved_steps != 1
    if one_step:
        model.steps_per_execution = 1
        model.train_function = model.test_function = model.predict_function = None
    try:
        if initial_epoch == 0:
            np.random.seed(seed % 2**32)
        elif getattr(model, "train_function", None) is None:
            # Keras draws one shuffling permutation while it first builds a model's metrics: let it do that
            # in a fit of no epochs and put the generator back, so the resumed epochs shuffle as the
            # uninterrupted run's did.
            rng = np.random.get_state()
            model.fit(x[:1], y[:1], epochs=initial_epoch, initial_epoch=initial_epoch, verbose=0)
            np.random.set_state(rng)
        return model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                         validation_batch_size=validation_batch_size, callbacks=list(callbacks), verbose=0,
                         shuffle=True, initial_epoch=initial_epoch)
    finally:
        if one_step:
            model.steps_per_execution = saved_steps
            model.train_function = model.test_function = model.predict_function = None
