"""Experiments on tiny synthetic data: result tables, the cost model, findings, and the files each writes."""

from __future__ import annotations

import csv
import json
import math

import pytest

from fashion_lab.errors import ConfigError, RunError
from fashion_lab.experiments import (
    EXPERIMENTS,
    ExperimentOptions,
    dense_params,
    epochs_findings,
    fit_accuracy_trend,
    fit_cost_model,
    first_overfit_epoch,
    layer_size_analysis,
    layer_size_findings,
    predict_seconds,
    run_experiment,
    summarize_by,
)


# ---- pure pieces: parameter counts, least squares, summaries -------------------------------------


@pytest.mark.parametrize("hidden, expected", [((16,), 12730), ((128,), 101770), ((1024,), 814090), ((512, 256), 535818)],
                         ids=["16", "128", "1024", "512-256"])
def test_dense_params_matches_keras_formula(hidden, expected):
    assert dense_params(hidden) == expected


def test_cost_model_recovers_a_known_line():
    params = [dense_params([h]) for h in (16, 64, 256, 1024)]
    seconds = [0.15 + 1.3e-6 * p for p in params]
    model = fit_cost_model(params, seconds)
    assert model["fixed"] == pytest.approx(0.15)
    assert model["per_million_params"] == pytest.approx(1.3)
    assert model["r2"] == pytest.approx(1.0)
    assert predict_seconds(model, 2_000_000) == pytest.approx(0.15 + 2.6)


def test_cost_model_is_least_squares_with_noise():
    params = [0.0, 1.0, 2.0, 3.0]
    seconds = [1.1, 1.9, 3.2, 3.8]  # numpy.polyfit gives slope 0.94, intercept 1.09
    model = fit_cost_model(params, seconds)
    assert model["per_param"] == pytest.approx(0.94)
    assert model["fixed"] == pytest.approx(1.09)
    assert 0.9 < model["r2"] < 1.0


def test_cost_model_needs_two_sizes():
    with pytest.raises(ConfigError, match="two different"):
        fit_cost_model([100, 100], [0.1, 0.2])


def test_accuracy_trend_is_per_doubling():
    trend = fit_accuracy_trend([16, 32, 64, 128], [0.80, 0.81, 0.82, 0.83])
    assert trend["per_doubling"] == pytest.approx(0.01)


def _synthetic_summary(sizes=(16, 64, 256, 1024)):
    rows = []
    for h in sizes:
        p = dense_params([h])
        rows.append({"hidden": h, "params": p, "seconds_per_epoch": 0.2 + 1e-6 * p, "first_epoch_seconds": 3.0,
                     "validation_accuracy": 0.80 + 0.01 * math.log2(h / 16), "test_accuracy": 0.79,
                     "train_accuracy": 0.85})
    return rows


def test_prediction_of_a_measured_size_leaves_it_out_of_the_fit():
    rows = _synthetic_summary()
    rows[2]["seconds_per_epoch"] = 9.0  # a wild measurement at 256 must not feed its own prediction
    analysis = layer_size_analysis(rows, predict=[256, 2048])
    p256, p2048 = analysis["predictions"]
    assert p256["fitted_on"] == [16, 64, 1024]
    assert p256["predicted_seconds_per_epoch"] == pytest.approx(0.2 + 1e-6 * dense_params([256]))
    assert p256["measured_seconds_per_epoch"] == 9.0
    assert p2048["measured_seconds_per_epoch"] is None
    assert p2048["predicted_validation_accuracy"] == pytest.approx(0.87)
    findings = layer_size_findings(rows, analysis)
    assert any("Predicted for 2048 units" in f and "extrapolation" in f for f in findings)
    assert any("measured 9.00 s" in f for f in findings)


