"""The learning-rate range test (Leslie Smith's "LR finder"): which learning rates does a network learn with?

A short run from a model's initial weights raises the learning rate exponentially every step, from
``start`` (too small to change anything) towards ``end`` (far too large), and records each batch's loss.
The loss first stays flat, then falls faster and faster, reaches a minimum, and explodes; the test stops
there. Plotted against the rate on a log axis, the smoothed loss shows the range that learns.

The loss of each step is measured after its update on a fixed probe batch of training images (1,024 by
default: far less noisy than the step's own 32-image batch; ``probe=0`` uses the batch's loss, as in
Smith's paper). The curve is read after a centred smoothing over log-rate (:func:`smooth_curve`, a Gaussian
of 0.2 decades, which does not lag as a moving average does); stopping is decided as the test runs, with a
bias-corrected moving average of past losses (:func:`smooth`).

:func:`suggest_rate` reads a rate off the smoothed curve with one rule and reports two others beside it:

- **end of the fall** (the suggestion): the smallest rate at which the smoothed loss has made 90% of its fall
  from the first step to its minimum. Larger rates buy no more descent and lead to the explosion; this rate
  is the largest that still learns steadily. On the seed's network it lands at 0.7e-3 to 1.4e-3 for every
  seed tried, where Adam's default 1e-3 is.
- **minimum / 10**: a tenth of the rate at the lowest smoothed loss (fastai's first rule). The bottom of
  the curve is flat and noisy, so this moved between 1.5e-4 and 1.9e-3 over seeds.
- **steepest descent**: the rate at which the smoothed loss fell fastest per decade of rate (about 3e-4 on the
  seed's network: early, while the weights are still nearly random).

The steps run as one compiled ``lax.scan`` per chunk of steps (:data:`CHUNK`), through the model's own Keras
``train_step``; the learning rate is part of the optimizer state passed in, so each step gets its own rate.
The model itself is not changed: the test trains a copy of its state.

Example:
    >>> from fashion_lab import build_model, load_dataset, normalize
    >>> (x, y), _ = load_dataset("fashion_mnist")  # doctest: +SKIP
    >>> test = lr_range_test(build_model(), normalize(x), y, steps=300)  # doctest: +SKIP
    >>> suggest_rate(test.rates, test.smoothed)["rate"]  # doctest: +SKIP
    0.0011
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError

START_RATE = 1e-6  # the loss does not move yet
END_RATE = 1.0  # Adam diverges well before this on these networks
STEPS = 300  # a few hundred batches: enough points per decade of rate (50), a few seconds on 2 cores
PROBE = 1024  # training images whose loss is measured after every step; 0: the step's own batch
SMOOTHING = 0.9  # moving average (bias-corrected) of past losses, for the stop check only: it lags
CURVE_SIGMA = 0.2  # decades of rate: width of the centred Gaussian that smooths the curve before it is read
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss is this many times its minimum (fastai's rule)
FALL_SHARE = 0.9  # the suggestion: where the smoothed loss has made this share of its fall to the minimum
CHUNK = 25  # steps per compiled call; the test looks for the explosion between calls


@dataclass
class RangeTest:
    """What :func:`lr_range_test` measured: one entry per step that ran.

    ``rates`` the learning rate of each step, ``losses`` the loss measured after it (on the probe images, or
    the step's batch), ``smoothed`` :func:`smooth_curve` of ``losses``; ``stopped`` says why the test ended
    (``"diverged"`` when the loss exploded before ``end``, ``"end"`` when it reached the last rate).
    """

    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped: str
    settings: dict[str, Any] = field(default_factory=dict)


def rate_schedule(start: float, end: float, steps: int) -> np.ndarray:
    """``steps`` learning rates growing by the same factor every step, from ``start`` to ``end``.

    Example:
        >>> rate_schedule(1e-3, 1.0, 4).round(4).tolist()
        [0.001, 0.01, 0.1, 1.0]
    """
    return np.geomspace(start, end, steps)


def smooth(losses: np.ndarray, beta: float = SMOOTHING) -> np.ndarray:
    """The bias-corrected exponential moving average of ``losses`` (as Adam corrects its moments): past values only.

    Example:
        >>> smooth(np.array([1.0, 1.0, 4.0]), beta=0.5).round(3).tolist()
        [1.0, 1.0, 2.714]
    """
    out = np.empty(len(losses))
    average = 0.0
    for i, loss in enumerate(np.asarray(losses, dtype=np.float64)):
        average = beta * average + (1 - beta) * loss
        out[i] = average / (1 - beta ** (i + 1))
    return out


def smooth_curve(rates: np.ndarray, losses: np.ndarray, sigma: float = CURVE_SIGMA) -> np.ndarray:
    """``losses`` averaged with Gaussian weights over ``log10(rate)`` (``sigma`` decades), centred: it does not lag.

    Example:
        >>> rates = np.geomspace(1e-4, 1e-2, 5)
        >>> smooth_curve(rates, np.array([1.0, 1.0, 4.0, 1.0, 1.0]), sigma=0.01).tolist()
        [1.0, 1.0, 4.0, 1.0, 1.0]
    """
    logs = np.log10(np.asarray(rates, dtype=np.float64))
    weights = np.exp(-0.5 * ((logs[:, None] - logs[None, :]) / sigma) ** 2)
    return weights @ np.asarray(losses, dtype=np.float64) / weights.sum(axis=1)


def diverged_at(smoothed: np.ndarray, factor: float = DIVERGE_FACTOR) -> int | None:
    """The first step whose smoothed loss is not finite or above ``factor`` times the lowest before it; None if none.

    Example:
        >>> diverged_at(np.array([2.0, 1.0, 3.0, 5.0])), diverged_at(np.array([2.0, 1.0]))
        (3, None)
    """
    lowest = math.inf
    for i, value in enumerate(smoothed):
        if not math.isfinite(value) or value > factor * lowest:
            return i
        lowest = min(lowest, value)
    return None


def _learning_rate_index(optimizer) -> int:
    for i, variable in enumerate(optimizer.variables):
        if variable.name == "learning_rate":
            return i
    raise ConfigError(f"the model's optimizer ({type(optimizer).__name__}) keeps no learning_rate variable (it uses a "
                      f"schedule); the range test sets the rate itself: compile the model with a number as learning rate.")


def _chunk_function(model, rate_index: int, probe: bool):
    """Compile-once ``(state, x, y, batches, rates, fresh_metrics, x_probe, y_probe) -> (state, losses)``."""
    import jax

    def run(state, x, y, batches, rates, fresh_metrics, x_probe, y_probe):
        def step(state, item):
            idx, rate = item
            trainable, non_trainable, optimizer, _ = state
            optimizer = list(optimizer)
            optimizer[rate_index] = rate.astype(optimizer[rate_index].dtype)  # this step's rate
            # Fresh metric totals every step, so the "loss" Keras reports is this batch's loss alone.
            logs, state = model.train_step((trainable, non_trainable, optimizer, fresh_metrics), (x[idx], y[idx]))
            if not probe:
                return state, logs["loss"]
            loss, _ = model.compute_loss_and_updates(state[0], state[1], fresh_metrics, x_probe, y_probe, None,
                                                     training=False)
            return state, loss

        return jax.lax.scan(step, state, (batches, rates))

    return jax.jit(run)


def _check(start, end, steps, batch_size, probe, beta, n) -> None:
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (start, end)) or not 0 < start < end:
        raise ConfigError(f"learning rates must rise from start to end, both > 0; got start={start!r}, end={end!r}; "
                          f"for example start=1e-6, end=1.")
    for name, value, low in (("steps", steps, 3), ("batch size", batch_size, 1), ("probe", probe, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}.")
    if not 0 <= beta < 1:
        raise ConfigError(f"beta (smoothing) must be in [0, 1), got {beta!r}; for example 0.9.")
    if n < batch_size:
        raise ConfigError(f"the range test needs at least one batch of {batch_size} images, got {n}.")


def lr_range_test(model, x: np.ndarray, y: np.ndarray, *, start: float = START_RATE, end: float = END_RATE,
                  steps: int = STEPS, batch_size: int = 32, seed: int = 0, probe: int = PROBE,
                  beta: float = SMOOTHING, diverge_factor: float = DIVERGE_FACTOR) -> RangeTest:
    """Train a copy of ``model``'s state with a learning rate rising from ``start`` to ``end`` over ``steps`` batches.

    Stops after the chunk of steps in which the loss explodes (:func:`diverged_at` of its moving average) and
    keeps the steps before it. ``model`` is a compiled Keras model on the JAX backend whose optimizer has a
    number as learning rate (Adam for the seed's networks); its weights and optimizer are left as they were.

    Args:
        model: the compiled Keras model.
        x, y: training inputs (float32, preprocessed) and integer labels.
        start: the first step's learning rate. Defaults to 1e-6.
        end: the last step's learning rate. Defaults to 1.0.
        steps: number of steps (batches); each step's rate is ``(end / start) ** (1 / (steps - 1))`` times the
            last. Defaults to 300.
        batch_size: images per step, drawn in a seeded random order (reshuffled when the data runs out).
            Defaults to 32.
        seed: seeds that order and the probe images. Defaults to 0.
        probe: measure the loss after each step on this many fixed training images; 0 takes the loss of the
            step's own batch (before its update). Defaults to 1024.
        beta: the stop check's moving average: its weight on the past. Defaults to 0.9.
        diverge_factor: stop when that average exceeds this multiple of its minimum. Defaults to 4.

    Returns:
        A :class:`RangeTest`.
    """
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise ConfigError(f"the learning-rate range test runs on Keras's JAX backend, not {keras.backend.backend()!r}; "
                          f"unset KERAS_BACKEND or set it to jax.")
    n = len(x)
    _check(start, end, steps, batch_size, probe, beta, n)
    model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))  # builds layers, metrics, optimizer
    rate_index = _learning_rate_index(model.optimizer)
    rates = rate_schedule(start, end, steps)

    rng = np.random.default_rng(seed)
    per_pass = n // batch_size
    order = np.concatenate([rng.permutation(n)[: per_pass * batch_size] for _ in range(-(-steps // per_pass))])
    batches = order[: steps * batch_size].reshape(steps, batch_size).astype(np.int32)
    probe_idx = np.sort(rng.permutation(n)[: min(probe, n)]) if probe else np.arange(1)

    model.reset_metrics()
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables], [v.value for v in model.metrics_variables])
    fresh_metrics = state[3]
    run = _chunk_function(model, rate_index, bool(probe))
    x_dev, y_dev = jax.device_put(x), jax.device_put(y)
    x_probe, y_probe = jax.device_put(x[probe_idx]), jax.device_put(y[probe_idx])
    losses: list[float] = []
    stopped = "end"
    for begin in range(0, steps, CHUNK):
        chunk = np.arange(begin, begin + CHUNK).clip(max=steps - 1)  # the last chunk repeats its last step: one shape
        state, chunk_losses = run(state, x_dev, y_dev, batches[chunk], rates[chunk].astype(np.float32), fresh_metrics,
                                  x_probe, y_probe)
        losses.extend(np.asarray(chunk_losses, dtype=np.float64)[: min(CHUNK, steps - begin)].tolist())
        cut = diverged_at(smooth(np.array(losses), beta), diverge_factor)
        if cut is not None:
            losses, stopped = losses[:cut], "diverged"
            break
    kept = np.array(losses)
    return RangeTest(rates=rates[: len(kept)], losses=kept, smoothed=smooth_curve(rates[: len(kept)], kept),
                     stopped=stopped,
                     settings={"start": start, "end": end, "steps": steps, "batch_size": batch_size, "seed": seed,
                               "probe": probe, "beta": beta, "diverge_factor": diverge_factor,
                               "curve_sigma_decades": CURVE_SIGMA, "fall_share": FALL_SHARE})


def suggest_rate(rates: np.ndarray, smoothed: np.ndarray, *, fall_share: float = FALL_SHARE) -> dict[str, Any]:
    """A learning rate read off a range test's smoothed curve, the rule that chose it, and the numbers behind it.

    The suggestion is the smallest rate at which the smoothed loss has made ``fall_share`` of its fall from the
    first step to its minimum ("end of the fall"); a tenth of the rate at the minimum and the rate of the steepest
    descent (the most negative slope per decade of rate, before the minimum) are reported beside it.

    Example:
        >>> rates = np.geomspace(1e-5, 1, 6)                 # 1e-5 ... 1
        >>> out = suggest_rate(rates, np.array([2.3, 2.2, 1.0, 0.6, 0.5, 9.0]))
        >>> out["rule"], round(out["rate"], 6), round(out["minimum_rate"], 6), round(out["steepest_rate"], 6)
        ('end of the fall', 0.01, 0.1, 0.001)
    """
    rates, smoothed = np.asarray(rates, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    if len(rates) < 3 or len(rates) != len(smoothed):
        raise ConfigError(f"a range test needs at least 3 steps to suggest a rate, got {len(rates)}; run more steps "
                          f"or start at a smaller rate.")
    lowest = int(np.argmin(smoothed))
    fall = smoothed[0] - smoothed[lowest]
    if lowest == 0 or fall <= 0:
        raise ConfigError(f"the loss never fell below its first value ({smoothed[0]:.3f}) between rates {rates[0]:.3g} "
                          f"and {rates[-1]:.3g}; start the test at a smaller rate, or check the data and the model.")
    slopes = np.gradient(smoothed[: lowest + 1], np.log10(rates[: lowest + 1]))
    steepest = int(np.argmin(slopes))
    reached = int(np.argmax(smoothed <= smoothed[lowest] + (1 - fall_share) * fall))
    rate = float(rates[reached])
    return {
        "rate": rate,
        "rule": "end of the fall",
        "reason": (f"the smoothed loss fell from {smoothed[0]:.3f} to its minimum {smoothed[lowest]:.3f} (at rate "
                   f"{rates[lowest]:.3g}) and had made {fall_share:.0%} of that fall by rate {rate:.3g} "
                   f"(loss {smoothed[reached]:.3f}); larger rates bought only the last {1 - fall_share:.0%} of it, "
                   f"closer to the explosion"),
        "first_loss": float(smoothed[0]),
        "minimum_rate": float(rates[lowest]),
        "minimum_loss": float(smoothed[lowest]),
        "minimum_over_10": float(rates[lowest] / 10),
        "steepest_rate": float(rates[steepest]),
        "steepest_slope_per_decade": float(slopes[steepest]),
    }


__all__ = ["RangeTest", "diverged_at", "lr_range_test", "rate_schedule", "smooth", "smooth_curve", "suggest_rate"]
