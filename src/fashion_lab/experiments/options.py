"""What an experiment runs: the options shared by every experiment and those only some take.

Example:
    >>> options = ExperimentOptions(epochs=2).resolved("normalization")
    >>> options.hidden, options.epochs, options.validation_split
    ((128,), 2, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError
from ..validate import choice, fraction, positive_int
from .registry import EXPERIMENTS, get_experiment


@dataclass
class ExperimentOptions:
    """What an experiment runs. ``None`` fields take the experiment's own default (see :data:`EXPERIMENTS`).

    Args:
        dataset: ``"fashion_mnist"`` or ``"mnist"``. Defaults to ``"fashion_mnist"``.
        data_dir: folder with the four IDX files. Defaults to None (the usual search).
        verify: check files against their pinned SHA-256. Defaults to True.
        hidden: for ``layer-size`` the sizes to compare (one hidden layer each); for the others the
            network's hidden layers. Defaults to the experiment's (``16 ... 1024`` or ``128``).
        epochs: epochs per model (for ``callback`` the most it may take). Defaults to the experiment's.
        repeats: ``layer-size`` only: train each size this many times with seeds ``seed, seed+1, ...``.
            Defaults to 1.
        predict: ``layer-size`` only: sizes whose time per epoch and accuracy to predict. Defaults to none.
        together: ``layer-size`` with ``repeats``: give a size's seeds to :func:`fashion_lab.train_together`,
            which trains them as one compiled program where that pays (not on a CPU; same results, time
            figures per model amortised). False trains them one after another, each timed alone.
            Defaults to True.
        restore_best: ``epochs`` only: end with the weights of the epoch with the lowest validation loss.
            Defaults to False.
        target: ``callback`` only: the training accuracy to reach, in (0, 1]. Defaults to 0.85.
        validation_split: fraction of training images held out to compare on, in (0, 1). Defaults to 0.1.
        seed: random seed for the split, the weights and the shuffling. Defaults to 0.
        batch_size: images per step. Defaults to 32.
        learning_rate: Adam's learning rate. Defaults to 0.001.
        architectures: ``architectures`` only: which of ``seed``, ``best-mlp``, ``cnn`` to compare. Defaults to all.
        train_images: train on the first N training images only (a quick look). Defaults to all.

    Example:
        >>> ExperimentOptions(repeats=0)
        Traceback (most recent call last):
        ...
        fashion_lab.errors.InvalidValue: repeats must be a positive integer, got 0.
    """

    dataset: str = TrainConfig.dataset
    data_dir: str | None = TrainConfig.data_dir
    verify: bool = TrainConfig.verify
    hidden: tuple[int, ...] | None = None
    epochs: int | None = None
    repeats: int | None = None
    predict: tuple[int, ...] = ()
    together: bool = True
    restore_best: bool = False
    target: float | None = None
    validation_split: float = 0.1  # experiments compare models on held-out images, so they always hold some out
    seed: int = TrainConfig.seed
    batch_size: int = TrainConfig.batch_size
    learning_rate: float = TrainConfig.learning_rate
    architectures: tuple[str, ...] | None = None
    train_images: int | None = None

    def __post_init__(self) -> None:
        if self.hidden is not None:
            self.hidden = tuple(self.hidden)  # empty or non-positive sizes: refused by train_config() below
            if len(set(self.hidden)) != len(self.hidden):
                raise ConfigError(f"--hidden lists a size twice ({list(self.hidden)}); give each size once, "
                                  f"and use --repeats N to train each size N times.")
        if self.repeats is not None:
            positive_int("repeats", self.repeats)
        self.predict = tuple(self.predict or ())
        for h in self.predict:
            positive_int("each --predict size", h)
        if self.target is not None:
            fraction("target accuracy", self.target, low_open=True, high_open=False, example="for 85% pass 0.85")
        if self.architectures is not None:
            from .registry import ARCHITECTURES

            self.architectures = tuple(self.architectures)
            if not self.architectures or len(set(self.architectures)) != len(self.architectures):
                raise ConfigError(f"--architectures needs one or more different names, got {list(self.architectures)}; "
                                  f"choose from: {', '.join(ARCHITECTURES)}.")
            for name in self.architectures:
                choice("each architecture", name, ARCHITECTURES, example="for example --architectures seed cnn")
        if self.train_images is not None:
            positive_int("train images", self.train_images)
        fraction("validation split", self.validation_split, low_open=True, high_open=True,
                  example="experiments compare on it, for 10% pass 0.1")
        # The rest (dataset name, seed, batch size, learning rate) is checked by TrainConfig.
        self.train_config()

    def train_config(self, **changes: Any) -> TrainConfig:
        """The :class:`TrainConfig` these options describe, with ``changes`` applied."""
        fields = dict(dataset=self.dataset, data_dir=self.data_dir, verify=self.verify,
                      validation_split=self.validation_split, seed=self.seed, batch_size=self.batch_size,
                      learning_rate=self.learning_rate)
        if self.hidden is not None:
            fields["hidden"] = self.hidden
        if self.epochs is not None:
            fields["epochs"] = self.epochs
        fields.update(changes)
        return TrainConfig(**fields)

    def resolved(self, name: str) -> "ExperimentOptions":
        """These options for experiment ``name``: its defaults filled in, options it does not use refused."""
        spec = get_experiment(name)
        for option, given in (("repeats", self.repeats is not None), ("predict", bool(self.predict)),
                              ("one_by_one", not self.together),
                              ("restore_best", self.restore_best), ("target", self.target is not None),
                              ("epochs", self.epochs is not None), ("architectures", self.architectures is not None)):
            if given and option not in spec.options:
                flag = "--" + option.replace("_", "-")
                users = [e.name for e in EXPERIMENTS.values() if option in e.options]
                raise ConfigError(f"{flag} does not apply to the {name} experiment; it is used by: {', '.join(users)}.")
        out = dict(self.__dict__)
        for key, value in spec.defaults.items():
            if out.get(key) is None:
                out[key] = value
        return ExperimentOptions(**out)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("hidden", "predict", "architectures"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data


__all__ = ["ExperimentOptions"]
