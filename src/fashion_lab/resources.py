"""What a training configuration will cost, checked before anything is allocated.

``fashion-lab train --hidden 100000000`` asks for 79.5 billion weights: 318 GB as float32 before the
optimizer's two Adam slots. :func:`check_fits` estimates the memory a run needs (weights, gradients,
Adam's slots, the checkpoint's copies, activations of a batch, the images on the host and on the
device, and what JAX and Keras themselves take) and refuses a configuration that needs more than the
machine has available, saying both figures. :func:`epoch_seconds_estimate` gives a rough time per epoch
from the arithmetic, for large networks.

Example:
    >>> need = estimate_memory(dense_sizes(784, (128,), 10), n_train=60000, n_test=10000, batch_size=32)
    >>> round(need.total / 1e9, 2), need.params
    (1.13, 101770)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError

PIXELS = 28 * 28
# What `import keras, jax` and XLA's compiled programs take before any array (measured: ~314 MB for the
# imports, a few hundred MB more once a model is compiled and run).
BASE_PROCESS_BYTES = 450 * 2**20
# Copies of the weights alive during training, in float32 units: weights, gradients, Adam's two slots,
# the checkpoint's shadow copy (weights and slots) and the host copy the background save writes from.
STATE_COPIES = 1 + 1 + 2 + 3 + 3
# Copies of the pixels, an upper bound: uint8 as loaded, uint8 on the device (preprocess.PixelImages: the fused
# loop turns each batch into float32 there), a float32 copy of a run's split where Keras's model.fit trains (the
# CNN), and one more float32 for transients (the CNN's split gathered again for its final evaluation).
TRAIN_PIXEL_BYTES = 1 + 1 + 4 + 4
TEST_PIXEL_BYTES = 1 + 4
# Floating-point operations per second this kind of machine sustains on dense layers (2-core EPYC:
# 100-180 GFLOP/s measured by benchmarks/bench.py); a rough figure, for estimates only.
DENSE_FLOPS_PER_SECOND = 100e9
# The course's CNN through Keras's model.fit: 32.8 s per 60,000-image epoch of 5.05 M multiply-adds per image
# (README, Recipes), about 55 GFLOP/s.
CONV_FLOPS_PER_SECOND = 50e9


@dataclass(frozen=True)
class MemoryNeed:
    """Estimated bytes a run needs, by part."""

    params: int
    model_state: int
    activations: int
    data: int
    process: int = BASE_PROCESS_BYTES

    @property
    def total(self) -> int:
        return self.model_state + self.activations + self.data + self.process

    def breakdown(self) -> str:
        """Where the bytes go, in words."""
        return (f"{self.params:,} parameters: {_gb(self.model_state)} for the weights, gradients, Adam's slots and "
                f"checkpoint copies; {_gb(self.data)} for the images; {_gb(self.activations)} for activations; "
                f"{_gb(self.process)} for JAX and Keras themselves")


def dense_sizes(inputs: int, hidden: Sequence[int], outputs: int) -> list[tuple[int, int]]:
    """The (inputs, outputs) of each Dense layer of a Flatten + Dense network.

    Example:
        >>> dense_sizes(784, (128,), 10)
        [(784, 128), (128, 10)]
    """
    widths = [inputs, *hidden, outputs]
    return list(zip(widths[:-1], widths[1:]))


def cnn_cost(hidden: Sequence[int], outputs: int, *, filters: int = 64) -> tuple[list[tuple[int, int]], int, int]:
    """What the course's CNN (``model.build_cnn``: two 3x3 convolutions of ``filters``, each followed by 2x2 max
    pooling, on 28x28 images, then Dense layers) costs: ``(layers, activations per image, multiply-adds per
    image)``. ``layers`` are ``(fan_in, outputs)`` pairs whose weights and biases sum to the network's
    parameters (a 3x3 convolution is ``(9 x channels in, filters)``), as :func:`estimate_memory` takes them.

    Example:
        >>> layers, units, macs = cnn_cost((128,), 10)
        >>> sum(i * o + o for i, o in layers), units, macs  # build_cnn().count_params() is 243,786
        (243786, 63562, 5056000)
    """
    side1 = 28 - 2  # after the first 3x3 convolution ("valid")
    pooled1 = side1 // 2
    side2 = pooled1 - 2
    pooled2 = side2 // 2
    dense = dense_sizes(pooled2 * pooled2 * filters, hidden, outputs)
    layers = [(9, filters), (9 * filters, filters), *dense]
    units = filters * (side1 ** 2 + pooled1 ** 2 + side2 ** 2 + pooled2 ** 2) + sum(o for _, o in dense)
    macs = side1 ** 2 * 9 * filters + side2 ** 2 * 9 * filters * filters + sum(i * o for i, o in dense)
    return layers, units, macs


def estimate_memory(layers: Sequence[tuple[int, int]], *, n_train: int, n_test: int, batch_size: int,
                    eval_batch: int = 4096, units_per_image: int | None = None) -> MemoryNeed:
    """Bytes a run of a network with ``layers`` needs (see the module docstring for what is counted).

    ``units_per_image``: the activation values one image makes (:func:`cnn_cost` for the CNN); defaults to
    the dense layers' outputs."""
    params = sum(i * o + o for i, o in layers)
    units = sum(o for _, o in layers) if units_per_image is None else units_per_image
    activations = 4 * units * (3 * batch_size + eval_batch)  # forward values and their gradients; an eval chunk
    data = n_train * PIXELS * TRAIN_PIXEL_BYTES + n_test * PIXELS * TEST_PIXEL_BYTES
    return MemoryNeed(params=params, model_state=4 * params * STATE_COPIES, activations=activations, data=data)