def test_summarize_by_gives_mean_and_std():
    rows = [{"hidden": 16, "acc": 0.8}, {"hidden": 16, "acc": 0.9}, {"hidden": 32, "acc": 0.85}]
    a, b = summarize_by(rows, "hidden", ["acc"])
    assert (a["hidden"], a["repeats"], b["repeats"]) == (16, 2, 1)
    assert a["acc"] == pytest.approx(0.85) and a["acc_std"] == pytest.approx(0.0707107, rel=1e-5)
    assert b["acc_std"] == 0.0


@pytest.mark.parametrize("val_loss, expected", [
    ([0.5, 0.4, 0.3], (3, None)),
    ([0.5, 0.4, 0.405, 0.45, 0.5], (2, 4)),
    ([0.5, 0.4, 0.405, 0.404], (2, None)),  # within the 2% tolerance: not (yet) overfitting
], ids=["falling", "rising", "flat"])
def test_first_overfit_epoch(val_loss, expected):
    assert first_overfit_epoch(val_loss) == expected


def test_epochs_findings_say_whether_it_overfits():
    falling = {"loss": [0.5, 0.4], "val_loss": [0.5, 0.45], "accuracy": [0.8, 0.85], "val_accuracy": [0.8, 0.82]}
    assert "no sign of overfitting within 2 epochs" in epochs_findings(falling)[2]


# ---- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs, message", [
    ("epochs", {"predict": (2048,)}, "--predict does not apply to the epochs experiment; it is used by: layer-size"),
    ("layer-size", {"restore_best": True}, "--restore-best does not apply"),
    ("normalization", {"target": 0.9}, "--target does not apply"),
    ("no-flatten", {"epochs": 3}, "--epochs does not apply"),
    ("callback", {"repeats": 2}, "--repeats does not apply"),
    ("epochs", {"together": False}, "--one-by-one does not apply to the epochs experiment; it is used by: layer-size"),
], ids=["predict", "restore-best", "target", "epochs", "repeats", "one-by-one"])
def test_options_an_experiment_does_not_use_are_refused(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentOptions(**kwargs).resolved(name)


def test_defaults_are_the_experiments_own():
    assert ExperimentOptions().resolved("layer-size").hidden == (16, 32, 64, 128, 256, 512, 1024)
    assert ExperimentOptions().resolved("epochs").epochs == 30
    assert ExperimentOptions().resolved("callback").target == 0.85
    assert ExperimentOptions().resolved("layer-size").validation_split == 0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"validation_split": 0.0}, "validation split"), ({"hidden": (0,)}, "hidden size"),
    ({"target": 1.5}, "target accuracy"), ({"predict": (-1,)}, "--predict"), ({"dataset": "fmnist"}, "unknown dataset"),
], ids=["split", "hidden", "target", "predict", "dataset"])
def test_bad_options_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentOptions(**kwargs)


def test_unknown_experiment_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="choose one of: layer-size, epochs, normalization, no-flatten, callback"):
        run_experiment("layer_size", out=tmp_path / "x", verbose=False)


