"""Experiments on the real Fashion-MNIST: short, and only what synthetic data cannot show."""

from __future__ import annotations

import pytest

from fashion_lab.experiments import ExperimentOptions, run_experiment

pytestmark = pytest.mark.real_data


def test_layer_size_on_real_images(tmp_path):
    # Epoch times are reported, not asserted (timings are noisy; the benchmark measures speed).
    result = run_experiment("layer-size", ExperimentOptions(hidden=(16, 512), epochs=2), out=tmp_path / "ls", verbose=False)
    small, big = result.rows
    assert big["params"] > small["params"]
    assert big["seconds_per_epoch"] > 0 and small["seconds_per_epoch"] > 0
    assert small["validation_accuracy"] > 0.8 and big["validation_accuracy"] > 0.8
    assert result.data["dataset"] == {**result.data["dataset"], "train": 54000, "validation": 6000, "test": 10000}
    assert result.data["analysis"]["cost_model"] is None  # two sizes: too few to fit a line that means anything
    assert any("too few sizes to fit a cost model" in f for f in result.findings)


def test_no_flatten_fails_on_the_real_images(tmp_path):
    result = run_experiment("no-flatten", out=tmp_path / "nf", verbose=False)
    assert result.data["analysis"]["output_shape"] == "(None, 28, 10)"
    assert result.data["analysis"]["error"] is not None
