"""HTML reports: self-contained, rebuilt by `fashion-lab report`, and rendered by a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from fashion_lab import TrainConfig, train
from fashion_lab.cli import main
from fashion_lab.experiments import EXPERIMENTS, ExperimentOptions, run_experiment
from fashion_lab.report import format_value, html_table, run_findings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    for external in ("<script", "<link", "src=\"http", "url(http", "@import", "@font-face"):
        assert external not in page, external
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]+)"', page))


@pytest.fixture
def run_dir(tmp_path, synthetic_fashion):
    return train(TrainConfig(epochs=2, validation_split=0.2, run_dir=str(tmp_path / "run")), verbose=False).dir


def test_train_writes_a_self_contained_report(run_dir):
    page = (run_dir / "report.html").read_text()
    _assert_self_contained(page)
    assert page.count("data:image/png;base64,") == 1  # curves.png
    for text in ("What was run", "Findings", "validation", "test", "Per epoch", "hidden"):
        assert text in page


def test_report_command_rebuilds_a_run_report_with_new_plots(run_dir, capsys):
    (run_dir / "report.html").unlink()
    shutil.copy(run_dir / "curves.png", run_dir / "misclassified.png")  # e.g. written later by fashion-lab evaluate
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "true -&gt; predicted" in page


def test_report_command_rebuilds_an_experiment_folder(tmp_path, synthetic_fashion):
    out = tmp_path / "ls"
    run_experiment("layer-size", ExperimentOptions(hidden=(8, 16), epochs=1), out=out, verbose=False)
    before = (out / "results.csv").read_text()
    for name in ("results.csv", "accuracy_vs_size.png", "time_vs_size.png", "report.html"):
        (out / name).unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "results.csv").read_text() == before
    page = (out / "report.html").read_text()
    _assert_self_contained(page)
    assert page.count("data:image/png;base64,") == 2


def test_report_of_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "holds neither results.json" in err and "Traceback" not in err


def test_cli_experiment_runs_and_refuses_foreign_options(tmp_path, synthetic_fashion, capsys):
    assert main(["experiment", "no-flatten", "--out", str(tmp_path / "nf"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "finding: Without Flatten the model outputs shape (None, 28, 10)" in out and "report:" in out
    assert main(["experiment", "normalization", "--target", "0.9"]) == 2
    assert "--target does not apply to the normalization experiment" in capsys.readouterr().err


def test_cli_experiment_help_lists_every_registered_experiment_with_its_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main(["experiment", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for experiment in EXPERIMENTS.values():
        assert f"  {experiment.name:<14} {experiment.summary}" in out
    assert "(defaults: --hidden 16 32 64 128 256 512 1024 --epochs 5 --repeats 1; also --predict)" in out
    assert "(defaults: --hidden 128 --epochs 20 --target 0.85)" in out


def test_train_early_stopping_keeps_the_best_weights(tmp_path, synthetic_fashion, capsys):
    args = ["train", "--epochs", "6", "--validation-split", "0.2", "--early-stopping", "1", "--run-dir", str(tmp_path / "es")]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "es" / "metrics.json").read_text())
    assert metrics["restored_best"] is True
    history = [float(line.split(",")[3]) for line in (tmp_path / "es" / "history.csv").read_text().splitlines()[1:]]
    assert metrics["best_epoch"] == 1 + history.index(min(history))
    assert metrics["validation_loss"] == pytest.approx(min(history))
    # The saved model is the best epoch's, not the last one's: its validation loss is the minimum.
    from fashion_lab import load_run, normalize, open_dataset
    from fashion_lab.training import split_validation

    run = load_run(tmp_path / "es")
    ds = open_dataset("fashion_mnist")
    _, (x_val, y_val) = split_validation(normalize(ds.x_train), ds.y_train.astype("int32"), 0.2, run.config.seed)
    saved_loss = run.load_model().evaluate(x_val, y_val, verbose=0)[0]
    assert saved_loss == pytest.approx(min(history), rel=1e-4)
    if metrics["best_epoch"] < len(history):
        assert saved_loss != pytest.approx(history[-1], rel=1e-4)
    assert main(["train", "--early-stopping", "2"]) == 2
    assert "needs a validation split" in capsys.readouterr().err


def test_format_and_table_helpers():
    assert format_value(0.5, "f2") == "0.50" and format_value(1234567, "int") == "1,234,567"
    page = html_table([{"key": "a", "label": "acc", "format": "f3", "split": "validation"}], [{"a": 0.5, "a_std": 0.01}])
    assert "0.500 ± 0.010" in page and 'class="validation"' in page
    assert "interrupted" in run_findings({"interrupted": True, "epochs_run": 2}, {})[0]


@pytest.mark.browser
# CI sets FASHION_LAB_REQUIRE_BROWSER=1 so a missing Chromium fails there instead of skipping.
@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("FASHION_LAB_REQUIRE_BROWSER"),
                    reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_with_its_images_in_headless_chromium(run_dir, tmp_path):
    from PIL import Image

    assert CHROMIUM, "FASHION_LAB_REQUIRE_BROWSER is set but Chromium is not installed (apt-get install chromium)"

    # A copy of the report with a probe script: it writes each image's natural width into the DOM.
    probe = tmp_path / "probe.html"
    probe.write_text((run_dir / "report.html").read_text().replace(
        "</body>", "<script>window.addEventListener('load', () => document.body.setAttribute('data-widths', "
                   "Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0).join(',')));</script></body>"))
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    widths = re.search(r'data-widths="([^"]*)"', dom)
    assert widths, dom[:500]
    assert [int(w) for w in widths.group(1).split(",")] and all(int(w) > 0 for w in widths.group(1).split(","))
    # The unmodified report as a screenshot: not blank.
    shot = tmp_path / "shot.png"
    subprocess.run(flags + ["--window-size=1200,1600", f"--screenshot={shot}", (run_dir / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    colours = Image.open(shot).convert("L").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20


def test_run_findings_name_the_stopping_rule():
    metrics = {"epochs_run": 7, "fit_seconds": 5.7, "samples_per_second": 66000.0, "train_accuracy": 0.9,
               "test_accuracy": 0.876, "validation_accuracy": 0.885, "best_epoch": 5, "restored_best": True,
               "stopped_early": True}
    findings = run_findings(metrics, {}, {"epochs": 20, "early_stopping": 2})
    assert findings[1].endswith("the lowest validation loss was at epoch 5, whose weights the model keeps.")
    assert findings[2] == "Training stopped early, after 7 of 20 epochs, when validation loss had not improved for 2 epochs."
