"""Every experiment, declared: its name, what it shows, its defaults and the options it takes.

An experiment's behaviour (``run`` and ``plot``) lives in the module of the same name in this package
(``layer-size`` -> :mod:`fashion_lab.experiments.layer_size`), imported only when it runs, so the command
line reads names and defaults from here without importing NumPy or Keras. Adding an experiment means
adding its module and one entry below.

Example:
    >>> get_experiment("callback").defaults["target"]
    0.85
    >>> get_experiment("layer_size")
    Traceback (most recent call last):
    ...
    fashion_lab.errors.ConfigError: unknown experiment 'layer_size'; choose one of: layer-size, epochs, normalization, no-flatten, callback, learning-rate, architectures.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError

LAYER_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # the seed's sizes and a few more, doubling
ARCHITECTURES = ("seed", "best-mlp", "cnn")  # compared in this order: the seed's recipe, then presets of those names


@dataclass(frozen=True)
class Experiment:
    """One experiment: its name, what it shows, its defaults and the options it takes (besides the shared ones).

    ``check(options, dataset, say)`` refuses, before anything is trained, options any of whose models cannot fit in
    memory; ``run(options, dataset, folder, say, verbose)`` trains and measures, returning the results' tables,
    analysis and findings; ``plot(data, folder)`` draws the PNGs from those results and returns
    ``{"file", "caption"}`` each.
    """

    name: str
    title: str
    summary: str
    defaults: dict[str, Any] = field(default_factory=dict)
    options: frozenset[str] = frozenset()

    @property
    def module(self) -> ModuleType:
        """The module that runs and draws this experiment."""
        return importlib.import_module(f"{__package__}.{self.name.replace('-', '_')}")

    def check(self, options, dataset, say) -> None:
        self.module.check(options, dataset, say)

    def run(self, options, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
        return self.module.run(options, dataset, folder, say, verbose)

    def plot(self, data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
        return self.module.plot(data, folder)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("layer-size", "Layer size: parameters, speed and accuracy",
               "how the size of the hidden layer changes the parameters, the time per epoch and the accuracy",
               {"hidden": LAYER_SIZES, "epochs": 5, "repeats": 1}, frozenset({"repeats", "predict", "one_by_one", "epochs"})),
    Experiment("epochs", "Epochs: when does the network start to overfit?",
               "train and validation loss per epoch, the best epoch and the train-validation gap",
               {"hidden": TrainConfig.hidden, "epochs": 30}, frozenset({"restore_best", "epochs"})),
    Experiment("normalization", "Normalization: pixels / 255 or raw 0-255",
               "the same model, seed and epochs with and without dividing pixels by 255",
               {"hidden": TrainConfig.hidden, "epochs": TrainConfig.epochs}, frozenset({"epochs"})),
    Experiment("no-flatten", "No Flatten: why the network needs a flat vector per image",
               "the seed's model without Flatten: its layer shapes, the real error of one training step, and why",
               {"hidden": TrainConfig.hidden}, frozenset()),
    Experiment("callback", "Callback: how long to reach a target accuracy",
               "epochs and seconds until the seed's callback stops training at a target accuracy",
               {"hidden": TrainConfig.hidden, "epochs": 20, "target": 0.85}, frozenset({"target", "epochs"})),
    Experiment("learning-rate", "Learning rate: the range test",
               "a short run with the learning rate rising from 1e-6 to 1, loss against rate, and a suggested rate",
               {"hidden": TrainConfig.hidden}, frozenset()),
    Experiment("architectures", "Architectures: the seed's network, the best MLP and the course's CNN",
               "the seed's network, best-mlp and cnn on the same split: parameters, time, accuracy, what each step "
               "bought and what it cost", {"architectures": ARCHITECTURES, "repeats": 1},
               frozenset({"architectures", "repeats", "epochs"})),
)}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name raises :class:`ConfigError` listing the valid ones."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


__all__ = ["ARCHITECTURES", "EXPERIMENTS", "LAYER_SIZES", "Experiment", "get_experiment"]
