"""Findings say only what the run measured (issue 10, item 6): the exact cases a new user hit, as pure functions,
and one experiment end to end on the synthetic data."""

from __future__ import annotations

import json

import pytest

from fashion_lab.cli import main
from fashion_lab.experiments import dense_params, epochs_findings, layer_size_analysis, layer_size_findings
from fashion_lab.report import run_findings


def _rows(sizes, later, accuracy, first=None):
    """Per-size summary rows as the layer-size experiment makes them; ``later`` None means one epoch per size."""
    rows = []
    for i, h in enumerate(sizes):
        rows.append({"hidden": h, "params": dense_params([h]),
                     "first_epoch_seconds": first[i] if first else 6.83,
                     "seconds_per_epoch": None if later is None else later[i],
                     "samples_per_second": None if later is None else 54000 / later[i],
                     "train_accuracy": accuracy[i] + 0.02, "validation_accuracy": accuracy[i], "test_accuracy": accuracy[i]})
    return rows


def _layer_size(rows):
    return " ".join(layer_size_findings(rows, layer_size_analysis(rows)))


# ---- layer size ---------------------------------------------------------------------------------


def test_one_epoch_has_no_later_epoch_and_no_cost_model():
    # experiment layer-size --hidden 32 128 --epochs 1: said "first epoch 6.83s, then 6.83s/epoch", fitted a line
    # through two points (R² 1.000) and called the fixed overhead dominant.
    rows = _rows((32, 128), None, (0.83, 0.84), first=(6.83, 7.10))
    analysis = layer_size_analysis(rows)
    text = _layer_size(rows)
    assert analysis["cost_model"] is None and analysis["accuracy_trend"] is None
    assert "only one epoch" in text and "no later epoch" in text
    assert "6.83 s" in text and "7.10 s" in text  # the first epochs, as measured
    assert "each later epoch" not in text and "after the first" not in text
    assert "R²" not in text and "dominates" not in text and "diminishing" not in text


def test_two_sizes_are_too_few_to_fit():
    rows = _rows((32, 128), (0.90, 0.85), (0.83, 0.84))
    analysis = layer_size_analysis(rows)
    text = _layer_size(rows)
    assert analysis["cost_model"] is None and analysis["accuracy_trend"] is None
    assert "too few sizes to fit a cost model" in text and "at least 3 sizes" in text and "this run has 2" in text
    assert "R²" not in text and "dominates" not in text and "diminishing" not in text


def test_negative_cost_per_parameter_is_noise_not_overhead():
    rows = _rows((32, 128, 512), (0.95, 0.90, 0.88), (0.83, 0.85, 0.86))
    analysis = layer_size_analysis(rows, predict=[2048])
    text = _layer_size(rows)
    assert analysis["cost_model"]["per_param"] < 0
    assert "negative" in text and "noise" in text
    assert "overhead dominates" not in text and "is small next to the weights" not in text
    findings = layer_size_findings(rows, analysis)
    assert not any("s per epoch" in f and f.startswith("Predicted for 2048") for f in findings)  # no time from it


def test_positive_cost_keeps_the_overhead_reading():
    rows = _rows((32, 128, 512), (0.50, 0.60, 1.00), (0.83, 0.85, 0.86))
    text = _layer_size(rows)
    assert "Cost model (least squares over 3 sizes, R² = " in text and "noise" not in text


def test_diminishing_returns_only_when_gains_shrink_and_cost_rises():
    # Gains per doubling: 32 -> 128 +0.02 (0.01 per doubling), 128 -> 512 +0.004 (0.002 per doubling).
    rows = _rows((32, 128, 512), (0.50, 0.60, 1.00), (0.83, 0.85, 0.854))
    text = _layer_size(rows)
    assert "0.0100 per doubling from 32 to 128 units" in text and "0.0020 per doubling from 128 to 512 units" in text
    assert "returns diminish" in text and "rose from 0.50 s to 1.00 s" in text


def test_no_higher_cost_when_the_cost_went_down():
    # The new user's case: gains shrink but the time per epoch fell: no "much higher cost".
    rows = _rows((32, 128, 512), (0.95, 0.90, 0.88), (0.83, 0.85, 0.854))
    text = _layer_size(rows)
    assert "higher cost" not in text and "did not rise" in text and "0.95 s" in text and "0.88 s" in text


@pytest.mark.parametrize("accuracy", [(0.80, 0.81, 0.85), (0.8520, 0.8598, 0.8677)], ids=["growing", "same-gains"])
def test_returns_that_do_not_diminish_are_not_called_diminishing(accuracy):
    # same-gains: a real run's +0.0039 and +0.0039 per doubling (32, 128, 512 units, 2 epochs).
    text = _layer_size(_rows((32, 128, 512), (0.50, 0.60, 1.00), accuracy))
    assert "returns do not diminish" in text and "returns diminish" not in text


# ---- epochs -------------------------------------------------------------------------------------


def _history(val_loss):
    n = len(val_loss)
    return {"loss": [0.6 - 0.05 * i for i in range(n)], "val_loss": val_loss,
            "accuracy": [0.80 + 0.01 * i for i in range(n)], "val_accuracy": [0.80 + 0.005 * i for i in range(n)]}


