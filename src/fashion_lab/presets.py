"""Named training recipes: each a documented set of :class:`~fashion_lab.TrainConfig` values.

A preset only fills in values; every option given beside it wins, and the run's ``config.json`` records the
preset's name together with every resolved value, so a run says exactly what it trained with.
Recipes were chosen on the validation split (``--validation-split 0.1``); the test set was looked at once,
for the final numbers (``benchmarks/recipes.py``, README "Recipes").

Example:
    >>> config = resolve("best-mlp", epochs=3)
    >>> config.preset, config.hidden, config.epochs, config.dropout
    ('best-mlp', (1024, 512), 3, 0.3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import TrainConfig
from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    """A named recipe: what it is for, and the config values it sets."""

    summary: str
    settings: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "best-mlp": Preset(
        summary="the best dense-only network found within about two minutes of training on 2 cores: two "
                "hidden layers, dropout, standardized pixels, label smoothing, AdamW, cosine decay with warm-up "
                "(chosen on validation accuracy; README 'Recipes' has the measured numbers)",
        settings=dict(model="mlp", hidden=(1024, 512), dropout=0.3, standardize="global", label_smoothing=0.1,
                      weight_decay=0.01, lr_schedule="cosine", warmup_epochs=1.0, learning_rate=0.001,
                      batch_size=128, epochs=24),
    ),
    "cnn": Preset(
        summary="the course's convolutional network (Conv 64 3x3 -> MaxPool -> Conv 64 3x3 -> MaxPool -> "
                "Dense 128 -> Dense 10), Adam 0.001 and batch 32 as in the course, with best-mlp's regularisers "
                "(dropout after the dense layer, standardized pixels, label smoothing) and a cosine decay over 8 "
                "epochs (chosen on validation accuracy: the course's constant rate peaked at epoch 4 and then "
                "overfitted; README 'Recipes')",
        settings=dict(model="cnn", hidden=(128,), dropout=0.3, standardize="global", label_smoothing=0.1,
                      lr_schedule="cosine", learning_rate=0.001, batch_size=32, epochs=8),
    ),
}


def resolve(preset_name: str | None, /, **overrides: Any) -> TrainConfig:
    """The config of preset ``preset_name`` (None: the seed's defaults) with ``overrides`` applied over it.

    The preset's name is positional only, so ``name=`` (the run's folder name) is an override like any other.

    When ``epochs`` is overridden to no more than the preset's warm-up epochs (and ``warmup_epochs`` is not
    given), the warm-up keeps its share of the preset's run: ``best-mlp`` with ``epochs=1`` warms up for 1/24.

    Raises:
        ConfigError: ``preset_name`` is not a preset, or an override is not a config field or not valid.
    """
    settings: dict[str, Any] = {}
    if preset_name is not None:
        if preset_name not in PRESETS:
            raise ConfigError(f"unknown preset {preset_name!r}; choose one of: {', '.join(PRESETS)} "
                              f"(fashion-lab train --help describes them).")
        settings.update(PRESETS[preset_name].settings, preset=preset_name)
        preset = PRESETS[preset_name].settings
        if "epochs" in overrides and "warmup_epochs" not in overrides and preset.get("warmup_epochs", 0) >= overrides["epochs"]:
            # The preset's warm-up would not end before the shorter run does: keep its share of the run instead.
            settings["warmup_epochs"] = preset["warmup_epochs"] * overrides["epochs"] / preset["epochs"]
    settings.update(overrides)
    return TrainConfig.from_dict(settings)


def describe() -> str:
    """One paragraph per preset: its name, what it is, and the flags it stands for (for ``--help``)."""
    import textwrap

    lines = []
    for name, preset in PRESETS.items():
        flags = " ".join(_flag(key, value) for key, value in preset.settings.items())
        lines += textwrap.wrap(f"{name}: {preset.summary}.", 100, initial_indent="  ", subsequent_indent="    ")
        lines += textwrap.wrap(f"= {flags}", 100, initial_indent="    ", subsequent_indent="      ")
    return "\n".join(lines)


def _flag(key: str, value: Any) -> str:
    if isinstance(value, (tuple, list)):
        value = " ".join(str(v) for v in value)
    return f"--{key.replace('_', '-')} {value:g}" if isinstance(value, float) else f"--{key.replace('_', '-')} {value}"