# ---- whole experiments on synthetic data ---------------------------------------------------------


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_layer_size_writes_table_plots_and_report(tmp_path, synthetic_fashion):
    out = tmp_path / "ls"
    result = run_experiment("layer-size", ExperimentOptions(hidden=(8, 16, 32), epochs=2, repeats=2, predict=(32, 64)),
                            out=out, verbose=False)
    assert result.dir == out
    for name in ("results.json", "results.csv", "runs.csv", "predictions.csv", "accuracy_vs_size.png",
                 "time_vs_size.png", "report.html"):
        assert (out / name).is_file(), name
    rows = _read_csv(out / "results.csv")
    assert [int(r["hidden"]) for r in rows] == [8, 16, 32]
    assert [int(r["params"]) for r in rows] == [dense_params([8]), dense_params([16]), dense_params([32])]
    for key in ("first_epoch_seconds", "seconds_per_epoch", "samples_per_second", "train_accuracy",
                "validation_accuracy", "test_accuracy", "validation_accuracy_std"):
        assert key in rows[0], key
    every = _read_csv(out / "runs.csv")
    assert len(every) == 6  # 3 sizes x 2 seeds
    # A size's first epoch (with compilation) is its first seed's: later seeds reuse that compiled step.
    first_seed = {r["hidden"]: r["first_epoch_seconds"] for r in every if r["seed"] == "0"}
    assert {r["hidden"]: r["first_epoch_seconds"] for r in rows} == first_seed
    data = json.loads((out / "results.json").read_text())
    assert data["analysis"]["cost_model"]["points"] == 3
    assert [p["hidden"] for p in data["analysis"]["predictions"]] == [64]  # 32 left out leaves two sizes: no fit
    assert data["analysis"]["unpredicted"] == [32]
    assert any(f.startswith("No prediction for 32 units") for f in data["findings"])
    assert data["dataset"]["validation"] == 60 and data["dataset"]["train"] == 540
    assert (out / "runs" / "h8-seed0" / "metrics.json").is_file()
    page = (out / "report.html").read_text()
    assert "validation accuracy" in page and "test accuracy (reported only)" in page
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page and "http" not in page


def test_layer_size_repeats_together_equal_one_by_one(tmp_path, synthetic_fashion, monkeypatch):
    """A size's seeds trained together (the default where stacking pays) are the same models as one after
    another; only the time figures change meaning (per model, amortised), and the report says so."""
    from fashion_lab import training

    monkeypatch.setattr(training, "stacking_pays", lambda: True)  # as on an accelerator
    options = ExperimentOptions(hidden=(8,), epochs=2, repeats=2)
    together = run_experiment("layer-size", options, out=tmp_path / "together", verbose=False)
    alone = run_experiment("layer-size", ExperimentOptions(hidden=(8,), epochs=2, repeats=2, together=False),
                           out=tmp_path / "alone", verbose=False)
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
        assert [r[key] for r in together.data["tables"][1]["rows"]] == \
            pytest.approx([r[key] for r in alone.data["tables"][1]["rows"]], rel=1e-5), key
    assert "trained together" in together.data["tables"][0]["note"] and "--one-by-one" in together.data["tables"][0]["note"]
    assert "trained together" not in alone.data["tables"][0]["note"]
    metrics = json.loads((tmp_path / "together" / "runs" / "h8-seed1" / "metrics.json").read_text())
    assert metrics["trained_together"] == 2
    assert "trained_together" not in json.loads((tmp_path / "alone" / "runs" / "h8-seed1" / "metrics.json").read_text())


def test_epochs_with_restore_best(tmp_path, synthetic_fashion, capsys):
    result = run_experiment("epochs", ExperimentOptions(epochs=4, restore_best=True), out=tmp_path / "ep", verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("data: ")] == [  # once (it was printed twice)
        f"data: fashion_mnist from system package {synthetic_fashion.system_dirs[0]}; writing {tmp_path / 'ep'}"]
    assert sum(line.startswith("epoch ") for line in lines) == 4
    rows = result.rows
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    best = result.data["analysis"]["best_epoch"]
    assert best == 1 + min(range(4), key=lambda i: rows[i]["val_loss"])
    assert result.data["analysis"]["restored_epoch"] == best
    metrics = json.loads((tmp_path / "ep" / "runs" / "epochs4" / "metrics.json").read_text())
    assert metrics["restored_best"] is True and metrics["best_epoch"] == best
    assert any(f"epoch {best}" in f for f in result.findings)
    assert (tmp_path / "ep" / "curves.png").is_file()


def test_normalization_compares_both(tmp_path, synthetic_fashion):
    result = run_experiment("normalization", ExperimentOptions(epochs=2), out=tmp_path / "n", verbose=False)
    assert [r["normalize"] for r in result.rows] == [True, False]
    ratio = result.data["analysis"]["train_loss_ratio"]
    assert ratio == pytest.approx(result.rows[1]["train_loss"] / result.rows[0]["train_loss"])
    assert len(_read_csv(tmp_path / "n" / "epochs.csv")) == 2
    assert (tmp_path / "n" / "normalization.png").is_file()


