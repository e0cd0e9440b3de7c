"""Result tables: columns that say how to print them and which split they were measured on, and their CSV files.

The same table feeds ``<name>.csv`` and the report's HTML table.

Example:
    >>> tab = table("results", "Per size", [column("hidden", "hidden units", "int")], [{"hidden": 16}])
    >>> tab["columns"][0]["label"], tab["rows"]
    ('hidden units', [{'hidden': 16}])
"""

from __future__ import annotations

import csv
import os
from typing import Any

from .. import _atomic


def column(key: str, label: str, fmt: str = "f4", split: str | None = None) -> dict[str, Any]:
    """A table column: the row key, its heading, how to print it (``int``, ``f2``, ``f3``, ``f4``, ``text``)
    and, for metrics, which split it was measured on (``train``, ``validation``, ``test``)."""
    return {"key": key, "label": label, "format": fmt, "split": split}


def table(name: str, title: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]], note: str = "") -> dict[str, Any]:
    """A table of results: written as ``<name>.csv`` and shown in the report under ``title``."""
    return {"name": name, "title": title, "columns": columns, "rows": rows, "note": note}


def write_csv(path: str | os.PathLike[str], tab: dict[str, Any]) -> None:
    """Write a table's rows as CSV: one column per table column, plus ``<key>_std`` where rows have it."""
    keys = []
    for col in tab["columns"]:
        keys.append(col["key"])
        if any(row.get(f"{col['key']}_std") is not None and row.get("repeats", 1) > 1 for row in tab["rows"]):
            keys.append(f"{col['key']}_std")

    def cell(value):
        if value is None:
            return ""
        return round(value, 6) if isinstance(value, float) else value

    with _atomic.atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(keys)
            for row in tab["rows"]:
                writer.writerow([cell(row.get(k)) for k in keys])


__all__ = ["column", "table", "write_csv"]
