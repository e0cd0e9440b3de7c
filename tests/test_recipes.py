"""The training recipe's building blocks: validated options, their effect, presets, and the fast path with them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashion_lab import TrainConfig, presets, train
from fashion_lab._backend import keras
from fashion_lab.errors import ConfigError
from fashion_lab.model import build_network, input_statistics, learning_rate_schedule
from fashion_lab.preprocess import prepare_labels
from helpers import assert_fast_path_is_model_fit


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.random((700, 28, 28), dtype=np.float32), rng.integers(0, 10, 700).astype(np.int32)


# --- options are validated like the others --------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    (dict(dropout=1.0), r"dropout must be in \[0, 1\), got 1\.0"),
    (dict(dropout=-0.1), r"dropout must be in \[0, 1\)"),
    (dict(label_smoothing=1), r"label smoothing must be in \[0, 1\)"),
    (dict(weight_decay=-0.01), r"weight decay must be a number >= 0, got -0\.01"),
    (dict(model="resnet"), r"model must be one of: mlp, cnn, got 'resnet'"),
    (dict(standardize="z"), r"standardize must be one of: none, global, per-pixel, got 'z'"),
    (dict(lr_schedule="step"), r"learning-rate schedule must be one of: constant, cosine, got 'step'"),
    (dict(warmup_epochs=1), r"warm-up .* belongs to a schedule; add --lr-schedule cosine"),
    (dict(lr_schedule="cosine", warmup_epochs=5, epochs=5), r"warm-up must end before training does"),
    (dict(preset=3), r"preset must be the name of a preset or None, got 3"),
], ids=["dropout-1", "dropout-negative", "smoothing-1", "decay-negative", "model", "standardize", "schedule",
        "warmup-without-schedule", "warmup-too-long", "preset"])
def test_recipe_options_are_validated(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_presets_resolve_and_every_option_overrides_them():
    config = presets.resolve("best-mlp")
    assert config.preset == "best-mlp" and config.model == "mlp" and config.dropout > 0 and config.weight_decay > 0
    assert config.to_dict() == TrainConfig.from_dict(config.to_dict()).to_dict()  # config.json round-trips
    changed = presets.resolve("best-mlp", epochs=2, dropout=0.0, hidden=(64,))
    assert (changed.epochs, changed.dropout, changed.hidden, changed.preset) == (2, 0.0, (64,), "best-mlp")
    assert changed.label_smoothing == config.label_smoothing  # the rest stays the preset's
    assert presets.resolve(None) == TrainConfig()
    short = presets.resolve("best-mlp", epochs=1)  # the preset's 1 warm-up epoch would not end: its share of the run
    assert short.warmup_epochs == pytest.approx(config.warmup_epochs / config.epochs)
    assert presets.resolve("best-mlp", epochs=3).warmup_epochs == config.warmup_epochs
    with pytest.raises(ConfigError, match="unknown preset 'fast'; choose one of: best-mlp, cnn"):
        presets.resolve("fast")
    with pytest.raises(ConfigError, match="unknown config keys"):
        presets.resolve("best-mlp", dropuot=0.1)
    assert all(part in presets.describe() for part in ("best-mlp:", "--dropout 0.3", "cnn:", "--model cnn"))


def test_model_cnn_alone_takes_the_cnn_recipe_and_typed_options_win():
    from fashion_lab.cli import train_config

    cnn = train_config({"model": "cnn"})
    assert cnn == presets.resolve("cnn") and cnn.dropout == 0.3 and cnn.lr_schedule == "cosine" and cnn.epochs == 8
    assert train_config({"model": "cnn", "dropout": 0.0, "epochs": 5}).dropout == 0.0
    assert train_config({"model": "cnn", "stop_at_accuracy": 0.9}).epochs == 8  # the preset's epochs, not the ceiling
    assert train_config({}) == TrainConfig()  # the seed's recipe
    assert train_config({"stop_at_accuracy": 0.9}).epochs == 10


# --- each option does what it says ----------------------------------------------------------------------------

def test_the_seed_recipe_builds_the_seeds_network():
    model = build_network(TrainConfig())
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dense"]
    assert type(model.optimizer).__name__ == "Adam" and model.get_compile_config()["loss"] == "sparse_categorical_crossentropy"
    assert model.count_params() == 101_770


def test_dropout_is_active_in_training_only(images):
    x, _ = images
    model = build_network(TrainConfig(hidden=(256,), dropout=0.5))
    inference = np.asarray(model(x[:8], training=False))
    np.testing.assert_allclose(inference, np.asarray(model(x[:8], training=False)))  # deterministic
    first, second = np.asarray(model(x[:8], training=True)), np.asarray(model(x[:8], training=True))
    assert not np.allclose(first, inference) and not np.allclose(first, second)  # a fresh mask per call


def test_standardization_statistics_come_from_the_training_split_only(synthetic_fashion, tmp_path):
    from fashion_lab.datasets import open_dataset
    from fashion_lab.training import split_validation
    from fashion_lab.preprocess import normalize

    config = TrainConfig(standardize="global", validation_split=0.25, epochs=1, run_dir=str(tmp_path / "run"))
    run = train(config, verbose=False)
    data = open_dataset("fashion_mnist")
    (fit, _), (held, _) = split_validation(normalize(data.x_train), data.y_train, 0.25, seed=0)
    record = json.loads((run.dir / "config.json").read_text())["standardization"]
    assert record["mean"] == pytest.approx(float(fit.astype(np.float64).mean()), rel=1e-6)
    assert record["std"] == pytest.approx(float(fit.astype(np.float64).std()), rel=1e-6)
    assert abs(record["mean"] - float(held.mean())) > 1e-6  # the held-out images would have given another mean
    layer = run.load_model().get_layer("standardize")  # the saved model standardizes by itself
    assert float(np.asarray(layer.mean).ravel()[0]) == pytest.approx(record["mean"], rel=1e-6)


def test_per_pixel_statistics_floor_the_std():
    x = np.zeros((10, 28, 28), np.float32)
    x[:, 5, 5] = np.linspace(0, 1, 10)
    stats = input_statistics(x, "per-pixel")
    assert stats["mean"].shape == (28, 28) and stats["std"][0, 0] == pytest.approx(0.05)
    assert stats["std"][5, 5] == pytest.approx(np.linspace(0, 1, 10).std(), rel=1e-6)
    standardized = np.asarray(build_network(TrainConfig(), standardization=stats).layers[0](x))
    assert np.abs(standardized).max() < 2  # nothing blown up by a constant pixel


def test_cosine_schedule_warms_up_then_decays_to_zero():
    rate = learning_rate_schedule(TrainConfig(lr_schedule="cosine", warmup_epochs=2, epochs=10, learning_rate=0.01),
                                  steps_per_epoch=5)
    values = [float(rate(step)) for step in range(51)]
    assert values[0] == 0 and values[5] == pytest.approx(0.005) and values[10] == pytest.approx(0.01)
    assert values[30] == pytest.approx(0.005, rel=1e-5) and values[50] == pytest.approx(0, abs=1e-9)
    assert all(a <= b for a, b in zip(values[:10], values[1:11])) and all(a >= b for a, b in zip(values[10:], values[11:]))
    assert learning_rate_schedule(TrainConfig(learning_rate=0.003), steps_per_epoch=5) == 0.003


def test_label_smoothing_trains_on_one_hot_targets():
    y = np.array([1, 0, 2])
    assert prepare_labels(y).dtype == np.int32
    np.testing.assert_array_equal(prepare_labels(y, num_classes=3, one_hot=True), np.eye(3)[y])
    model = build_network(TrainConfig(label_smoothing=0.2))
    loss = model.loss
    probabilities = np.full((1, 10), 0.1, np.float32)
    # uniform predictions: the loss is log(10) whatever the smoothing; a confident right answer is penalised
    assert float(loss(np.eye(10, dtype=np.float32)[[3]], probabilities)) == pytest.approx(np.log(10), rel=1e-5)
    sure = np.eye(10, dtype=np.float32)[[3]] * 0.999 + 0.0001
    assert float(loss(np.eye(10, dtype=np.float32)[[3]], sure)) > 0.5


# --- the fused loop with dropout, AdamW, a schedule and smoothing is still model.fit ------------------------------

def test_fast_path_equals_model_fit_with_dropout_adamw_schedule_and_smoothing(images):
    from fashion_lab import _fastfit

    k = keras()
    x, y = images
    y = prepare_labels(y, one_hot=True)
    seed, epochs, batch = 5, 3, 64
    config = TrainConfig(hidden=(32, 16), dropout=0.3, weight_decay=0.01, label_smoothing=0.1, lr_schedule="cosine",
                         warmup_epochs=1, epochs=epochs, standardize="global")
    stats = input_statistics(x, "global")
    models = []
    for _ in range(2):
        k.utils.set_random_seed(7)
        models.append(build_network(config, steps_per_epoch=-(-len(x) // batch), standardization=stats))
    fast, plain = models
    assert _fastfit.supported(fast)
    seed_state = [v for v in fast.non_trainable_variables if "seed_generator" in v.path]
    assert len(seed_state) == 2  # one generator per Dropout layer: their state is threaded through the scan
    start = [np.asarray(v.value).copy() for v in seed_state]

    fast_history = assert_fast_path_is_model_fit(fast, plain, x, y, seed=seed, epochs=epochs, batch=batch)
    steps = epochs * -(-len(x) // batch)
    assert int(fast.optimizer.iterations.value) == steps  # the schedule's counter moved with every step
    for before, variable in zip(start, seed_state):  # each step drew a new mask
        assert not np.array_equal(before, np.asarray(variable.value))
    # the schedule ended the run at a rate of 0, and the last epoch's mean loss is below the first's
    assert float(fast.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert fast_history["loss"][-1] < fast_history["loss"][0]


def test_fast_evaluation_covers_standardized_dropout_networks(images):
    from fashion_lab import _fasteval

    x, y = images
    model = build_network(TrainConfig(hidden=(16,), dropout=0.5, standardize="per-pixel"),
                          standardization=input_statistics(x, "per-pixel"))
    assert _fasteval.plan(model, for_loss=True) == ("standardize", "relu", "softmax")
    ours = _fasteval.evaluate(model, x, y)
    theirs = model.evaluate(x, y, batch_size=1024, verbose=0, return_dict=True)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5) and ours["accuracy"] == pytest.approx(theirs["accuracy"])
    np.testing.assert_allclose(_fasteval.probabilities(model, x), model.predict(x, verbose=0), atol=1e-6)


# --- presets and the CNN end to end on the synthetic data ---------------------------------------------------------

def test_config_json_shows_the_preset_and_its_resolved_values(synthetic_fashion, tmp_path):
    config = presets.resolve("best-mlp", hidden=(32, 16), epochs=2, run_dir=str(tmp_path / "run"))
    run = train(config, verbose=False)
    saved = json.loads((run.dir / "config.json").read_text())["config"]
    assert saved["preset"] == "best-mlp" and saved["hidden"] == [32, 16] and saved["epochs"] == 2
    assert saved["dropout"] == 0.3 and saved["lr_schedule"] == "cosine" and saved["standardize"] == "global"
    assert run.metrics["test_accuracy"] > 0.5


def test_the_cnn_trains_on_the_synthetic_data(synthetic_fashion, tmp_path):
    from fashion_lab import _fastfit
    from fashion_lab.evaluation import evaluate_run

    run = train(TrainConfig(model="cnn", hidden=(16,), epochs=2, batch_size=64, label_smoothing=0.1,
                            run_dir=str(tmp_path / "cnn")), verbose=False)
    assert [type(layer).__name__ for layer in run.model.layers][:5] == ["Reshape", "Conv2D", "MaxPooling2D", "Conv2D",
                                                                        "MaxPooling2D"]
    assert not _fastfit.supported(run.model)  # convolutions train through model.fit (see has_convolutions)
    assert len(run.history["loss"]) == 2 and run.history["loss"][1] < run.history["loss"][0]
    assert run.metrics["test_accuracy"] > 0.5
    assert evaluate_run(run.dir)["test_loss"] == pytest.approx(run.metrics["test_loss"], rel=1e-5)


# --- the command line ------------------------------------------------------------------------------------------------

def test_train_flags_override_the_preset_and_bad_values_exit_2(synthetic_fashion, tmp_path, capsys):
    from fashion_lab.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--preset", "best-mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "32",
                 "--weight-decay", "0", "--run-dir", str(run_dir), "--quiet"]) == 0
    saved = json.loads((run_dir / "config.json").read_text())["config"]
    assert saved["preset"] == "best-mlp" and saved["hidden"] == [16] and saved["batch_size"] == 32  # 32 = the default,
    assert saved["weight_decay"] == 0.0 and saved["dropout"] == 0.3  # typed, so it wins; the rest is the preset's
    for argv, message in ((["--dropout", "1"], "argument --dropout: must be in [0, 1), got '1'"),
                          (["--weight-decay", "-1"], "argument --weight-decay: must be a number >= 0, got '-1'"),
                          (["--model", "rnn"], "argument --model: invalid choice: 'rnn'")):
        with pytest.raises(SystemExit) as exit_info:  # argparse's own refusal
            main(["train", *argv, "--run-dir", str(tmp_path / "bad")])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert main(["train", "--warmup-epochs", "1", "--run-dir", str(tmp_path / "bad")]) == 2  # the config's refusal
    assert "warm-up (1 epochs) belongs to a schedule; add --lr-schedule cosine" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_the_architectures_experiment_compares_the_three_on_one_split(synthetic_fashion, tmp_path):
    from fashion_lab.experiments.options import ExperimentOptions
    from fashion_lab.experiments.runner import run_experiment

    options = ExperimentOptions(epochs=1, train_images=400)
    result = run_experiment("architectures", options, out=tmp_path / "arch", verbose=False)
    rows = result.data["tables"][0]["rows"]
    assert [r["architecture"] for r in rows] == ["seed", "best-mlp", "cnn"]
    assert [r["params"] for r in rows] == [101_770, 1_333_770, 243_786]
    assert all(r["epochs_run"] == 1 and r["fit_seconds"] > 0 and 0 <= r["validation_accuracy"] <= 1 for r in rows)
    assert result.data["dataset"]["train"] + result.data["dataset"]["validation"] == 400
    findings = result.data["findings"]
    assert findings[0].startswith("best-mlp over seed: validation accuracy")
    assert "one run each, so the seed-to-seed spread is not measured" in findings[1]
    assert findings[-1].startswith("Chosen on validation accuracy:")
    assert (tmp_path / "arch" / "architectures.png").is_file() and (tmp_path / "arch" / "results.csv").is_file()
    with pytest.raises(ConfigError, match="--architectures does not apply to the epochs experiment"):
        ExperimentOptions(architectures=("seed",)).resolved("epochs")
    with pytest.raises(ConfigError, match="each architecture must be one of: seed, best-mlp, cnn, got 'vgg'"):
        ExperimentOptions(architectures=("vgg",))