def test_no_flatten_reproduces_the_error(tmp_path, synthetic_fashion, capsys):
    result = run_experiment("no-flatten", out=tmp_path / "nf", verbose=True)
    analysis = result.data["analysis"]
    assert analysis["output_shape"] == "(None, 28, 10)"
    assert analysis["labels_shape"] == "(None,)"
    assert analysis["error"] is not None and analysis["error"]["type"]
    shapes = {(r["model"], r["layer"]): r["output_shape"] for r in result.rows}
    assert shapes[("without Flatten", "hidden_1")] == "(None, 28, 128)"
    assert shapes[("with Flatten", "flatten")] == "(None, 784)"
    assert "error, as expected" in capsys.readouterr().out
    assert "flat vector" in (tmp_path / "nf" / "report.html").read_text()


def test_callback_records_the_stop(tmp_path, synthetic_fashion, capsys):
    result = run_experiment("callback", ExperimentOptions(target=0.3, epochs=6), out=tmp_path / "cb", verbose=True)
    lines = capsys.readouterr().out.splitlines()
    epochs = [i for i, line in enumerate(lines) if line.startswith("epoch ")]
    stops = [i for i, line in enumerate(lines) if line.startswith("Reached 30% accuracy so cancelling training!")]
    # The seed's message comes once, right after the line of the epoch that reached the target (it came first).
    assert len(epochs) == len(result.rows) and stops == [epochs[-1] + 1]
    analysis = result.data["analysis"]
    assert analysis["reached"] and analysis["stopped_early"] and analysis["epochs_run"] == analysis["epochs_to_target"]
    assert analysis["seconds_to_target"] == pytest.approx(sum(r["epoch_seconds"] for r in result.rows))
    assert result.rows[-1]["reached"] and not any(r["reached"] for r in result.rows[:-1])


def test_out_folder_with_files_is_refused(tmp_path, synthetic_fashion):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="--out"):
        run_experiment("no-flatten", out=tmp_path / "busy", verbose=False)


