"""The command line: main([...]) as a user would call it; user errors are exit code 2 with one clear paragraph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_lab.cli import main


def test_data_command_reports_source_and_counts(synthetic_fashion, capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert "source:  system package" in out and "verified: yes" in out
    assert "train: images (600, 28, 28) uint8" in out
    assert "Ankle boot" in out and "    9  Ankle boot        60      20" in out


def test_show_prints_label_pixels_and_saves_png(synthetic_fashion, tmp_path, capsys):
    out_png = tmp_path / "img.png"
    assert main(["show", "3", "--split", "test", "--out", str(out_png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Label: ") and "Image Pixel Array:" in out
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(out_png).size == (224, 224)


def test_show_index_out_of_range(synthetic_fashion, capsys):
    assert main(["show", "200", "--split", "test"]) == 2
    assert "valid indices are 0 to 199" in capsys.readouterr().err


def test_train_and_evaluate(synthetic_fashion, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--hidden", "32", "16", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2:" in out and "epoch 2/2:" in out and f"results: {run_dir}" in out
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "Ankle boot" in out
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert len(evaluation["confusion_matrix"]) == 10
    assert sum(map(sum, evaluation["confusion_matrix"])) == 200
    assert (run_dir / "confusion.png").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert evaluation["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert evaluation["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)  # one loss, computed one way


def test_stop_at_accuracy_flag(synthetic_fashion, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--stop-at-accuracy", "0.05", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert "Reached 5% accuracy so cancelling training!" in capsys.readouterr().out
    assert json.loads((run_dir / "metrics.json").read_text())["stopped_early"] is True


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "0"], "--epochs: must be a positive integer, got '0'"),
        (["train", "--epochs", "two"], "--epochs: must be a positive integer"),
        (["train", "--hidden", "128", "-4"], "--hidden: must be a positive integer"),
        (["train", "--batch-size", "0"], "--batch-size: must be a positive integer"),
        (["train", "--stop-at-accuracy", "60"], "must be in (0, 1], got '60'; for 60% pass 0.6"),
        (["train", "--validation-split", "1"], "must be in (0, 1), got '1'"),
        (["train", "--dataset", "fmnist"], "invalid choice: 'fmnist' (choose from 'fashion_mnist', 'mnist', 'mnist_10k')"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=["epochs-0", "epochs-word", "hidden-neg", "batch-0", "target-60", "split-1", "dataset", "command"],
)
def test_bad_arguments_exit_2_with_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_dir_is_one_paragraph_exit_2(tmp_path, capsys):
    assert main(["train", "--data-dir", str(tmp_path / "nope"), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fashion-lab train: error: --data-dir") and "is not a folder" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_evaluate_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_console_script_help_and_error_without_traceback(tmp_path):
    exe = str(Path(sys.executable).parent / "fashion-lab")  # the one installed beside this interpreter
    done = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "train" in done.stdout and "evaluate" in done.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"")
    done = subprocess.run([exe, "data", "--data-dir", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "train-images-idx3-ubyte.gz is empty" in done.stderr


def test_the_parser_reads_its_defaults_without_numpy_or_keras():
    # `fashion-lab --help` builds the whole parser; its defaults and choices come from TrainConfig and the
    # registries, which must stay light for the help to answer at once.
    # A config option not typed is absent from the arguments, so a preset's value stands unless one is typed;
    # with a stop target and no --epochs (nor a preset), training runs up to EPOCHS_WITH_TARGET epochs.
    code = ("import sys; from fashion_lab.cli import build_parser, _given_config, _epochs_ceiling; "
            "from fashion_lab.presets import resolve; parser = build_parser(); parser.format_help(); "
            "plain, preset = parser.parse_args(['train']), parser.parse_args(['train', '--preset', 'best-mlp', '--epochs', '3']); "
            "target = _given_config(parser.parse_args(['train', '--stop-at-accuracy', '0.99'])); "
            "print('epochs' in vars(plain), resolve(None).epochs, resolve(preset.preset, epochs=preset.epochs).epochs, "
            "_epochs_ceiling(target)['epochs'], resolve(preset.preset).dataset, "
            "sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'keras', 'jax'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "5", "3", "10", "fashion_mnist", "[]"]


@pytest.mark.parametrize("argv, message", [
    (["train", "--seed", "-1"], "--seed: must be a whole number from 0 to 2147483647, got '-1'"),
    (["train", "--learning-rate", "0"], "--learning-rate: must be a number > 0, got '0'; the seed uses 0.001"),
    (["train", "--stop-at-accuracy", "high"], "must be a number in (0, 1], got 'high'; for 60% pass 0.6"),
    (["experiment", "layer-size", "--repeats", "1.5"], "--repeats: must be a positive integer, got '1.5'"),
    (["show", "-1"], "index: must be a whole number >= 0, got '-1'"),
], ids=["seed", "learning-rate", "target-word", "repeats", "index"])
def test_argument_types_say_the_library_rule_about_the_typed_text(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_mnist_exercise_path_on_synthetic_idx_files(synthetic_dir, tmp_path, capsys):
    # The seed's MNIST exercise (stop at 99% in fewer than 9 epochs), on IDX files in MNIST's layout made
    # by the tests: there is no offline MNIST here, and made-up files cannot match its pinned checksums.
    run_dir = tmp_path / "mnist"
    argv = ["train", "--dataset", "mnist", "--data-dir", str(synthetic_dir), "--no-verify", "--hidden", "512",
            "--stop-at-accuracy", "0.99", "--epochs", "9", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "data: mnist from --data-dir" in out and "(not verified)" in out
    assert "Reached 99% accuracy so cancelling training!" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["stopped_early"] is True and metrics["epochs_run"] < 9
    assert json.loads((run_dir / "config.json").read_text())["config"]["dataset"] == "mnist"


def test_unwritable_png_is_a_user_error_naming_the_option(synthetic_fashion, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(["show", "3", "--out", str(blocker / "img.png")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "--out" in err and "Traceback" not in err