def test_one_epoch_after_the_minimum_is_too_few_to_call_overfitting():
    # experiment epochs --epochs 6 said "overfits from epoch 6" from the sixth epoch alone.
    text = " ".join(epochs_findings(_history([0.50, 0.45, 0.42, 0.40, 0.38, 0.41])))
    assert "overfits from" not in text
    assert "too few epochs after the minimum to tell" in text and "epoch 5 of 6" in text


def test_overfitting_needs_two_epochs_above_the_minimum():
    text = " ".join(epochs_findings(_history([0.50, 0.40, 0.38, 0.41, 0.45, 0.47])))
    assert "overfits from epoch 4" in text and "0.3800 (epoch 3)" in text and "0.4700 at epoch 6" in text


def test_no_sign_of_overfitting_while_validation_loss_falls():
    text = " ".join(epochs_findings(_history([0.50, 0.45, 0.42, 0.40, 0.38, 0.37])))
    assert "no sign of overfitting within 6 epochs" in text


def test_a_dip_that_comes_back_is_not_overfitting():
    text = " ".join(epochs_findings(_history([0.50, 0.40, 0.38, 0.45, 0.385, 0.383])))
    assert "overfits from" not in text and "no sign of overfitting within 6 epochs" in text


# ---- a single run ------------------------------------------------------------------------------


_METRICS = {"epochs_run": 3, "fit_seconds": 2.0, "samples_per_second": 150000.0, "train_accuracy": 0.86,
            "test_accuracy": 0.84, "validation_accuracy": 0.85, "stopped_early": True}


def test_run_stopped_early_names_the_rule_that_stopped_it():
    config = {"epochs": 10, "stop_at_accuracy": 0.85, "early_stopping": 3}
    history = {"accuracy": [0.80, 0.83, 0.86], "val_loss": [0.5, 0.45, 0.44]}
    text = " ".join(run_findings(_METRICS, history, config))
    assert "after 3 of 10 epochs, when training accuracy reached 0.85" in text and "had not improved" not in text


def test_run_of_one_epoch_does_not_name_a_best_epoch():
    metrics = {**_METRICS, "epochs_run": 1, "stopped_early": False, "best_epoch": 1}
    text = " ".join(run_findings(metrics, {"val_loss": [0.5]}, {"epochs": 1}))
    assert "lowest validation loss" not in text and "Validation accuracy is 0.8500" in text


# ---- end to end ---------------------------------------------------------------------------------


def test_layer_size_one_epoch_end_to_end(synthetic_fashion, tmp_path, capsys):
    out = tmp_path / "ls"
    assert main(["experiment", "layer-size", "--hidden", "8", "32", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    sizes = [line for line in printed.splitlines() if line.startswith("  hidden")]
    assert len(sizes) == 2 and all("no later epoch" in line and "s/epoch" not in line for line in sizes)
    data = json.loads((out / "results.json").read_text())
    text = " ".join(data["findings"])
    assert "no later epoch" in text and "too few sizes to fit a cost model" in text and "R²" not in text
    assert all(r["seconds_per_epoch"] is None for r in data["tables"][0]["rows"])
    for row in data["tables"][0]["rows"]:
        assert f"{row['first_epoch_seconds']:.2f} s" in text


def test_time_plot_draws_no_later_epochs_line_without_later_epochs(tmp_path, monkeypatch):
    from fashion_lab import plots

    labels = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: labels.append(fig.axes[0].get_legend_handles_labels()[1]))
    plots.plot_layer_size_time(_rows((32, 128), None, (0.83, 0.84)), tmp_path / "t.png")
    plots.plot_layer_size_time(_rows((32, 128), (0.9, 1.0), (0.83, 0.84)), tmp_path / "t.png")
    assert labels == [["first epoch (with compilation)"], ["later epochs (mean)", "first epoch (with compilation)"]]


# ---- callback and normalization ---------------------------------------------------------------------


def test_callback_blames_compilation_only_when_the_first_epoch_was_slower():
    from fashion_lab.experiments import callback_findings

    rows = [{"epoch": 1, "accuracy": 0.80, "elapsed_seconds": 1.0}, {"epoch": 2, "accuracy": 0.82, "elapsed_seconds": 3.0},
            {"epoch": 3, "accuracy": 0.86, "elapsed_seconds": 5.0}]
    text = " ".join(callback_findings(rows, 0.85, 20))
    assert "because it includes compiling" not in text and "1.00 s" in text and "2.00 s" in text


def test_normalization_says_how_much_worse_not_far_worse():
    from fashion_lab.experiments import normalization_findings

    rows = [{"normalize": True, "train_loss": 0.30, "validation_loss": 0.33, "validation_accuracy": 0.88,
             "test_accuracy": 0.87}, {"normalize": False, "train_loss": 0.315, "validation_loss": 0.34,
                                      "validation_accuracy": 0.875, "test_accuracy": 0.865}]
    text = " ".join(normalization_findings(rows))
    assert "far less" not in text and "for free" not in text and "1.05 times as high" in text