def test_interrupted_experiment_leaves_no_folder(tmp_path, synthetic_fashion, monkeypatch):
    from fashion_lab.experiments import measure

    real = measure.train_many
    calls = []

    def second_model_interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(measure, "train_many", second_model_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("layer-size", ExperimentOptions(hidden=(8, 16), epochs=1), out=tmp_path / "ls", verbose=False)
    assert len(calls) == 2 and not (tmp_path / "ls").exists()


def test_ctrl_c_in_an_experiment_says_to_run_it_again(tmp_path, synthetic_fashion, monkeypatch):
    from fashion_lab.errors import TrainingInterrupted
    from fashion_lab.experiments import measure

    def interrupted(*args, **kwargs):
        raise TrainingInterrupted("training interrupted; Continue with: fashion-lab train --resume somewhere")

    monkeypatch.setattr(measure, "train_many", interrupted)
    with pytest.raises(TrainingInterrupted, match="experiment layer-size interrupted.*Run it again") as e:
        run_experiment("layer-size", ExperimentOptions(hidden=(8,), epochs=1), out=tmp_path / "ls", verbose=False)
    assert "--resume" not in str(e.value)


def test_duplicate_sizes_are_refused():
    with pytest.raises(ConfigError, match="lists a size twice.*--repeats"):
        ExperimentOptions(hidden=(32, 32))


def test_overwrite_reruns_into_the_same_folder(tmp_path, synthetic_fashion):
    out = tmp_path / "ls"
    run_experiment("layer-size", ExperimentOptions(hidden=(8,), epochs=1, repeats=2), out=out, verbose=False)
    assert (out / "runs.csv").is_file()
    run_experiment("layer-size", ExperimentOptions(hidden=(8, 32), epochs=1), out=out, overwrite=True, verbose=False)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["h32-seed0", "h8-seed0"]
    assert not (out / "runs.csv").exists()  # nothing stale from the first experiment


def test_default_folder_is_time_and_name(tmp_path, synthetic_fashion):
    result = run_experiment("no-flatten", root=str(tmp_path / "experiments"), verbose=False)
    assert result.dir.parent == tmp_path / "experiments" and result.dir.name.endswith("-no-flatten")


def test_every_experiment_is_registered():
    assert list(EXPERIMENTS) == ["layer-size", "epochs", "normalization", "no-flatten", "callback", "learning-rate",
                                 "architectures"]


@pytest.mark.parametrize("module", [
    "fashion_lab.experiments.stats", "fashion_lab.experiments.tables", "fashion_lab.experiments.options",
    "fashion_lab.experiments.registry", "fashion_lab.experiments.layer_size", "fashion_lab.experiments.epochs",
    "fashion_lab.experiments.normalization", "fashion_lab.experiments.callback",
    "fashion_lab.experiments.learning_rate", "fashion_lab.experiments.architectures",
    "fashion_lab.presets", "fashion_lab.model", "fashion_lab.preprocess", "fashion_lab.report",
    "fashion_lab.validate", "fashion_lab.console", "fashion_lab.runs"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    failed, attempted = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0


# ---- every model checked against the memory before the first one trains (issue 10, item 2) ---------------


@pytest.mark.parametrize("argv, what", [
    (["layer-size", "--hidden", "128", "100000000", "--epochs", "1"], "hidden layers 100000000 needs about"),
    (["epochs", "--hidden", "100000000", "--epochs", "2"], "hidden layers 100000000 needs about"),
    (["normalization", "--hidden", "100000000"], "hidden layers 100000000 needs about"),
    (["callback", "--hidden", "100000000"], "hidden layers 100000000 needs about"),
    (["no-flatten", "--hidden", "100000000"], "hidden layers 100000000 (two models, with and without Flatten) needs about"),
    (["learning-rate", "--hidden", "100000000"], "hidden layers 100000000 needs about"),
], ids=["layer-size", "epochs", "normalization", "callback", "no-flatten", "learning-rate"])
def test_a_model_too_big_for_memory_is_refused_before_any_training(argv, what, tmp_path, synthetic_fashion, monkeypatch,
                                                                    capsys):
    from fashion_lab import model
    from fashion_lab.cli import main
    from fashion_lab.experiments import measure

    def must_not_run(*args, **kwargs):
        raise AssertionError("a model was built or trained before the memory check")

    monkeypatch.setattr(measure, "train_one", must_not_run)
    monkeypatch.setattr(model, "build_model", must_not_run)
    out = tmp_path / "exp"
    assert main(["experiment", *argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert what in captured.err and "GB available" in captured.err and "Traceback" not in captured.err
    assert not out.exists()


def test_architectures_checks_its_recipes_up_front(tmp_path, synthetic_fashion, capsys):
    # Its three networks have fixed sizes, so memory cannot refuse them; a batch larger than the training
    # images can (best-mlp trains with batches of 128).
    from fashion_lab.cli import main

    out = tmp_path / "exp"
    argv = ["experiment", "architectures", "--architectures", "best-mlp", "--train-images", "100", "--out", str(out)]
    assert main(argv) == 2
    assert "batch size 128 is larger than the 90 training images" in capsys.readouterr().err
    assert not out.exists()


def test_every_experiment_checks_its_models_up_front():
    import inspect

    covered = {"layer-size", "epochs", "normalization", "callback", "no-flatten", "learning-rate",
               "architectures"}  # tested above
    assert set(EXPERIMENTS) == covered
    for spec in EXPERIMENTS.values():
        assert list(inspect.signature(spec.module.check).parameters) == ["opts", "dataset", "say"], spec.name
