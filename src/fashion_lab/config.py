"""The one typed configuration of a training run, saved as ``config.json`` in every run.

Defaults are the seed's recipe (Flatten -> Dense(128, relu) -> Dense(10, softmax), Adam 0.001,
batch 32, 5 epochs, pixels / 255). Every field is validated when the config is made, before
any heavy import or training starts.

Example:
    >>> config = TrainConfig(hidden=(512, 256), epochs=3)
    >>> config.hidden, config.batch_size
    ((512, 256), 32)
    >>> TrainConfig(epochs=0)
    Traceback (most recent call last):
    ...
    fashion_lab.errors.ConfigError: epochs must be a positive integer, got 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .validate import choice, fraction, non_negative_number, positive_int, positive_number, safe_name, whole_number


MAX_SEED = 2**31  # the random generators of NumPy and JAX take 32-bit seeds
MODELS = ("mlp", "cnn")  # = model.MODELS (kept here so a config validates without importing Keras)
STANDARDIZATIONS = ("none", "global", "per-pixel")
LR_SCHEDULES = ("constant", "cosine")


# With a stop target (--stop-at-accuracy, --stop-at-loss) and no --epochs, the command line trains up to this
# many epochs: the target should end training, not the seed's 5-epoch default (its MNIST exercise expects
# 99% in "fewer than 9 epochs").
EPOCHS_WITH_TARGET = 10


@dataclass
class TrainConfig:
    """Everything that decides a training run. Unknown keys are an error in :meth:`from_dict`."""

    # data
    dataset: str = "fashion_mnist"  # or "mnist" (digits)
    data_dir: str | None = None  # folder with the four IDX files; None searches the usual places
    verify: bool = True  # check files against pinned SHA-256s; off only for your own data
    normalize: bool = True  # pixels / 255 -> float32 in [0, 1]; the seed shows the loss stays high without it
    validation_split: float = 0.0  # fraction of training images held out (seeded), 0 = none
    standardize: str = "none"  # "global" or "per-pixel": subtract the training split's mean, divide by its std
    # model
    model: str = "mlp"  # "mlp": the seed's dense network; "cnn": the course's Conv-Pool-Conv-Pool network
    hidden: tuple[int, ...] = (128,)  # Dense(relu) sizes; the seed uses one layer of 128 (the CNN's after its convolutions)
    dropout: float = 0.0  # rate of the Dropout after each hidden Dense layer (training only); 0 = none, as the seed
    # optimizer
    learning_rate: float = 0.001  # Adam's default, as in the seed; the peak rate of a schedule
    lr_schedule: str = "constant"  # or "cosine": linear warm-up to learning_rate, then cosine decay to 0 at the end
    warmup_epochs: float = 0.0  # epochs of linear warm-up (cosine schedule only)
    weight_decay: float = 0.0  # > 0: AdamW with this decoupled weight decay instead of Adam
    label_smoothing: float = 0.0  # > 0: targets (1 - s) on the true class, s / 10 spread over all classes
    epochs: int = 5  # the seed's choice; more epochs overfit, fewer underfit
    batch_size: int = 32  # Keras's default, as in the seed
    # stopping
    stop_at_accuracy: float | None = None  # the seed's callback: stop when training accuracy reaches this
    stop_at_loss: float | None = None  # stop when the training loss falls to this
    early_stopping: int | None = None  # stop after this many epochs without a lower validation loss; keeps the best weights
    restore_best: bool = False  # end with the weights of the epoch with the lowest validation loss (needs a validation split)
    # reproducibility and output
    seed: int = 0  # same seed + same config = same history
    run_dir: str | None = None  # None: runs/<time>-<name>
    runs_root: str = "runs"
    name: str | None = None  # None: derived from dataset, model and hidden sizes
    tensorboard: bool = True  # also write TensorBoard event files (run/tensorboard); off skips tensorboardX's import
    preset: str | None = None  # the named recipe (fashion_lab.presets) these values started from, for the record

    def __post_init__(self) -> None:
        from .dataset_specs import get_spec

        self.dataset = get_spec(self.dataset).name
        if isinstance(self.hidden, int):
            self.hidden = (self.hidden,)
        try:
            self.hidden = tuple(self.hidden)
        except TypeError:
            raise ConfigError(f"hidden must be a list of positive integers, got {self.hidden!r}.") from None
        if not self.hidden:
            raise ConfigError("hidden needs at least one layer size, for example --hidden 128.")
        for h in self.hidden:
            positive_int("each hidden size", h)
        positive_int("epochs", self.epochs)
        positive_int("batch size", self.batch_size)
        positive_number("learning rate", self.learning_rate, example="the seed uses 0.001")
        choice("model", self.model, MODELS, example="for example --model cnn")
        choice("standardize", self.standardize, STANDARDIZATIONS, example="for example --standardize global")
        choice("learning-rate schedule", self.lr_schedule, LR_SCHEDULES, example="for example --lr-schedule cosine")
        fraction("dropout", self.dropout, low_open=False, high_open=True, example="for example 0.3")
        fraction("label smoothing", self.label_smoothing, low_open=False, high_open=True, example="for example 0.1")
        non_negative_number("weight decay", self.weight_decay, example="for example 0.01 (0 = plain Adam)")
        non_negative_number("warm-up epochs", self.warmup_epochs, example="for example 1")
        if self.warmup_epochs and self.lr_schedule != "cosine":
            raise ConfigError(f"warm-up ({self.warmup_epochs:g} epochs) belongs to a schedule; add --lr-schedule cosine, "
                              f"or drop --warmup-epochs.")
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(f"warm-up must end before training does: {self.warmup_epochs:g} warm-up epochs of "
                              f"{self.epochs}; pass fewer --warmup-epochs or more --epochs.")
        if self.preset is not None and not (isinstance(self.preset, str) and self.preset):
            # which names exist is fashion_lab.presets' business (it resolves them); here it is only a record
            raise ConfigError(f"preset must be the name of a preset or None, got {self.preset!r}.")
        if self.stop_at_accuracy is not None:
            fraction("stop-at-accuracy target", self.stop_at_accuracy, low_open=True, high_open=False, example="for 60% pass 0.6")
        if self.stop_at_loss is not None:
            positive_number("stop-at-loss target", self.stop_at_loss, example="for example 0.3")
        if self.validation_split:
            fraction("validation split", self.validation_split, low_open=True, high_open=True, example="for 10% pass 0.1")
        if self.early_stopping is not None:
            positive_int("early-stopping patience", self.early_stopping)
        if self.keeps_best_epoch and not self.validation_split:
            flag = "--early-stopping" if self.early_stopping is not None else "--restore-best"
            raise ConfigError(f"{flag} watches the validation loss, so it needs a validation split; "
                              f"add --validation-split 0.1 (10% of the training images, seeded).")
        whole_number("seed", self.seed, below=MAX_SEED)
        if self.name is not None:
            safe_name("run name (--name)", self.name)

    @property
    def keeps_best_epoch(self) -> bool:
        """True when the run ends with its best epoch's weights (``early_stopping`` or ``restore_best``)."""
        return self.early_stopping is not None or self.restore_best

    @property
    def run_name(self) -> str:
        """A short name for the run: ``fashion_mnist-h128`` unless ``name`` is set."""
        kind = "cnn-" if self.model == "cnn" else ""
        return self.name or f"{self.dataset}-{kind}h{'x'.join(str(h) for h in self.hidden)}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict (e.g. a saved ``config.json``); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k not in _RETIRED}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; valid keys are: {', '.join(sorted(names))}.")
        return cls(**data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


# Settings that older runs saved and that no longer do anything: read and ignored.
_RETIRED = frozenset({"steps_per_execution"})  # the fast path runs a whole epoch per call whatever it said

__all__ = ["TrainConfig"]
