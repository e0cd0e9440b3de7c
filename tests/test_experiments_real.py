"""Experiments on the real Fashion-MNIST: short, and only what synthetic data cannot show."""

from __future__ import annotations

import pytest

from fashion_lab.experiments import ExperimentOptions, run_experiment

pytestmark = pytest.mark.real_data


def test_bigger_layers_have_more_params_and_slower_epochs(tmp_path):
    result = run_experiment("layer-size", ExperimentOptions(hidden=(16, 512), epochs=2), out=tmp_path / "ls", verbose=False)
    small, big = result.rows
    assert big["params"] > small["params"]
    assert big["seconds_per_epoch"] > small["seconds_per_epoch"]  # about 6x on 2 cores: safe from noise
    assert small["validation_accuracy"] > 0.8 and big["validation_accuracy"] > 0.8
    assert result.data["dataset"] == {**result.data["dataset"], "train": 54000, "validation": 6000, "test": 10000}
    assert result.data["analysis"]["cost_model"]["per_param"] > 0


def test_no_flatten_fails_on_the_real_images(tmp_path):
    result = run_experiment("no-flatten", out=tmp_path / "nf", verbose=False)
    assert result.data["analysis"]["output_shape"] == "(None, 28, 10)"
    assert result.data["analysis"]["error"] is not None
