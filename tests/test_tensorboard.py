"""TensorBoard event files: written by every run without TensorFlow, read back by tensorboard's own reader."""

from __future__ import annotations

import pytest

from fashion_lab import TrainConfig, train


def _accumulator(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    reader.Reload()
    return reader


def test_run_writes_event_files_tensorboard_reads(tmp_path, synthetic_fashion):
    run = train(TrainConfig(epochs=3, hidden=(16,), validation_split=0.2, run_dir=str(tmp_path / "run")), verbose=False)
    train_log, validation_log = (_accumulator(run.dir / "tensorboard" / split) for split in ("train", "validation"))
    steps = {tag: [e.step for e in train_log.Scalars(tag)] for tag in train_log.Tags()["scalars"]}
    assert steps == {tag: [1, 2, 3] for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_seconds")}
    assert {tag: [e.step for e in validation_log.Scalars(tag)] for tag in validation_log.Tags()["scalars"]} == \
        {"epoch_loss": [1, 2, 3], "epoch_accuracy": [1, 2, 3]}
    # the values are the run's own history, not something else
    assert [e.value for e in train_log.Scalars("epoch_loss")] == pytest.approx(run.history["loss"], rel=1e-6)
    assert [e.value for e in validation_log.Scalars("epoch_accuracy")] == pytest.approx(run.history["val_accuracy"])
    assert [e.value for e in train_log.Scalars("epoch_learning_rate")] == pytest.approx([0.001] * 3)
    # the end of the run: the curves and the validation confusion matrix, as images at the last epoch
    assert [(e.step, e.width > 100) for e in train_log.Images("curves")] == [(3, True)]
    assert [e.step for e in validation_log.Images("confusion")] == [3]


def test_tensorboard_off_writes_no_event_files(tmp_path, synthetic_fashion):
    run = train(TrainConfig(epochs=1, hidden=(16,), tensorboard=False, run_dir=str(tmp_path / "run")), verbose=False)
    assert not (run.dir / "tensorboard").exists() and (run.dir / "model.keras").is_file()
