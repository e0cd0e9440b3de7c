"""A finished sweep's results: the best trial tested once, ``results.csv``/``results.json``, Optuna's plots, ``report.html``.

Trials are chosen on the validation split only. The test set is evaluated once, for the best trial,
after the search (``fashion-lab evaluate`` on its run directory: ``evaluation.json``, ``confusion.png``,
``misclassified.png``, and its ``metrics.json``/``report.html`` gain the test numbers); every other
trial's ``metrics.json`` says ``"test_held_out": true``.

Example:
    >>> rows = [{"trial": 0, "state": "COMPLETE", "value": 0.85}, {"trial": 1, "state": "PRUNED", "value": 0.7}]
    >>> summary_counts(rows)
    {'COMPLETE': 1, 'PRUNED': 1}
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .. import _atomic, runs
from ..errors import RunError
from .space import sizes_label

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
PLOTS = (  # file, Optuna's matplotlib function, caption
    ("optimization_history.png", "plot_optimization_history", "Objective of each finished trial and the best so far."),
    ("param_importances.png", "plot_param_importances", "How much each option explains the objective (PED-ANOVA)."),
    ("parallel_coordinate.png", "plot_parallel_coordinate", "Each trial's options and objective, one line per trial."),
)
TRIAL_COLUMNS = ("trial", "state", "value", "validation_accuracy", "validation_loss", "train_accuracy", "epochs_run",
                 "fit_seconds", "params_count", "retry_of", "failure", "worker", "host", "run")


def trial_rows(study, space) -> list[dict[str, Any]]:
    """One row per trial: number, state, objective, the chosen options, measurements and where it ran."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        a = t.user_attrs
        row = {"trial": t.number, "state": t.state.name, "value": t.value,
               **{k: a.get(k) for k in ("validation_accuracy", "validation_loss", "train_accuracy", "epochs_run",
                                        "fit_seconds")},
               "params_count": a.get("params"), "retry_of": t.system_attrs.get("failed_trial"),
               "failure": a.get("failure"), "worker": a.get("worker"), "host": a.get("host"), "run": a.get("run")}
        row.update(_options(t.params, space))
        rows.append(row)
    return rows


def _options(params: dict[str, Any], space) -> dict[str, Any]:
    """The trial's TrainConfig options from Optuna's parameters (``hidden_1``, ``hidden_2`` -> ``hidden``)."""
    out = {}
    for name, param in space.params.items():
        if param.kind == "sizes" and param.choices is None:
            sizes = [params[k] for k in sorted((k for k in params if k.startswith(f"{name}_") and k[len(name) + 1:].isdigit()),
                                               key=lambda k: int(k[len(name) + 1:]))]
            out[name] = sizes_label(sizes) if sizes else None
        else:
            out[name] = params.get(name)
    return out


def summary_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many trials ended in each state."""
    return dict(Counter(r["state"] for r in rows))


def write_csv(path: Path, rows: list[dict[str, Any]], option_names: list[str]) -> None:
    columns = ["trial", "state", "value", *option_names, *TRIAL_COLUMNS[3:]]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    _atomic.write_text(path, buffer.getvalue())


def draw_plots(study, folder: Path, objective_label: str) -> tuple[list[dict[str, str]], list[str]]:
    """Optuna's matplotlib plots as PNGs; returns the drawn ``{"file", "caption"}`` and why any was left out."""
    import warnings

    from ..plots import pyplot, save_figure

    plt = pyplot()  # the Agg backend, chosen before Optuna imports pyplot
    import optuna.visualization.matplotlib as ovm

    drawn, skipped = [], []
    for file, function, caption in PLOTS:
        plt.close("all")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kwargs = {"target_name": objective_label} if function != "plot_param_importances" else {}
                axes = getattr(ovm, function)(study, **kwargs)
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            skipped.append(f"{file}: {e}")
            continue
        figure = (axes[0] if hasattr(axes, "__len__") else axes).figure
        figure.set_size_inches(9, 5)
        save_figure(figure, folder / file)
        drawn.append({"file": file, "caption": caption})
    return drawn, skipped


