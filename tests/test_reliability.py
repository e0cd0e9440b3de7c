"""Interrupts, resume, divergence and output safety: nothing a user does loses finished work or leaves junk."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fashion_lab import TrainConfig, train
from fashion_lab.callbacks import _Callback
from fashion_lab.cli import main
from fashion_lab.errors import RunError, TrainingDiverged, TrainingInterrupted
from fashion_lab.training import resume
from helpers import write_idx_dataset

EXE = str(Path(sys.executable).parent / "fashion-lab")


def _rows(run_dir):
    with open(Path(run_dir) / "history.csv") as f:
        return list(csv.DictReader(f))


def _curves(run_dir):
    rows = _rows(run_dir)
    return {k: [float(r[k]) for r in rows] for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in rows[0]}


class InterruptAt(_Callback):
    """Raises KeyboardInterrupt as epoch ``epoch`` (1-based) begins, as Ctrl-C would mid-run."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_interrupt_keeps_finished_epochs_and_resume_matches_uninterrupted(tmp_path, synthetic_fashion):
    config = dict(epochs=4, validation_split=0.2, seed=7)
    whole = train(TrainConfig(run_dir=str(tmp_path / "whole"), **config), verbose=False)

    cut_dir = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="2 finished epochs are saved.*--resume"):
        train(TrainConfig(run_dir=str(cut_dir), **config), callbacks=[InterruptAt(3)], verbose=False)
    assert len(_rows(cut_dir)) == 2
    metrics = json.loads((cut_dir / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs_run"] == 2
    assert (cut_dir / "model.keras").is_file()
    assert not list(cut_dir.glob(".*tmp*"))

    resumed = resume(cut_dir, verbose=False)
    assert resumed.metrics["epochs_run"] == 4 and resumed.metrics["interrupted"] is False
    assert resumed.metrics["resumed_from_epoch"] == 2
    a, b = _curves(tmp_path / "whole"), _curves(cut_dir)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
    assert resumed.metrics["test_accuracy"] == pytest.approx(whole.metrics["test_accuracy"], abs=1e-6)


class EveryBatch(_Callback):
    """A per-batch callback: training then goes through Keras's own model.fit, not the fused loop."""

    def on_train_batch_end(self, batch, logs=None):
        pass


def test_resume_through_model_fit_matches_uninterrupted(tmp_path, synthetic_fashion):
    config = dict(epochs=3, validation_split=0.2, seed=5)
    whole = train(TrainConfig(run_dir=str(tmp_path / "whole"), **config), callbacks=[EveryBatch()], verbose=False)
    cut_dir = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted):
        train(TrainConfig(run_dir=str(cut_dir), **config), callbacks=[EveryBatch(), InterruptAt(2)], verbose=False)
    resumed = resume(cut_dir, callbacks=[EveryBatch()], verbose=False)
    assert resumed.history == whole.history  # the same shuffles after the resume: the same numbers
    assert len(resumed.epoch_seconds) == len(whole.epoch_seconds) == 3


def test_a_failed_last_checkpoint_on_interrupt_is_said_and_the_epoch_before_kept(tmp_path, synthetic_fashion, monkeypatch):
    from fashion_lab import runs

    saves = []
    real_save = runs.save_model

    def save_fails_the_second_time(model, run_dir):
        saves.append(1)
        if len(saves) == 2:
            raise OSError("No space left on device")
        real_save(model, run_dir)

    monkeypatch.setattr(runs, "save_model", save_fails_the_second_time)
    run_dir = tmp_path / "run"
    with pytest.warns(UserWarning, match="checkpoint could not be written.*No space left.*keeps the epoch before"):
        with pytest.raises(TrainingInterrupted, match="the 1 finished epoch is saved"):
            train(TrainConfig(run_dir=str(run_dir), epochs=4), callbacks=[InterruptAt(3)], verbose=False)
    assert json.loads((run_dir / "checkpoint.json").read_text())["epoch"] == 1
    assert len(_rows(run_dir)) == 1


def test_interrupt_before_first_epoch_leaves_nothing(tmp_path, synthetic_fashion):
    with pytest.raises(TrainingInterrupted, match="nothing was saved"):
        train(TrainConfig(run_dir=str(tmp_path / "run"), epochs=2), callbacks=[InterruptAt(1)], verbose=False)
    assert not (tmp_path / "run").exists()


def test_resume_refuses_finished_run_and_flags(tmp_path, synthetic_fashion, capsys):
    run = train(TrainConfig(run_dir=str(tmp_path / "run"), epochs=1), verbose=False)
    with pytest.raises(RunError, match="already finished"):
        resume(run.dir, verbose=False)
    assert main(["train", "--resume", str(run.dir), "--epochs", "9", "--hidden", "64"]) == 2
    assert "drop --hidden, --epochs" in capsys.readouterr().err


def test_nan_loss_marks_run_failed(tmp_path, synthetic_fashion):
    with pytest.raises(TrainingDiverged, match="NaN or infinite in epoch 1.*learning rate is too high"):
        train(TrainConfig(run_dir=str(tmp_path / "run"), epochs=3, learning_rate=1e20), verbose=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["failed"] is True and metrics["diverged_epoch"] == 1
    assert "test_accuracy" not in metrics and not (tmp_path / "run" / "model.keras").exists()
    with pytest.raises(RunError, match="failed"):
        resume(tmp_path / "run", verbose=False)


def test_nan_loss_cli_exit_2(tmp_path, synthetic_fashion, capsys):
    assert main(["train", "--learning-rate", "1e20", "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "training diverged" in err and "Traceback" not in err


def test_unwritable_output_reported_before_training(tmp_path, synthetic_fashion, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--run-dir", str(blocker / "run")]) == 2
    captured = capsys.readouterr()
    assert "cannot create run directory" in captured.err and "epoch 1" not in captured.out


def test_overwrite_replaces_stale_files(tmp_path, synthetic_fashion):
    target = tmp_path / "run"
    target.mkdir()
    (target / "evaluation.json").write_text("{}")
    (target / "history.csv").write_text("epoch,loss\n1,9\n2,9\n3,9\n")
    train(TrainConfig(run_dir=str(target), epochs=1), verbose=False, overwrite=True)
    assert not (target / "evaluation.json").exists() and len(_rows(target)) == 1


@pytest.fixture(scope="module")
def slow_data(tmp_path_factory):
    """Enough synthetic images that an epoch lasts long enough to be interrupted from outside."""
    return write_idx_dataset(tmp_path_factory.mktemp("slow"), n_train=6000, n_test=500)


def _train_process(slow_data, run_dir, *extra):
    return subprocess.Popen([EXE, "train", "--data-dir", str(slow_data), "--no-verify", "--batch-size", "16",
                             "--epochs", "8", "--run-dir", str(run_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(run_dir, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        path = Path(run_dir) / "checkpoint.json"
        if path.exists() and json.loads(path.read_text() or '{"epoch": 0}')["epoch"] >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"run did not reach {n} epochs: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_real_signal_then_resume(tmp_path, slow_data, sig):
    run_dir = tmp_path / "run"
    proc = _train_process(slow_data, run_dir)
    _wait_for_rows(run_dir, 2, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    done = metrics["epochs_run"]
    assert metrics["interrupted"] is True and 2 <= done < 8
    assert len(_rows(run_dir)) == done

    if sig == signal.SIGTERM:
        return  # the resume path is the same; run it once
    finished = subprocess.run([EXE, "train", "--resume", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"resuming {run_dir} after epoch {done} of 8" in finished.stdout
    assert [int(r["epoch"]) for r in _rows(run_dir)] == list(range(1, 9))
    whole = tmp_path / "whole"
    proc = _train_process(slow_data, whole)
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    a, b = _curves(whole), _curves(run_dir)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
    np.testing.assert_allclose(a["accuracy"], b["accuracy"], rtol=1e-5)


def test_failed_run_keeps_the_users_own_folder(tmp_path, synthetic_fashion):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(TrainingInterrupted):
        train(TrainConfig(run_dir=str(mine), epochs=2), callbacks=[InterruptAt(1)], verbose=False, overwrite=True)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("name, content", [("metrics.json", "{not json"), ("history.csv", "epoch,loss\n1,abc\n"),
                                           ("config.json", "[]")])
def test_damaged_run_files_are_clear_errors(tmp_path, synthetic_fashion, capsys, name, content):
    run = train(TrainConfig(run_dir=str(tmp_path / "run"), epochs=1), verbose=False)
    (run.dir / name).write_text(content)
    assert main(["evaluate", str(run.dir)]) == 2
    err = capsys.readouterr().err
    assert name in err and "damaged" in err and "Traceback" not in err


def test_resume_refuses_early_stopping_runs(tmp_path, synthetic_fashion):
    config = TrainConfig(run_dir=str(tmp_path / "run"), epochs=4, validation_split=0.2, early_stopping=2)
    with pytest.raises(TrainingInterrupted):
        train(config, callbacks=[InterruptAt(3)], verbose=False)
    with pytest.raises(RunError, match="cannot be resumed exactly"):
        resume(tmp_path / "run", verbose=False)


def test_debug_shows_the_traceback(tmp_path):
    done = subprocess.run([EXE, "--debug", "evaluate", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" in done.stderr and "RunError" in done.stderr
    done = subprocess.run([EXE, "evaluate", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_two_runs_started_together_get_different_folders(tmp_path, slow_data):
    procs = [subprocess.Popen([EXE, "train", "--data-dir", str(slow_data), "--no-verify", "--epochs", "1", "--quiet"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all((f / "metrics.json").is_file() for f in folders)


def test_seed_beyond_32_bits_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--seed", "5000000000"])
    assert "--seed: must be a whole number from 0 to 2147483647" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed KeyboardInterrupt
def test_signal_swallowed_by_a_gc_callback_still_stops_at_the_epoch_boundary(tmp_path, synthetic_fashion):
    """Python ignores exceptions raised inside garbage-collector callbacks (JAX has one); Ctrl-C landing
    there must not be lost."""
    import gc

    class SignalInsideGC(_Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                def hook(phase, info):
                    if phase == "start":
                        gc.callbacks.remove(hook)
                        os.kill(os.getpid(), signal.SIGINT)
                        time.sleep(0.05)  # the handler runs here, inside the GC callback

                gc.callbacks.append(hook)
                gc.collect()

    with pytest.raises(TrainingInterrupted):
        train(TrainConfig(run_dir=str(tmp_path / "run"), epochs=4), callbacks=[SignalInsideGC()], verbose=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs_run"] == 1
