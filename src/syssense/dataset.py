"""The event and trace tables (DESIGN.md, "The tables"), and reading/writing them.

Two Arrow tables describe everything syssense knows about a set of traces:

* ``traces``: one row per trace (a log, a public-dataset trace, a captured run);
* ``events``: one row per event (system call, signal, exit, attach, unparsed line ...).

A *dataset directory* holds them as Parquet files that any engine reads::

    DIR/traces/part-<id>.parquet   one or more parts; appended runs add parts
    DIR/events/part-<id>.parquet
    DIR/raw/...                    raw logs (capture), untouched
    DIR/manifest.json              capture manifest (capture only)

``syssense parse LOG -o OUT.parquet`` writes a single events file ``OUT.parquet`` and
its traces table beside it as ``OUT.traces.parquet`` (CSV / JSON Lines likewise).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ._atomic import atomic_path
from .errors import InputFormatError

_DICT_STR = pa.dictionary(pa.int32(), pa.string())

#: Event kinds (the ``kind`` column).
EVENT_KINDS = ("syscall", "signal", "exit", "killed", "attach", "detach", "unparsed")

#: One row per event. ``syscall`` holds the call name for ``kind=syscall`` and the
#: signal name for ``signal`` / ``killed``; ``ret`` holds the exit status for ``exit``.
EVENT_SCHEMA = pa.schema(
    [
        pa.field("trace_id", _DICT_STR, nullable=False),
        pa.field("seq", pa.int64(), nullable=False),  # order of the event in its trace
        pa.field("line", pa.int64()),  # 1-based line number in the log (first line)
        pa.field("pid", pa.int64()),
        pa.field("tid", pa.int64()),  # thread id when known; pid otherwise
        pa.field("ts", pa.float64()),  # seconds; null when the log has none
        pa.field("syscall", _DICT_STR),
        pa.field("args", pa.string()),  # raw argument text, decoded on demand
        pa.field("ret", pa.int64()),  # null when '?' or not numeric
        pa.field("errno", _DICT_STR),
        pa.field("duration", pa.float64()),  # seconds (-T)
        pa.field("kind", _DICT_STR, nullable=False),
        pa.field("fd_paths", pa.string()),  # JSON {"fd": "path"} decoded by -y/-yy
        pa.field("ret_path", pa.string()),  # path of a returned descriptor (-y)
        pa.field("note", pa.string()),  # annotations: (flags ...), (INJECTED), resumed ...
        pa.field("unfinished", pa.bool_()),  # an <unfinished ...> call that never resumed
        pa.field("stack", pa.string()),  # -k stack trace lines, newline-joined
        pa.field("raw", pa.string()),  # the line itself, for unparsed rows
        pa.field("nr", pa.int64()),  # strace -n: the system call number printed
        pa.field("ip", pa.string()),  # strace -i: instruction pointer at the call
        pa.field("comm", pa.string()),  # strace -Y: process name printed after the pid
    ]
)

#: One row per trace.
TRACE_SCHEMA = pa.schema(
    [
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("source", pa.string()),  # file (or archive member) it came from
        pa.field("format", pa.string()),  # strace, adfa-ld, unm, generic, uav, lid-ds
        pa.field("scenario", pa.string()),
        pa.field("category", pa.string()),  # normal / recon / priv / cpu / mem / io / attack
        pa.field("mode", pa.string()),  # single / multi
        pa.field("run", pa.int64()),
        pa.field("label", pa.string()),  # normal / anomalous / unknown
        pa.field("split", pa.string()),  # published split (training / validation / attack)
        pa.field("group", pa.string()),  # e.g. the attack type, or the UNM program
        pa.field("command", pa.string()),
        pa.field("tracer", pa.string()),
        pa.field("tracer_version", pa.string()),
        pa.field("flags", pa.string()),
        pa.field("host", pa.string()),
        pa.field("kernel", pa.string()),
        pa.field("user", pa.string()),
        pa.field("cwd", pa.string()),
        pa.field("exit_status", pa.int64()),
        pa.field("start_time", pa.float64()),  # unix seconds
        pa.field("wall_seconds", pa.float64()),
        pa.field("status", pa.string()),  # ok / timeout / interrupted / failed
        pa.field("n_events", pa.int64()),
        pa.field("n_lines", pa.int64()),
        pa.field("n_unparsed", pa.int64()),
        pa.field("summary", pa.string()),  # JSON of strace's -c/-C table when present
        pa.field("meta", pa.string()),  # JSON object of anything else
    ]
)

#: Columns a ``--where`` selection may filter on.
SELECTABLE = ("trace_id", "scenario", "category", "mode", "label", "split", "group", "format", "run")


def new_trace_id(prefix: str = "t") -> str:
    """A short random trace id, unique across appended runs."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return ``table`` with exactly ``schema``'s columns (missing ones null), cast."""
    n = table.num_rows
    columns = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if col.type != f.type:
                if pa.types.is_dictionary(f.type) and not pa.types.is_dictionary(col.type):
                    col = pc.cast(col, pa.string()).dictionary_encode()
                    col = pc.cast(col, f.type)
                else:
                    col = pc.cast(col, f.type)
            columns.append(col)
        else:
            columns.append(pa.nulls(n, type=f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def traces_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Build a traces table from dict rows (unknown keys go into ``meta``)."""
    names = set(TRACE_SCHEMA.names)
    fixed = []
    for row in rows:
        r = {k: v for k, v in row.items() if k in names}
        extra = {k: v for k, v in row.items() if k not in names}
        if extra:
            meta = json.loads(r["meta"]) if r.get("meta") else {}
            meta.update(extra)
            r["meta"] = json.dumps(meta, default=str)
        fixed.append(r)
    return pa.Table.from_pylist(fixed, schema=TRACE_SCHEMA)


@dataclass
class Dataset:
    """The ``traces`` and ``events`` tables of one or more traces."""

    traces: pa.Table
    events: pa.Table
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.traces = conform(self.traces, TRACE_SCHEMA)
        self.events = conform(self.events, EVENT_SCHEMA)

    @classmethod
    def empty(cls) -> Dataset:
        return cls(TRACE_SCHEMA.empty_table(), EVENT_SCHEMA.empty_table())

    @classmethod
    def concat(cls, parts: Iterable[Dataset]) -> Dataset:
        parts = list(parts)
        if not parts:
            return cls.empty()
        traces = pa.concat_tables([p.traces for p in parts]).combine_chunks()
        events = pa.concat_tables([p.events for p in parts]).unify_dictionaries()
        return cls(traces, events)

    def __len__(self) -> int:
        return self.traces.num_rows

    def select(self, where: Mapping[str, str | Sequence[str]] | None = None) -> Dataset:
        """Keep the traces whose columns match ``where`` (value or list of values)."""
        if not where:
            return self
        mask = None
        for key, value in where.items():
            if key not in TRACE_SCHEMA.names:
                raise InputFormatError(
                    f"cannot select on '{key}': choose one of {', '.join(SELECTABLE)}"
                )
            values = [value] if isinstance(value, str | int) else list(value)
            col = self.traces.column(key)
            if pa.types.is_integer(col.type):
                values = [int(v) for v in values]
            m = pc.is_in(col, value_set=pa.array(values, type=col.type))
            m = pc.fill_null(m, False)
            mask = m if mask is None else pc.and_(mask, m)
        traces = self.traces.filter(mask)
        events = self.events.filter(
            pc.is_in(pc.cast(self.events.column("trace_id"), pa.string()), traces.column("trace_id"))
        )
        return Dataset(traces, events, self.path)

    def trace_ids(self) -> list[str]:
        return self.traces.column("trace_id").to_pylist()


def parse_where(items: Iterable[str]) -> dict[str, list[str]]:
    """Parse ``key=value[,value...]`` selections (``--where category=normal``)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not value:
            raise InputFormatError(f"cannot read selection '{item}': write it as key=value, e.g. category=normal")
        if key not in SELECTABLE:
            raise InputFormatError(f"cannot select on '{key}': choose one of {', '.join(SELECTABLE)}")
        out.setdefault(key, []).extend(v.strip() for v in value.split(","))
    return out


# --------------------------------------------------------------------------- writing

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        elif fmt == "csv":
            plain = table.cast(
                pa.schema(
                    [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]
                )
            )
            pacsv.write_csv(plain, tmp)
        elif fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for batch in table.to_batches(max_chunksize=65536):
                    for row in batch.to_pylist():
                        fh.write(json.dumps(row, ensure_ascii=False, default=str))
                        fh.write("\n")
        else:  # pragma: no cover - guarded by callers
            raise InputFormatError(f"unknown output format '{fmt}': choose parquet, csv or jsonl")


def traces_path_for(events_path: str | os.PathLike[str]) -> Path:
    """Where the traces table of an events file lives: ``OUT.traces.EXT`` beside it."""
    p = Path(events_path)
    return p.with_name(f"{p.stem}.traces{p.suffix}")


def write_files(ds: Dataset, events_path: str | os.PathLike[str], fmt: str = "parquet") -> tuple[Path, Path]:
    """Write events to ``events_path`` and traces beside it (see :func:`traces_path_for`)."""
    if fmt not in OUTPUT_FORMATS:
        raise InputFormatError(f"unknown output format '{fmt}': choose parquet, csv or jsonl")
    events_path = Path(events_path)
    tpath = traces_path_for(events_path)
    _write_table(ds.events, events_path, fmt)
    _write_table(ds.traces, tpath, fmt)
    return events_path, tpath


def write_dataset(ds: Dataset, out_dir: str | os.PathLike[str]) -> Path:
    """Add ``ds`` to the dataset directory ``out_dir`` as new parts (never overwrites)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputFormatError(f"{out} exists and is not a directory; choose a dataset directory")
    # parts sort in the order they were written (time first), so readers see runs in order
    part = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    (out / "events").mkdir(parents=True, exist_ok=True)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    # events first: a traces part is what makes a trace visible to readers
    _write_table(ds.events, out / "events" / f"part-{part}.parquet", "parquet")
    _write_table(ds.traces, out / "traces" / f"part-{part}.parquet", "parquet")
    return out


# --------------------------------------------------------------------------- reading


def is_dataset_dir(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "traces").is_dir() and (p / "events").is_dir()


def is_table_file(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix != ".parquet":
        return False
    with open(p, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _read_parts(folder: Path, schema: pa.Schema) -> pa.Table:
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return schema.empty_table()
    tables = [conform(pq.read_table(p), schema) for p in parts]
    return pa.concat_tables(tables).unify_dictionaries()


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a dataset directory, or an events Parquet file with its traces file beside it."""
    p = Path(path)
    if is_dataset_dir(p):
        traces = _read_parts(p / "traces", TRACE_SCHEMA)
        events = _read_parts(p / "events", EVENT_SCHEMA)
        # a traces part without its events (interrupted write) never happens: events first
        return Dataset(traces, events, p)
    if is_table_file(p):
        events = pq.read_table(p)
        if "syscall" not in events.column_names or "trace_id" not in events.column_names:
            raise InputFormatError(f"{p} is a Parquet file but not a syssense events table")
        tpath = traces_path_for(p)
        if tpath.exists():
            traces = pq.read_table(tpath)
        else:
            ids = pc.unique(pc.cast(events.column("trace_id"), pa.string()))
            traces = pa.table({"trace_id": ids})
        return Dataset(traces, events, p)
    raise InputFormatError(
        f"{p} is neither a dataset directory (traces/ and events/ inside) nor a syssense Parquet events file"
    )
