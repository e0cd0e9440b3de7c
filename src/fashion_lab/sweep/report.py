"""A sweep's ``report.html``: findings, what was searched, the trials table, the best trial, Optuna's plots.

Drawn only from ``results.json`` (and the PNGs beside it), like the experiments' reports, so it opens
offline and can be rebuilt.

Example:
    >>> from fashion_lab.sweep.report import write_sweep_report
    >>> write_sweep_report("sweeps/demo", data)  # doctest: +SKIP
    PosixPath('sweeps/demo/report.html')
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from .. import _atomic
from ..report import REPORT, SPLIT_LEGEND, figure, findings_list, html_table, key_value_table, page


def shown(value: Any) -> str:
    """An option's value for people: floats to 4 significant digits (``0.003035``), the rest as written."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_sweep_report(folder: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``folder/report.html`` from a sweep's results (the content of ``results.json``)."""
    folder = Path(folder)
    settings = data["settings"]
    options = list(data["space"]["params"])
    what = key_value_table({"study": data["study"], "storage": data["storage"], "trials asked": settings["trials"],
                            "sampler": settings["sampler"], "pruner": settings["pruner"],
                            "objective": f"validation {settings['objective']}", "sampler seed": settings["seed"],
                            "workers on this machine": data["workers"]})
    what += "<h3>Search space</h3>" + findings_list(data["space_lines"])
    split = "validation"
    columns = ([{"key": "trial", "label": "trial", "format": "int"}, {"key": "state", "label": "state", "format": "text"},
                {"key": "value", "label": f"objective (validation {settings['objective']})", "format": "f4", "split": split}]
               + [{"key": o, "label": o, "format": "text"} for o in options]
               + [{"key": "validation_accuracy", "label": "validation accuracy", "format": "f4", "split": split},
                  {"key": "train_accuracy", "label": "train accuracy", "format": "f4", "split": "train"},
                  {"key": "epochs_run", "label": "epochs", "format": "int"},
                  {"key": "fit_seconds", "label": "fit s", "format": "f2"},
                  {"key": "retry_of", "label": "retry of", "format": "text"},
                  {"key": "failure", "label": "failure", "format": "text"},
                  {"key": "run", "label": "run", "format": "text"}])
    rows = [{**r, **{o: shown(r.get(o)) for o in options},
             "retry_of": "" if r.get("retry_of") is None else str(r["retry_of"])} for r in data["rows"]]
    sections = [("Findings", findings_list(data["findings"])), ("What was searched", what)]
    best, test = data.get("best"), data.get("test")
    if best:
        body = key_value_table({"trial": best["trial"], **{k: shown(v) for k, v in best["options"].items()},
                                f"validation {settings['objective']}": round(best["value"], 4),
                                **({"test accuracy (measured once)": round(test["test_accuracy"], 4),
                                    "test loss": round(test["test_loss"], 4)} if test else {})})
        if best.get("run"):
            body += (f'<p>Its run directory: <a href="{html.escape(best["run"])}/report.html">'
                     f'<code>{html.escape(best["run"])}</code></a> (model, history, evaluation).</p>')
        sections.append(("Best trial", body))
    sections.append(("Trials", html_table(columns, rows) + '<p class="note">Also in <code>results.csv</code>.</p>'))
    plots = data.get("plots", [])
    if plots or data.get("plots_left_out"):
        body = "".join(figure(folder / p["file"], p["caption"]) for p in plots)
        if data.get("plots_left_out"):
            body += '<p class="note">Not drawn: ' + html.escape("; ".join(data["plots_left_out"])) + "</p>"
        sections.append(("Plots", body))
    sections.append(("Validation and test", "<p>" + html.escape(
        "Trials are compared and chosen on the validation split (held out of the training images, seeded); the "
        "pruner also sees only validation numbers. The test set is evaluated once, for the best trial, after the "
        "search, and reported only: no trial's test number was used to choose.") + "</p>" + SPLIT_LEGEND))
    footer = f"Created {data.get('created', '')}; took {data.get('elapsed_seconds', 0):.1f} s; results.json holds every number in this page."
    path = folder / REPORT
    _atomic.write_text(path, page(f"Sweep {data['study']}",
                                  f"fashion-lab sweep: {settings['trials']} trials, {settings['sampler']} sampler, "
                                  f"{settings['pruner']} pruning", sections, footer))
    return path


__all__ = ["write_sweep_report"]
