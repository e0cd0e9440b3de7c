"""Learning rate: Smith's range test on the seed's network, and the rate it suggests beside the one configured.

Run it: ``fashion-lab experiment learning-rate`` (the core is :func:`fashion_lab.lr_range.lr_range_test`).
The test trains only on the training part of the split; nothing is chosen on the test set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import lr_range
from .measure import check_configs, clear_keras
from .options import ExperimentOptions
from .tables import column, table


def learning_rate_findings(suggestion: dict[str, Any], configured: float, stopped: str, steps_run: int,
                           steps: int, last_rate: float) -> list[str]:
    """Findings of the range test: the suggested rate and why, how it compares with ``configured``, the other rules.

    Example:
        >>> s = {"rate": 0.001, "rule": "end of the fall", "reason": "r", "minimum_rate": 0.01, "minimum_loss": 0.8,
        ...      "minimum_over_10": 0.001, "steepest_rate": 0.0003, "first_loss": 2.4}
        >>> learning_rate_findings(s, 0.001, "diverged", 250, 300, 0.05)[1]
        'That is 1.00 times the configured learning rate 0.001 (within a factor of 3 of it).'
    """
    rate, ratio = suggestion["rate"], suggestion["rate"] / configured
    near = "within" if 1 / 3 <= ratio <= 3 else "not within"
    findings = [f"Suggested learning rate: {rate:.2g} (rule: {suggestion['rule']}): {suggestion['reason']}.",
                f"That is {ratio:.2f} times the configured learning rate {configured:g} ({near} a factor of 3 of it).",
                f"Other rules on the same curve: a tenth of the rate at the minimum is {suggestion['minimum_over_10']:.2g}; "
                f"the steepest descent is at {suggestion['steepest_rate']:.2g}."]
    if stopped == "diverged":
        findings.append(f"The loss exploded after rate {last_rate:.2g} (step {steps_run} of {steps}), where the test stopped.")
    else:
        findings.append(f"The loss did not explode up to the last rate {last_rate:.2g}: all {steps} steps ran.")
    findings.append("The test trains and measures on the training part of the split only; no validation or test "
                    "image is used, so choosing the rate from it leaves both untouched.")
    return findings


def check(opts: ExperimentOptions, dataset, say) -> None:
    """Refuse a network too big for the memory before it is built. The test holds what a training run holds (the
    network, Adam's slots, the training images), so the training run's estimate bounds it."""
    check_configs([opts.train_config()], dataset)


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    from .._backend import keras
    from ..model import build_model
    from ..preprocess import prepare_images
    from ..training import split_validation

    config = opts.train_config()
    (x, y), _ = split_validation(prepare_images(dataset.x_train, normalized=config.normalize),
                                 dataset.y_train.astype(np.int32), config.validation_split, config.seed)
    clear_keras()
    keras().utils.set_random_seed(config.seed)
    model = build_model(hidden=config.hidden, learning_rate=config.learning_rate)
    test = lr_range.lr_range_test(model, x, y, batch_size=config.batch_size, seed=config.seed)
    suggestion = lr_range.suggest_rate(test.rates, test.smoothed)
    steps = test.settings["steps"]
    say(f"  {len(test.losses)} of {steps} steps ({test.stopped}); suggested rate {suggestion['rate']:.2g}")
    rows = [{"step": i + 1, "rate": float(r), "loss": float(l), "smoothed": float(s)}
            for i, (r, l, s) in enumerate(zip(test.rates, test.losses, test.smoothed))]
    rules = [{"rule": "end of the fall (suggested)", "rate": suggestion["rate"]},
             {"rule": "minimum / 10", "rate": suggestion["minimum_over_10"]},
             {"rule": "steepest descent", "rate": suggestion["steepest_rate"]},
             {"rule": "configured (--learning-rate)", "rate": config.learning_rate}]
    for r in rules:
        r["times_configured"] = r["rate"] / config.learning_rate
    return {
        "tables": [table("results", "Rates read off the curve", [
                       column("rule", "rule", "text"), column("rate", "learning rate", "auto"),
                       column("times_configured", "times the configured rate", "f2")], rules,
                       "The suggestion is the smallest rate at which the smoothed loss has made 90% of its fall from the "
                       "first step to its minimum."),
                   table("steps", "Loss per step", [
                       column("step", "step", "int"), column("rate", "learning rate", "auto"),
                       column("loss", "loss", "f4", "train"), column("smoothed", "smoothed loss", "f4", "train")], rows,
                       f"Loss measured after each step on {test.settings['probe']:,} fixed training images; smoothed "
                       f"with a centred Gaussian of {test.settings['curve_sigma_decades']} decades of rate.")],
        "analysis": {"suggestion": suggestion, "stopped": test.stopped, "steps_run": len(test.losses),
                     "settings": test.settings, "configured_learning_rate": config.learning_rate, "params": model.count_params()},
        "findings": learning_rate_findings(suggestion, config.learning_rate, test.stopped, len(test.losses), steps,
                                           float(test.rates[-1])),
    }


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_lr_range

    steps = data["tables"][1]["rows"]
    s = data["analysis"]["suggestion"]
    plot_lr_range([r["rate"] for r in steps], [r["loss"] for r in steps], [r["smoothed"] for r in steps],
                  folder / "learning_rate.png",
                  marks=[(s["rate"], f"suggested {s['rate']:.2g} ({s['rule']})"),
                         (s["minimum_rate"], f"minimum of the smoothed loss {s['minimum_rate']:.2g}"),
                         (s["steepest_rate"], f"steepest descent {s['steepest_rate']:.2g}"),
                         (data["analysis"]["configured_learning_rate"],
                          f"configured {data['analysis']['configured_learning_rate']:g}")],
                  title="learning-rate range test: loss against a rate rising every step")
    return [{"file": "learning_rate.png",
             "caption": "Loss after each step (grey) and smoothed (blue) against the learning rate, log scale; "
                        "the vertical lines mark the suggested rate, the minimum, the steepest descent and the configured rate."}]


__all__ = ["check", "learning_rate_findings", "plot", "run"]