def available_memory() -> int | None:
    """Bytes this process can still use: the smaller of the system's available memory and the cgroup's limit."""
    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                limits.append(int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        pass
    return min(limits) if limits else None


def check_fits(need: MemoryNeed, what: str, *, available: int | None = None) -> None:
    """Raise :class:`~fashion_lab.errors.ConfigError` when ``need`` exceeds the memory available.

    Example:
        >>> need = estimate_memory(dense_sizes(784, (100_000_000,), 10), n_train=60000, n_test=10000, batch_size=32)
        >>> check_fits(need, "--hidden 100000000", available=24 * 2**30)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fashion_lab.errors.ConfigError: --hidden 100000000 needs about 4857.9 GB of memory (79,500,000,010 parameters: ...
    """
    available = available_memory() if available is None else available
    if available is None or need.total <= available:
        return
    raise ConfigError(
        f"{what} needs about {_gb(need.total)} of memory ({need.breakdown()}), but this machine has "
        f"{_gb(available)} available, so it would exhaust the memory before the first epoch. "
        f"Use smaller layers (the seed uses --hidden 128; a network of 4096 units needs about "
        f"{_gb(estimate_memory(dense_sizes(PIXELS, (4096,), 10), n_train=60000, n_test=10000, batch_size=32).total)}), "
        f"or fewer training images.")


def epoch_seconds_estimate(layers: Sequence[tuple[int, int]], n_train: int, *,
                           macs_per_image: int | None = None) -> float:
    """Rough seconds per epoch from the arithmetic: 6 floating-point operations per multiply-add per image.

    ``macs_per_image`` (a convolutional network's, from :func:`cnn_cost`) is timed at the convolutions' rate.

    Example:
        >>> round(epoch_seconds_estimate(dense_sizes(784, (8192,), 10), 60000))
        23
        >>> layers, _, macs = cnn_cost((128,), 10)
        >>> round(epoch_seconds_estimate(layers, 60000, macs_per_image=macs))  # measured: 32.8 s
        36
    """
    if macs_per_image is not None:
        return 6 * macs_per_image * n_train / CONV_FLOPS_PER_SECOND
    macs = sum(i * o for i, o in layers)
    return 6 * macs * n_train / DENSE_FLOPS_PER_SECOND


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


MALLOC_ARENAS = 2  # glibc's default allows 8 per core


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let the process's threads share ``arenas`` glibc malloc arenas; True when set (glibc only).

    By default glibc gives threads that allocate (XLA's workers, the background checkpoint writer, the
    TensorBoard writer) arenas of their own, up to 8 per core, and keeps what is freed in each for reuse.
    The memory of one model's training then stays held while the next trains: the default
    ``fashion-lab experiment layer-size`` ended at 1.14 GB resident with the default and at 0.82 GB with
    2 arenas (README, Performance). Call it before threads start; the command line does (a library caller's
    process is its own to tune).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl has no arenas to limit)
        return False


def freeze_startup_objects() -> None:
    """Collect garbage once, then keep every object alive now out of all later collections (``gc.freeze``).

    Keras's ``clear_session()``, which an experiment calls before each model so that each starts from a clean
    state, runs a full garbage collection, and a full collection walks every object the process holds: the
    modules, functions and classes of Keras and JAX included. That took 0.25-0.3 s per model of the default
    ``layer-size`` experiment (1.8-2.1 s of its 33 s); after the freeze a collection walks only what was made
    since, about 0.04 s. Frozen objects are never collected, so call this once, after the imports and before the
    first model exists: what a model leaves behind is still collected as usual. For commands (a process of its
    own), not for a library user's process.
    """
    import gc

    gc.collect()
    gc.freeze()
