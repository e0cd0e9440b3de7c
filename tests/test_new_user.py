"""What a new user hit (issue 10): a notebook's `import keras`, huge networks, signals during compilation,
file modes, oversize batches, raw pixels. Each test failed before its fix."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fashion_lab import TrainConfig, train
from fashion_lab.cli import main

EXE = str(Path(sys.executable).parent / "fashion-lab")
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_block(marker: str) -> str:
    """The fenced code block that follows ``<!-- marker -->`` in the README."""
    text = README.read_text()
    found = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert found, f"README has no python block after <!-- {marker} -->"
    return found.group(1)


@pytest.mark.real_data
def test_the_seeds_callback_from_the_readme_runs_after_keras_chose_tensorflow(tmp_path):
    """Keras writes backend "tensorflow" into keras.json on its first import; importing fashion_lab first
    must still make the user's `import keras` run on JAX (TensorFlow is not installed)."""
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow", "floatx": "float32",
                                                         "epsilon": 1e-07, "image_data_format": "channels_last"}))
    script = tmp_path / "seed_callback.py"
    script.write_text(_readme_block("seed-callback") + "\nprint('backend:', keras.backend.backend())\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(keras_home)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Reached 60% accuracy so cancelling training!" in done.stdout
    assert "backend: jax" in done.stdout


def test_a_network_far_beyond_the_memory_is_refused_at_once(tmp_path, synthetic_fashion, capsys):
    start = time.monotonic()
    code = main(["train", "--hidden", "100000000", "--epochs", "1", "--run-dir", str(tmp_path / "huge")])
    err = capsys.readouterr().err
    assert code == 2
    assert "79,500,000,010 parameters" in err and "GB available" in err and "--hidden 128" in err
    assert "Traceback" not in err
    assert not (tmp_path / "huge").exists()
    assert time.monotonic() - start < 60  # refused before any allocation (it used to take minutes, then hang)


def test_a_cnn_far_beyond_the_memory_is_refused_with_its_own_size(tmp_path, synthetic_fashion, capsys):
    """The CNN's estimate counts its convolutions and its 1,600-wide flattened input, not a 784-pixel one."""
    code = main(["train", "--model", "cnn", "--hidden", "100000000", "--epochs", "1", "--run-dir", str(tmp_path / "huge")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "a CNN with hidden layers 100000000 needs about" in err
    assert f"{(1600 * 100_000_000 + 100_000_000) + (100_000_000 * 10 + 10) + 640 + 36_928:,} parameters" in err
    assert not (tmp_path / "huge").exists()


def test_a_large_network_gets_a_time_estimate(tmp_path, synthetic_fashion, capsys, monkeypatch):
    from fashion_lab import resources

    monkeypatch.setattr(resources, "DENSE_FLOPS_PER_SECOND", 1e6)  # a slow machine: the seed's net takes minutes
    train(TrainConfig(epochs=1, run_dir=str(tmp_path / "run")), verbose=True)
    assert re.search(r"note: a network this size takes roughly \d+ (min|h) per epoch", capsys.readouterr().out)


def test_sigterm_during_compilation_stops_the_process_within_seconds(tmp_path, synthetic_dir):
    """XLA compiling a very deep network holds the main thread in C for tens of seconds; SIGTERM must not wait."""
    run_dir = tmp_path / "deep"
    proc = subprocess.Popen([EXE, "train", "--data-dir", str(synthetic_dir), "--no-verify", "--epochs", "1",
                             "--hidden", *["16"] * 300, "--run-dir", str(run_dir)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # the model is built; compiling the first epoch starts now
            if line.startswith("run:"):
                break
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(15)
        proc.wait(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert stopped_after < 15, f"took {stopped_after:.1f}s to stop"
    assert "stopped by signal 15" in err or "interrupted" in err
    assert "Traceback" not in err
    assert not run_dir.exists()  # no epoch finished: nothing is left behind


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_a_plain_open_would(tmp_path, synthetic_fashion, umask, mode):
    old = os.umask(umask)
    try:
        run = train(TrainConfig(epochs=1, run_dir=str(tmp_path / "run")), verbose=False)
    finally:
        os.umask(old)
    files = [p for p in run.dir.iterdir() if p.is_file()]
    assert {"config.json", "history.csv", "metrics.json", "model.keras", "report.html"} <= {p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


@pytest.mark.parametrize("name", ["../../evil", "a/b", ".hidden", "-rf", "x" * 101, "sp ace", ""])
def test_a_run_name_is_one_safe_folder_name(tmp_path, synthetic_fashion, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    assert main(["train", f"--name={name}", "--epochs", "1"]) == 2
    assert "must be one folder name" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*")), "nothing is written for a refused name"


def test_a_safe_run_name_names_the_run_folder(tmp_path, synthetic_fashion, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--name", "wide-net_2.0", "--epochs", "1", "--quiet"]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-wide-net_2.0")


def test_a_batch_larger_than_the_training_set_is_refused(tmp_path, synthetic_fashion, capsys):
    code = main(["train", "--batch-size", "1000000", "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "batch size 1,000,000 is larger than the 600 training images" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.real_data
def test_raw_pixels_at_chance_say_why(tmp_path, capsys):
    run = train(TrainConfig(epochs=1, normalize=False, run_dir=str(tmp_path / "raw")), verbose=True)
    out = capsys.readouterr().out
    assert run.metrics["test_accuracy"] < 0.15
    assert "chance level" in out and "experiment normalization" in out


_STUCK_IN_C = r'''
import hashlib, os, signal, threading
from fashion_lab.stopping import StopRequest, stop_on_signals
with stop_on_signals(StopRequest(), on_stuck=lambda: "kept what was finished", grace=0.5, cleanup=1.0):
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    hashlib.pbkdf2_hmac("sha256", b"x", b"salt", 500_000_000)  # minutes inside one C call, as XLA compiling
print("not reached")
'''


def test_a_signal_ends_a_process_whose_main_thread_is_stuck_in_c(tmp_path):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _STUCK_IN_C], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert "stopped by signal 15 while busy in compiled code; kept what was finished" in done.stderr
    assert "not reached" not in done.stdout
    assert time.monotonic() - start < 30  # the C call alone runs for minutes


def test_the_mistakes_grid_has_no_empty_band_under_its_title(tmp_path):
    import numpy as np
    from PIL import Image

    from fashion_lab.plots import plot_misclassified

    images = np.random.default_rng(0).integers(0, 255, (36, 28, 28), dtype=np.uint8)
    plot_misclassified(images, [0] * 36, [1] * 36, [str(i) for i in range(10)], tmp_path / "grid.png",
                       confidence=[0.9] * 36, title="1,234 of 10,000 test images misclassified")
    pixels = np.asarray(Image.open(tmp_path / "grid.png").convert("L"))
    blank = (pixels > 245).all(axis=1)
    longest, run = 0, 0
    for is_blank in blank[: len(blank) // 3]:
        run = run + 1 if is_blank else 0
        longest = max(longest, run)
    assert longest < 0.04 * len(pixels), f"{longest} blank rows out of {len(pixels)}"


def test_a_run_with_no_finished_epoch_plots_without_matplotlib_warnings(tmp_path):
    import warnings

    from fashion_lab.plots import plot_curves

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_curves({}, tmp_path / "curves.png", title="nothing yet")
    assert (tmp_path / "curves.png").is_file()


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_a_file_given_as_a_run_folder_is_named_as_a_file(tmp_path, command, capsys):
    path = tmp_path / "metrics.json"
    path.write_text("{}")
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a run directory" in err and "does not exist" not in err


def test_an_evaluation_of_an_interrupted_model_does_not_outlive_the_resume(tmp_path, synthetic_fashion, capsys):
    from fashion_lab import evaluate_run
    from fashion_lab.errors import TrainingInterrupted
    from fashion_lab.training import resume
    from test_reliability import InterruptAt

    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(TrainConfig(epochs=3, run_dir=str(run_dir)), callbacks=[InterruptAt(3)], verbose=False)
    result = evaluate_run(run_dir)
    assert "this run is partial: it was interrupted after epoch 2 of 3" in result["partial"]
    assert result["model"]["epoch"] == 2
    assert main(["evaluate", str(run_dir)]) == 0
    assert "note: this run is partial" in capsys.readouterr().out
    for name in ("evaluation.json", "confusion.png", "misclassified.png"):
        assert (run_dir / name).is_file()
    assert main(["report", str(run_dir)]) == 0
    assert "note: this run is partial" in capsys.readouterr().out
    assert "This run did not finish" in (run_dir / "report.html").read_text()
    old_evaluation = (run_dir / "evaluation.json").read_text()
    resume(run_dir, verbose=False)
    for name in ("evaluation.json", "confusion.png", "misclassified.png"):
        assert not (run_dir / name).exists(), f"{name} still describes the epoch-2 model"
    (run_dir / "evaluation.json").write_text(old_evaluation)  # as an older fashion-lab would have left it
    assert main(["report", str(run_dir)]) == 0
    page = (run_dir / "report.html").read_text()
    assert "describes the model of epoch 2, not the current model.keras" in page
    assert "This run did not finish" not in page and "accuracy (= recall)" not in page
    again = evaluate_run(run_dir)
    assert again["model"]["epoch"] == 3 and again["partial"] is None
    page = (run_dir / "report.html").read_text()
    assert "accuracy (= recall)" in page and "describes the model of epoch" not in page
