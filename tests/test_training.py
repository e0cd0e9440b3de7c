"""train(): a real Keras fit on tiny synthetic data, and the run directory it leaves."""

from __future__ import annotations

import csv
import json

import pytest

from fashion_lab import TrainConfig, load_run, train
from fashion_lab.callbacks import _Callback


def _config(tmp_path, **kw):
    kw.setdefault("epochs", 3)
    kw.setdefault("run_dir", str(tmp_path / "run"))
    return TrainConfig(**kw)


def test_train_writes_every_artifact(tmp_path, synthetic_fashion):
    run = train(_config(tmp_path), verbose=False)
    for name in ("config.json", "history.csv", "metrics.json", "model.keras", "curves.png"):
        assert (run.dir / name).is_file(), name
    metrics = json.loads((run.dir / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "epochs_run", "stopped_early",
                "fit_seconds", "samples_per_second", "params"):
        assert key in metrics
    assert metrics["epochs_run"] == 3 and metrics["stopped_early"] is False
    assert len(run.epoch_seconds) == 3 and all(s > 0 for s in run.epoch_seconds)
    assert "epoch_seconds" not in run.history  # per-epoch metrics only; the times are run.epoch_seconds
    assert metrics["params"] == 28 * 28 * 128 + 128 + 128 * 10 + 10
    assert metrics["test_accuracy"] > 0.5  # the bands are easy to learn
    saved = json.loads((run.dir / "config.json").read_text())
    assert saved["config"]["hidden"] == [128] and saved["backend"] == "jax"
    assert "keras" in saved["versions"] and saved["dataset"]["verified"] is True
    with open(run.dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[0]["samples_per_second"]) > 0
    loaded = load_run(run.dir)
    assert loaded.config == run.config and loaded.metrics == metrics


def test_same_seed_same_history(tmp_path, synthetic_fashion):
    a = train(_config(tmp_path, run_dir=str(tmp_path / "a"), seed=3, validation_split=0.2), verbose=False)
    b = train(_config(tmp_path, run_dir=str(tmp_path / "b"), seed=3, validation_split=0.2), verbose=False)
    c = train(_config(tmp_path, run_dir=str(tmp_path / "c"), seed=4, validation_split=0.2), verbose=False)
    assert a.history == b.history
    assert a.history != c.history
    assert "val_accuracy" in a.history and "validation_accuracy" in a.metrics


def test_two_hidden_layers(tmp_path, synthetic_fashion):
    run = train(_config(tmp_path, hidden=(32, 16), epochs=1), verbose=False)
    dense = [layer for layer in run.model.layers if layer.name.startswith("hidden_")]
    assert [layer.units for layer in dense] == [32, 16]
    assert run.metrics["params"] == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10


def test_stop_at_accuracy_stops_and_records_it(tmp_path, synthetic_fashion, capsys):
    run = train(_config(tmp_path, epochs=5, stop_at_accuracy=0.05), verbose=True)
    out = capsys.readouterr().out
    assert "Reached 5% accuracy so cancelling training!" in out
    assert run.metrics["epochs_run"] == 1 and run.metrics["stopped_early"] is True
    assert out.count("epoch 1/5") == 1 and "epoch 2/5" not in out


def test_seed_style_user_callback_works_with_train(tmp_path, synthetic_fashion, capsys):
    class myCallback(_Callback):  # written exactly like the seed's
        def on_epoch_end(self, epoch, logs={}):
            if logs.get("accuracy") is not None and logs.get("accuracy") > 0.05:
                print("\nReached 5% accuracy so cancelling training!")
                self.model.stop_training = True

    run = train(_config(tmp_path, epochs=4), callbacks=[myCallback()], verbose=False)
    assert "Reached 5% accuracy so cancelling training!" in capsys.readouterr().out
    assert run.metrics["epochs_run"] == 1 and run.metrics["stopped_early"] is True


def test_existing_run_dir_is_refused_and_left_alone(tmp_path, synthetic_fashion):
    from fashion_lab.errors import RunError

    target = tmp_path / "run"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="already exists"):
        train(_config(tmp_path), verbose=False)
    assert (target / "keep.txt").read_text() == "mine"


def test_default_run_dirs_are_distinct(tmp_path, synthetic_fashion):
    runs_root = str(tmp_path / "runs")
    a = train(TrainConfig(epochs=1, runs_root=runs_root), verbose=False)
    b = train(TrainConfig(epochs=1, runs_root=runs_root), verbose=False)
    assert a.dir != b.dir and a.dir.parent == b.dir.parent
    assert a.dir.name.endswith("fashion_mnist-h128")


def test_per_batch_callback_sees_every_batch(tmp_path, synthetic_fashion):
    class CountBatches(_Callback):
        def on_train_begin(self, logs=None):
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

    counter = CountBatches()
    run = train(_config(tmp_path, epochs=2, batch_size=50), callbacks=[counter], verbose=False)
    assert counter.batches == 2 * 12  # 600 images / 50 per batch, per epoch
    assert run.metrics["epochs_run"] == 2


def test_runs_on_one_loaded_dataset_share_one_copy_of_its_images(synthetic_fashion):
    from fashion_lab import training
    from fashion_lab.datasets import open_dataset

    dataset = open_dataset("fashion_mnist")
    first = training._images_for(dataset, TrainConfig())
    assert training._images_for(dataset, TrainConfig(hidden=(64,), seed=3)) is first  # another model, same images
    raw = training._images_for(dataset, TrainConfig(normalize=False))  # other pixel values: new images, the old released
    assert raw is not first and float(raw.x[:].max()) > 1
    assert training._images_for(open_dataset("fashion_mnist"), TrainConfig(normalize=False)) is not raw  # reloaded
