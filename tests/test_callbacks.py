"""The callbacks inside a real ``model.fit`` on tiny synthetic data."""

from __future__ import annotations

import csv
import os
import warnings

import pytest

from fashion_lab import EpochPrinter, MetricsLog, StopAtAccuracy, StopAtLoss, build_model, normalize
from fashion_lab.callbacks import _Callback
from helpers import synthetic_arrays


@pytest.fixture(scope="module")
def data():
    x, y = synthetic_arrays(320)
    return normalize(x), y


def _fit(data, callbacks, epochs=4, **kw):
    x, y = data
    model = build_model(hidden=[16])
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks, **kw)


def test_stop_at_accuracy_in_model_fit(data, capsys):
    cb = StopAtAccuracy(0.05)
    history = _fit(data, [cb])
    assert len(history.history["loss"]) == 1 and cb.stopped_epoch == 1
    assert "Reached 5% accuracy so cancelling training!" in capsys.readouterr().out


def test_unreached_target_lets_training_finish(data, capsys):
    history = _fit(data, [StopAtAccuracy(1.0)], epochs=2)
    assert len(history.history["loss"]) == 2
    assert "Reached" not in capsys.readouterr().out


def test_stop_at_loss_in_model_fit(data, capsys):
    history = _fit(data, [StopAtLoss(100.0)])
    assert len(history.history["loss"]) == 1
    assert "so cancelling training!" in capsys.readouterr().out


def test_validation_monitor(data, capsys):
    history = _fit(data, [StopAtAccuracy(0.01, monitor="val_accuracy")], validation_split=0.25)
    assert len(history.history["loss"]) == 1
    assert "validation accuracy" in capsys.readouterr().out


def test_reads_legacy_acc_key():
    cb = StopAtAccuracy(0.6, verbose=False)

    class Model:
        stop_training = False

    cb.set_model(Model())
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 0.5, "acc": 0.7})
    assert cb.model.stop_training and cb.stopped_epoch == 1


def test_missing_key_warns_once_listing_keys():
    cb = StopAtAccuracy(0.6, monitor="val_accuracy")

    class Model:
        stop_training = False

    cb.set_model(Model())
    cb.on_train_begin()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cb.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.9})
        cb.on_epoch_end(1, {"loss": 0.4, "accuracy": 0.95})
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'val_accuracy'" in messages[0] and "accuracy, loss" in messages[0]
    assert not cb.model.stop_training


@pytest.mark.parametrize("target", [0, -0.1, 1.5, 60, float("nan"), "0.6", True])
def test_accuracy_target_outside_unit_interval_is_valueerror(target):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        StopAtAccuracy(target)


@pytest.mark.parametrize("target", [0, -1, float("inf")])
def test_loss_target_must_be_positive(target):
    with pytest.raises(ValueError):
        StopAtLoss(target)


def test_metrics_log_writes_each_epoch_as_it_ends(data, tmp_path):
    path = tmp_path / "log" / "history.csv"
    seen = []

    held = []

    class Peek(_Callback):  # runs after MetricsLog: the row must already be on disk
        def on_epoch_end(self, epoch, logs=None):
            with open(path) as f:
                seen.append(len(list(csv.DictReader(f))))
            if not held:
                held.append(open(path))

    _fit(data, [MetricsLog(path, samples_per_epoch=240), Peek()], epochs=3, validation_split=0.25)
    assert seen == [1, 2, 3]
    # Later epochs replaced the file through a rename: a reader of the first version still sees it whole,
    # and no temporary file is left behind.
    with held[0] as first:
        assert len(list(csv.DictReader(first))) == 1
    assert os.listdir(path.parent) == ["history.csv"]
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "samples_per_second"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(float(r["samples_per_second"]) > 0 and float(r["epoch_seconds"]) > 0 for r in rows)


def test_fresh_metrics_log_drops_old_rows_as_training_begins(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n1,0.5\n")
    MetricsLog(path).on_train_begin()  # even when no epoch then finishes, no earlier fit's rows stay behind
    assert path.read_text() == ""
    path.write_text("epoch,loss\n1,0.5\n")
    MetricsLog(path, append=True).on_train_begin()
    assert path.read_text() == "epoch,loss\n1,0.5\n"


def test_metrics_log_reused_and_appended(data, tmp_path):
    path = tmp_path / "h.csv"
    log = MetricsLog(path)
    _fit(data, [log], epochs=2)
    _fit(data, [log], epochs=1)  # reuse restarts the file
    assert len(list(csv.DictReader(open(path)))) == 1
    _fit(data, [MetricsLog(path, append=True)], epochs=2)
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 3 and rows[-1]["samples_per_second"] == ""


def test_one_stop_instance_reused_across_fits(data, capsys):
    cb = StopAtAccuracy(0.05)
    _fit(data, [cb])
    history = _fit(data, [cb])
    assert len(history.history["loss"]) == 1 and cb.stopped_epoch == 1


def test_epoch_printer_one_line_per_epoch(data, capsys):
    _fit(data, [EpochPrinter(samples_per_epoch=320)], epochs=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: loss ") and "samples/s" in lines[1]