def evaluate_best(folder: Path, study, best, dataset=None) -> dict[str, Any] | None:
    """Evaluate the best trial's model on the test set, once; its run gains the test numbers and the evaluation.

    Returns ``{"trial", "test_accuracy", "test_loss", "run"}``, or None when the best trial's run directory is not
    on this machine (it ran elsewhere; run the same command where it is, or share the sweep folder).
    An earlier call's result for the same trial is reused, not measured again.
    """
    stored = study.user_attrs.get("best_test")
    if stored and stored.get("trial") == best.number:
        return stored
    run_dir = folder / best.user_attrs.get("run", f"runs/trial-{best.number:04d}")
    if not (run_dir / runs.MODEL).is_file():
        return None
    from ..evaluation import evaluate_run
    from ..report import write_run_report

    evaluation = evaluate_run(run_dir, dataset=dataset)
    metrics = runs.read_json(run_dir / runs.METRICS)
    metrics.pop("test_held_out", None)
    metrics.update(test_accuracy=evaluation["test_accuracy"], test_loss=evaluation["test_loss"],
                   tested=f"once, after the search, as the best of {len(study.trials)} trials of sweep {study.study_name}")
    _atomic.write_json(run_dir / runs.METRICS, metrics)
    write_run_report(run_dir)
    result = {"trial": best.number, "test_accuracy": evaluation["test_accuracy"], "test_loss": evaluation["test_loss"],
              "run": str(run_dir.relative_to(folder))}
    study.set_user_attr("best_test", result)  # machines sharing the study report the same, measured once
    return result


def findings(data: dict[str, Any]) -> list[str]:
    """The report's sentences, each from the numbers in ``data``."""
    counts, best, test = data["counts"], data.get("best"), data.get("test")
    finished = counts.get("COMPLETE", 0) + counts.get("PRUNED", 0)
    out = [f"{finished} trials finished ({counts.get('COMPLETE', 0)} complete, {counts.get('PRUNED', 0)} pruned early"
           + (f", plus {counts['FAIL']} failed" if counts.get("FAIL") else "") + f") in {data['elapsed_seconds']:.0f} s "
           f"with {data['workers']} worker{'s' if data['workers'] != 1 else ''} on this machine."]
    if best:
        options = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in best["options"].items())
        out.append(f"Best trial: {best['trial']} ({options}) with validation {data['settings']['objective']} "
                   f"{best['value']:.4f}.")
    if test:
        out.append(f"Its test accuracy, measured once after the search and used for nothing else, is "
                   f"{test['test_accuracy']:.4f} (test loss {test['test_loss']:.4f}).")
    elif best:
        out.append("The best trial ran on another machine; its test accuracy is measured where its run directory is.")
    retried = [r for r in data["rows"] if r.get("retry_of") is not None]
    if retried:
        out.append(f"{len(retried)} trial{'s were' if len(retried) != 1 else ' was'} a retry of one whose worker died "
                   f"or was interrupted ({', '.join(str(r['retry_of']) for r in retried)}).")
    return out


def write_results(folder: Path, study, space, settings, *, workers: int, elapsed: float, storage: str,
                  dataset=None) -> dict[str, Any]:
    """Write results.csv, results.json, the plots and report.html for the sweep in ``folder``; returns the data."""
    from optuna.trial import TrialState

    rows = trial_rows(study, space)
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        raise RunError(f"no trial of study {study.study_name!r} completed (see {folder / RESULTS_CSV}); "
                       f"check the failures there and the search space.")
    best = study.best_trial
    test = evaluate_best(folder, study, best, dataset)
    option_names = list(space.params)
    data = {
        "kind": "sweep",
        "study": study.study_name,
        "storage": storage,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_seconds": round(elapsed, 2),
        "workers": workers,
        "settings": settings.to_dict(),
        "space": space.to_dict(),
        "space_lines": space.describe(),
        "counts": summary_counts(rows),
        "best": {"trial": best.number, "value": best.value, "options": _options(best.params, space),
                 "run": best.user_attrs.get("run")},
        "test": test,
        "rows": rows,
    }
    data["findings"] = findings(data)
    write_csv(folder / RESULTS_CSV, rows, option_names)
    _atomic.write_json(folder / RESULTS_JSON, data)
    plots, skipped = draw_plots(study, folder, f"validation {settings.objective}")
    data["plots"], data["plots_left_out"] = plots, skipped
    _atomic.write_json(folder / RESULTS_JSON, data)
    from .report import write_sweep_report

    write_sweep_report(folder, data)
    return data


__all__ = ["RESULTS_CSV", "RESULTS_JSON", "draw_plots", "findings", "evaluate_best", "trial_rows", "write_results"]
