"""The learning-rate range test: the schedule, the smoothing, the stop on explosion, the suggestion, the experiment."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from fashion_lab import build_model, lr_range
from fashion_lab.errors import ConfigError
from fashion_lab.lr_range import lr_range_test, suggest_rate
from helpers import synthetic_arrays


def test_docstring_examples_run():
    assert doctest.testmod(lr_range).failed == 0


def test_range_test_on_synthetic_data_leaves_the_model_alone():
    x, y = synthetic_arrays(600)
    x = x.astype(np.float32) / 255
    model = build_model(hidden=[16])
    before = [w.copy() for w in model.get_weights()]
    test = lr_range_test(model, x, y.astype(np.int32), steps=100, probe=256)
    assert len(test.rates) == len(test.losses) == len(test.smoothed) <= 100
    assert np.all(np.diff(test.rates) > 0) and test.rates[0] == pytest.approx(1e-6)
    assert test.stopped in ("diverged", "end") and test.losses.min() < test.losses[0] - 1  # it learned
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_suggestion_rules_and_errors():
    rates = np.geomspace(1e-6, 1, 61)
    curve = 2.3 - 1.5 / (1 + np.exp(-(np.log10(rates) + 4) * 3))  # falls around 1e-4, then flat
    out = suggest_rate(rates, curve)
    assert out["rule"] == "end of the fall" and 1e-4 < out["rate"] < 1e-3
    assert out["steepest_rate"] == pytest.approx(1e-4, rel=0.3)
    with pytest.raises(ConfigError, match="never fell"):
        suggest_rate(rates, np.linspace(1, 2, 61))
    with pytest.raises(ConfigError, match="rise from start to end"):
        lr_range_test(build_model(), np.zeros((64, 28, 28), np.float32), np.zeros(64, np.int32), start=1.0, end=1e-3)


@pytest.mark.real_data
def test_experiment_suggests_about_adams_default_on_the_real_data(tmp_path):
    from fashion_lab.cli import main

    assert main(["experiment", "learning-rate", "--out", str(tmp_path / "lr"), "--quiet"]) == 0
    data = json.loads((tmp_path / "lr" / "results.json").read_text())
    rate = data["analysis"]["suggestion"]["rate"]
    assert 1e-3 / 3 <= rate <= 3e-3, rate
    assert data["analysis"]["stopped"] == "diverged" and (tmp_path / "lr" / "learning_rate.png").is_file()
    assert any("within a factor of 3" in f for f in data["findings"])
    (tmp_path / "lr" / "learning_rate.png").unlink()
    assert main(["report", str(tmp_path / "lr")]) == 0  # everything is drawn again from results.json
    assert (tmp_path / "lr" / "learning_rate.png").is_file() and "Rates read off the curve" in (
        tmp_path / "lr" / "report.html").read_text()
