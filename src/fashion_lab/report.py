"""Self-contained HTML reports of runs and experiments: one file that opens offline.

A report holds a title, what was run (the configuration), the findings in one sentence each, the
tables and the plots. Images are embedded as base64 ``data:`` URIs and the styles are inline, so the
file needs no network, no scripts and no fonts beyond the browser's own. Reports are drawn only from
what a folder already holds (``results.json`` of an experiment, or ``config.json``/``metrics.json``/
``history.csv`` of a run), so ``fashion-lab report DIR`` can always rebuild them (:mod:`fashion_lab.rebuild`
chooses which). This module only renders: it imports nothing above it.

Example:
    >>> from fashion_lab.report import write_run_report
    >>> write_run_report("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    PosixPath('runs/20261127-101500-fashion_mnist-h128/report.html')
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _atomic, runs

REPORT = runs.REPORT
SPLIT_NOTE_RUN = (
    "Training numbers are measured on the images the model was fitted on; validation numbers on the images held "
    "out of the training set (used to compare and choose); test numbers on the separate test set, only reported."
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#555;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .55rem;text-align:right}th{background:#f3f3f3}
td.text,th.text{text-align:left}th.validation{background:#e6f0ff}th.test{background:#fff0e0}th.train{background:#eef7ee}
.note{color:#444;font-size:.9rem}.findings li{margin:.3rem 0}figure{margin:1rem 0}
figure img{max-width:100%;border:1px solid #e3e3e3}figcaption{color:#444;font-size:.9rem}
code,pre{background:#f6f6f6;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem;white-space:pre-wrap}
.legend span{padding:0 .4rem;margin-right:.5rem}footer{margin-top:2.5rem;color:#777;font-size:.8rem}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_value(value: Any, fmt: str = "auto") -> str:
    """A cell's text: ``int`` with thousands separators, ``f2``/``f3``/``f4`` decimals, ``text`` as is.

    Example:
        >>> format_value(101770, "int"), format_value(0.87654, "f4"), format_value(None), format_value(True)
        ('101,770', '0.8765', '-', 'yes')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if fmt == "int" and isinstance(value, (int, float)):
        return f"{round(value):,}"
    if fmt.startswith("f") and fmt[1:].isdigit() and isinstance(value, (int, float)):
        return f"{value:.{int(fmt[1:])}f}"
    if fmt == "auto" and isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if fmt == "auto" and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def html_table(columns: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> str:
    """An HTML table. Each column is ``{"key", "label", "format", "split"}``; a row's ``<key>_std``, when
    present and non-zero, is shown as ``mean ± std``; headers are coloured by split (train/validation/test)."""
    head = "".join(
        f'<th class="{_esc(c.get("split") or ("text" if c.get("format") == "text" else ""))}">{_esc(c["label"])}</th>'
        for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            fmt = c.get("format", "auto")
            text = format_value(row.get(c["key"]), fmt)
            std = row.get(f"{c['key']}_std")
            if std:
                text += f" ± {format_value(std, fmt if fmt != 'int' else 'auto')}"
            cells.append(f'<td class="{"text" if fmt == "text" else ""}">{_esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_value_table(items: dict[str, Any], heading: str = "setting") -> str:
    """A two-column table: ``heading`` and value."""
    rows = [{"key": k, "value": format_value(v)} for k, v in items.items()]
    return html_table([{"key": "key", "label": heading, "format": "text"},
                       {"key": "value", "label": "value", "format": "text"}], rows)


def embed_png(path: str | os.PathLike[str], alt: str = "") -> str:
    """An ``<img>`` whose PNG is embedded as a base64 data URI, so the page needs no other file."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt or Path(path).name)}">'


def figure(path: str | os.PathLike[str], caption: str = "") -> str:
    path = Path(path)
    if not path.is_file():
        return f'<p class="note">(plot {_esc(path.name)} is missing; run <code>fashion-lab report</code> again)</p>'
    return f"<figure>{embed_png(path, caption)}<figcaption>{_esc(caption or path.name)}</figcaption></figure>"


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]], footer: str = "") -> str:
    """A whole HTML document: title, subtitle, then ``(heading, inner html)`` sections."""
    parts = [f"<h2>{_esc(h)}</h2>\n{body}" if h else body for h, body in sections]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{_esc(title)}</h1>\n<p class=\"sub\">{_esc(subtitle)}</p>\n" + "\n".join(parts)
        + f"\n<footer>{_esc(footer)}</footer>\n</body></html>\n"
    )


def _findings(findings: Sequence[str]) -> str:
    return '<ul class="findings">' + "".join(f"<li>{_esc(f)}</li>" for f in findings) + "</ul>"


_SPLIT_LEGEND = ('<p class="legend note">Column colours: <span style="background:#eef7ee">training</span>'
                 '<span style="background:#e6f0ff">validation (used to compare)</span>'
                 '<span style="background:#fff0e0">test (reported only)</span></p>')


# --------------------------------------------------------------------------------------------------
# Experiments


def _what_was_run(settings: dict[str, Any], dataset: dict[str, Any], command: Sequence[str] | None) -> str:
    """The "What was run" section: the settings, where the data came from, the split sizes and the command."""
    sizes = f"{dataset.get('train', 0):,} / {dataset.get('validation', 0):,} / {dataset.get('test', 0):,}"
    what = key_value_table({**settings, "data source": dataset.get("source"), "images (train / validation / test)": sizes})
    if command:
        what += f"<p>Command: <code>{_esc(' '.join(command))}</code></p>"
    return what


def write_experiment_report(folder: str | os.PathLike[str], data: dict[str, Any], plots: Sequence[dict] = ()) -> Path:
    """Write ``report.html`` for an experiment folder from its results (the content of ``results.json``) and the
    plots drawn from them (``{"file", "caption"}`` each, files in ``folder``)."""
    folder = Path(folder)
    opts = {k: v for k, v in data.get("options", {}).items() if v not in (None, (), [], False) or k == "verify"}
    what = _what_was_run(opts, data.get("dataset", {}), data.get("command"))
    sections = [("Findings", _findings(data.get("findings", []))), ("What was run", what)]
    if data.get("explanation"):
        sections.append(("Why", f"<p>{_esc(data['explanation'])}</p>"))
    error = (data.get("analysis") or {}).get("error") if isinstance(data.get("analysis"), dict) else None
    if error:
        sections.append(("The error of one training step",
                         f"<pre>{_esc(error['type'])}: {_esc(error['message'])}</pre>"))
    for tab in data.get("tables", []):
        body = html_table(tab["columns"], tab["rows"])
        if tab.get("note"):
            body += f'<p class="note">{_esc(tab["note"])}</p>'
        body += f'<p class="note">Also in <code>{_esc(tab["name"])}.csv</code>.</p>'
        sections.append((tab["title"], body))
    if plots:
        sections.append(("Plots", "".join(figure(folder / p["file"], p.get("caption", "")) for p in plots)))
    sections.append(("Validation and test", f"<p>{_esc(data.get('splits_note', ''))}</p>" + _SPLIT_LEGEND))
    subtitle = f"fashion-lab experiment {data.get('experiment')}: {data.get('summary', '')}"
    footer = (f"Created {data.get('created', '')}; took {data.get('elapsed_seconds', 0):.1f} s; "
              f"results.json holds every number in this page.")
    path = folder / REPORT
    _atomic.write_text(path, page(data.get("title", "Experiment"), subtitle, sections, footer))
    return path


# --------------------------------------------------------------------------------------------------
# Runs


_METRIC_ROWS = (  # key, label, split
    ("train_loss", "loss", "train"), ("train_accuracy", "accuracy", "train"),
    ("validation_loss", "loss", "validation"), ("validation_accuracy", "accuracy", "validation"),
    ("test_loss", "loss", "test"), ("test_accuracy", "accuracy", "test"),
)
_RUN_IMAGES = {runs.CURVES: "Loss and accuracy per epoch.", runs.CONFUSION: "Confusion matrix on the test set.",
               runs.MISCLASSIFIED: "Misclassified test images: true -> predicted."}


def run_findings(metrics: dict[str, Any], history: dict[str, list[float]], config: dict[str, Any] | None = None) -> list[str]:
    """One-sentence findings about a single run, from its ``metrics.json`` and history.

    Example:
        >>> run_findings({"epochs_run": 5, "fit_seconds": 2.0, "samples_per_second": 150000.0,
        ...               "train_accuracy": 0.9, "test_accuracy": 0.87, "stopped_early": False}, {})[0]
        'After 5 epochs (fit 2.0 s, 150,000 samples/s) training accuracy is 0.9000 and test accuracy, reported only, 0.8700.'
    """
    if metrics.get("failed"):
        return [f"The run failed: {metrics.get('reason', 'unknown reason')}."]
    if metrics.get("interrupted"):
        return [f"The run was interrupted after {metrics.get('epochs_run', 0)} finished epochs; "
                f"continue it with {metrics.get('resume', 'fashion-lab train --resume RUN_DIR')}."]
    if "test_accuracy" not in metrics:
        return ["The run has no metrics yet: it did not finish."]
    n = metrics["epochs_run"]
    out = [f"After {n} epoch{'s' if n != 1 else ''} (fit {metrics['fit_seconds']:.1f} s, "
           f"{metrics['samples_per_second']:,.0f} samples/s) training accuracy is {metrics['train_accuracy']:.4f} and "
           f"test accuracy, reported only, {metrics['test_accuracy']:.4f}."]
    if metrics.get("validation_accuracy") is not None:
        sentence = f"Validation accuracy is {metrics['validation_accuracy']:.4f}"
        if metrics.get("best_epoch"):
            sentence += f"; the lowest validation loss was at epoch {metrics['best_epoch']}"
            if metrics.get("restored_best"):
                sentence += ", whose weights the model keeps"
        out.append(sentence + ".")
    if metrics.get("stopped_early"):
        config = config or {}
        rules = {"stop_at_accuracy": "training accuracy reached {:g}", "stop_at_loss": "training loss fell to {:g}",
                 "early_stopping": "validation loss had not improved for {} epochs"}
        rule = " or ".join(text.format(config[key]) for key, text in rules.items() if config.get(key) is not None)
        planned = f" of {config['epochs']}" if config.get("epochs") else ""
        out.append(f"Training stopped early, after {n}{planned} epochs, when {rule or 'a callback asked it to'}.")
    return out


def write_run_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` for a run directory from its saved files (config, metrics, history, PNGs)."""
    run = runs.load_run(run_dir)
    config = run.config.to_dict()
    shown = {k: v for k, v in config.items() if v not in (None, False) or k in ("normalize", "verify")}
    what = _what_was_run({**shown, "backend": run.info.get("backend")}, run.info.get("dataset", {}), run.info.get("command"))
    m = run.metrics
    metric_rows = [{"metric": label, "split": split, "value": m.get(key)} for key, label, split in _METRIC_ROWS
                   if m.get(key) is not None]
    metrics_html = html_table([{"key": "split", "label": "split", "format": "text"},
                               {"key": "metric", "label": "metric", "format": "text"},
                               {"key": "value", "label": "value", "format": "f4"}], metric_rows)
    other = {k: v for k, v in m.items() if k not in {r[0] for r in _METRIC_ROWS}}
    if other:
        metrics_html += key_value_table(other, heading="measurement")
    sections = [("Findings", _findings(run_findings(m, run.history, config))), ("What was run", what),
                ("Results", metrics_html + f'<p class="note">{_esc(SPLIT_NOTE_RUN)}</p>')]
    if run.history:  # load_run read history.csv, every column included
        full = run.history
        keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "samples_per_second") if k in full]
        n = len(full.get(keys[0], [])) if keys else 0
        rows = [{"epoch": i + 1, **{k: full[k][i] for k in keys if i < len(full[k])}} for i in range(n)]
        labels = {"loss": ("train loss", "train"), "accuracy": ("train accuracy", "train"),
                  "val_loss": ("validation loss", "validation"), "val_accuracy": ("validation accuracy", "validation"),
                  "epoch_seconds": ("seconds", None), "samples_per_second": ("samples/s", None)}
        cols = [{"key": "epoch", "label": "epoch", "format": "int"}] + [
            {"key": k, "label": labels[k][0], "format": "int" if k == "samples_per_second" else "f4", "split": labels[k][1]}
            for k in keys]
        sections.append(("Per epoch", html_table(cols, rows)))
    evaluation_path = run.dir / runs.EVALUATION
    if evaluation_path.is_file():
        sections.append(("Per class (test set)", _per_class_table(runs.read_json(evaluation_path))))
    images = [name for name in _RUN_IMAGES if (run.dir / name).is_file()]
    images += sorted(p.name for p in run.dir.glob("*.png") if p.name not in _RUN_IMAGES)
    if images:
        sections.append(("Plots", "".join(figure(run.dir / name, _RUN_IMAGES.get(name, name)) for name in images)))
    sections.append(("Splits", _SPLIT_LEGEND))
    versions = run.info.get("versions", {})
    footer = f"Created {run.info.get('created', '')}; " + ", ".join(f"{k} {v}" for k, v in versions.items())
    subtitle = (f"{config['dataset']}, hidden {config['hidden']}, "
                f"{m['params']:,} parameters" if "params" in m else f"{config['dataset']}, hidden {config['hidden']}")
    path = run.dir / REPORT
    _atomic.write_text(path, page(f"Run {run.dir.name}", subtitle, sections, footer))
    return path


def _per_class_table(evaluation: dict[str, Any]) -> str:
    # A class's accuracy is its recall (correct / images of the class), so one column shows both.
    per_class = evaluation.get("per_class_accuracy", {})
    precision = evaluation.get("per_class_precision")
    rows = [{"class": name, "accuracy": acc, **({"precision": precision.get(name)} if isinstance(precision, dict) else {})}
            for name, acc in per_class.items()]
    cols = [{"key": "class", "label": "class", "format": "text"},
            {"key": "accuracy", "label": "accuracy (= recall)", "format": "f3", "split": "test"}]
    if isinstance(precision, dict):
        cols.append({"key": "precision", "label": "precision", "format": "f3", "split": "test"})
    html = html_table(cols, rows) + (f'<p class="note">Test accuracy {evaluation["test_accuracy"]:.4f} on '
                                     f'{evaluation.get("test_images", 0):,} images.</p>' if "test_accuracy" in evaluation else "")
    if evaluation.get("most_confused"):  # written by fashion-lab evaluate (fashion_lab.mistakes)
        html += "<h3>Most confused pairs</h3>" + html_table(
            [{"key": "true", "label": "true class", "format": "text"},
             {"key": "predicted", "label": "predicted as", "format": "text"},
             {"key": "count", "label": "images", "format": "int", "split": "test"},
             {"key": "share_of_true", "label": "share of the true class", "format": "f3", "split": "test"}],
            evaluation["most_confused"])
    return html


__all__ = ["REPORT", "format_value", "html_table", "page", "run_findings", "write_experiment_report",
           "write_run_report"]
