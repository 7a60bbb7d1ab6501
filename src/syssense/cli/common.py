"""Helpers shared by the command modules: the rich console, output-path checks."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

import click
import pyarrow as pa
from rich.console import Console
from rich.table import Table

#: Wide enough for the stats and leaderboard tables when output goes to a pipe or a file
#: (rich would fold them to 80 columns there); a terminal or $COLUMNS sets its own width.
PIPE_WIDTH = 140


def _width(stream: TextIO) -> int | None:
    if "COLUMNS" in os.environ or stream.isatty():
        return None
    return PIPE_WIDTH


console = Console(stderr=False, width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

where_option = click.option(
    "--where",
    "where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Select traces, e.g. --where category=normal --where mode=single (repeatable; "
    "keys: scenario, category, mode, label, split, group, format, run, trace_id).",
)


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def rich_table(table: pa.Table | list[dict[str, Any]], title: str | None = None, float_fmt: str = "{:.4g}") -> Table:
    """A rich Table from an Arrow table or a list of dict rows."""
    rows = table.to_pylist() if isinstance(table, pa.Table) else table
    columns = list(table.column_names) if isinstance(table, pa.Table) else (list(rows[0]) if rows else [])
    out = Table(title=title, show_lines=False)
    for c in columns:
        out.add_column(str(c), overflow="fold")
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            if isinstance(v, float):
                cells.append(float_fmt.format(v))
            elif v is None:
                cells.append("")
            else:
                cells.append(str(v))
        out.add_row(*cells, )
    return out
