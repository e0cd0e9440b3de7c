"""benchmarks/bench.py's helpers (no timings here: the benchmark is run by `make bench`, not by tests)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("fashion_lab_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_of_the_seed_recipe(bench):
    params = bench.dense_params([128])
    assert params == 101_770
    assert bench.train_flops(params, 60_000, 5) == pytest.approx(183.186e9)


def test_compile_is_first_epoch_minus_a_steady_one(bench):
    assert bench.split_compile([2.0, 0.5, 0.7, 0.5]) == (1.5, 0.5)
    compile_s, steady = bench.split_compile([1.0])
    assert compile_s != compile_s and steady != steady  # NaN: one epoch cannot be split


@pytest.mark.parametrize("text, expected", [(None, None), ("c,a", ["A", "C"]), ("B, torch", ["B", "torch"]),
                                           ("together", ["together"])],
                         ids=["all", "lower-case", "peer", "section"])
def test_only_picks_methods_in_table_order(bench, text, expected):
    assert bench.parse_only(text) == (expected or [*bench.METHODS, *bench.SECTIONS])


def test_only_rejects_unknown_methods(bench):
    with pytest.raises(ValueError, match="unknown methods \\['E'\\]; choose from: A, B, C"):
        bench.parse_only("A,E")


def test_targets_and_table(bench):
    rows = {"A": {"fit_s": 2.0, "test_accuracy": 0.87}, "B": {"fit_s": 5.0, "test_accuracy": 0.865},
            "C": {"fit_s": 1.9, "test_accuracy": 0.872}}
    met = {t["target"]: t["met"] for t in bench.check_targets(rows, {"help_s": 0.6, "reload_s": 0.05})}
    assert met == {"A within 1.10x of C (fit s)": True, "A test accuracy within 0.01 of B": True,
                   "A at least 1.8x faster than B": True, "`fashion-lab --help` < 0.5 s": False,
                   "second dataset load < 0.2 s": True}
    assert bench.machine_slug("AMD EPYC 7B13 64-Core Processor", 2) == "amd-epyc-7b13-64-core-processor-2c"


def test_together_table(bench):
    row = {"k": 4, "alone_s": 20.0, "together_s": 10.0, "alone_fit_s": 12.0, "together_fit_s": 5.0,
           "max_loss_gap": 0.0, "max_accuracy_gap": 0.0, "alone_per_min": 12.0, "together_per_min": 24.0, "gain": 2.0}
    lines = bench.together_markdown({"rows": [row], "repeats": 3})
    assert "median of 3" in lines[1]
    assert "| 4 | 20.0 | 12.0 | 10.0 | 24.0 | 2.00x | 12.0 | 5.0 | 0.0e+00 | 0.0000 |" in lines


def test_help_runs_without_heavy_imports():
    out = subprocess.run([sys.executable, str(BENCH), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--quick" in out and "--only" in out and "--peer-python" in out


def test_whole_command_targets_of_issue_15(bench):
    extra = {"train_first_s": 7.0, "train_first_fit_s": 4.0, "train_repeat_s": 5.0, "train_repeat_fit_s": 4.0,
             "train_repeat_rss_mb": 650, "predict_one_s": 1.2, "evaluate_s": 1.5, "layer_size_first_s": 30.0,
             "layer_size_repeat_s": 24.0, "layer_size_first_rss_mb": 950, "layer_size_repeat_rss_mb": 850}
    met = {t["target"]: (t["value"], t["met"]) for t in bench.check_targets({}, extra)}
    assert met["`fashion-lab train` first run at most 2.0x its fit seconds (issue 15)"] == ("1.75x", True)
    assert met["`fashion-lab train` repeat run at most 1.5x its fit seconds (issue 15)"] == ("1.25x", True)
    assert met["`fashion-lab predict RUN IMAGE`, one image at most 1 s (issue 15)"] == ("1.20 s", False)
    assert met["default `experiment layer-size`, first run at most 25 s (issue 15)"] == ("30.00 s", False)
    assert met["default `experiment layer-size`, repeat run at most 25 s (issue 15)"] == ("24.00 s", True)
    assert met["`experiment layer-size` peak RSS, first run at most 900 MB (issue 15)"] == ("950 MB", False)
    assert met["`experiment layer-size` peak RSS, repeat run at most 900 MB (issue 15)"] == ("850 MB", True)
    # the repeat ratio is the median of the runs' own ratios when the bench measured it so
    medians = {t["target"]: t["value"] for t in bench.check_targets({}, {**extra, "train_repeat_over_fit": 1.4})}
    assert medians["`fashion-lab train` repeat run at most 1.5x its fit seconds (issue 15)"] == "1.40x"
    assert met["`fashion-lab train` peak RSS at most 700 MB (issue 15)"] == ("650 MB", True)
