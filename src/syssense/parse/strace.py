"""strace logs -> the event and trace tables (issue 3; DESIGN.md "The tables").

Public API:

* :func:`parse_strace` reads one or more logs (files, ``-ff`` per-pid files, ``-`` for
  standard input, ``.gz``/``.xz``/``.bz2``/``.zst``) into a :class:`~syssense.dataset.Dataset`;
* :func:`iter_strace_events` and :class:`StraceStreamParser` parse a stream of lines with
  bounded memory (the live monitor);
* a reader named ``strace`` is registered so :func:`syssense.parse.load` reads raw logs.

Files are parsed column-wise in large chunks (:mod:`._fast`, Arrow compute kernels, RE2)
with the rare complex lines handed to the line grammar of :mod:`._stream`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..dataset import EVENT_SCHEMA, Dataset, new_trace_id, traces_table
from ..errors import InputFormatError
from ._stream import FIELDS, StraceEvent, StraceStreamParser
from .registry import Reader, register_reader

__all__ = [
    "StraceEvent",
    "StraceStreamParser",
    "iter_strace_events",
    "open_log",
    "parse_strace",
    "sniff",
]

_MAGIC = (
    (b"\x1f\x8b", "gz"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zst"),
)
_COMPRESSED_SUFFIXES = (".gz", ".xz", ".bz2", ".zst")

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- streaming


def iter_strace_events(lines: Iterable[str], *, pid: int | None = None) -> Iterator[StraceEvent]:
    """Parse strace lines as they arrive; yield each event when it is complete.

    A call split into ``<unfinished ...>`` / ``<... resumed>`` is yielded once, when it
    resumes, stamped with its start time; calls still unfinished at the end of input are
    yielded last with ``unfinished=True``. Memory is bounded by the number of processes
    with a pending call.
    """
    parser = StraceStreamParser(pid)
    for line in lines:
        yield from parser.feed(line)
    yield from parser.close()


# --------------------------------------------------------------------------- input files


def _compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def open_log(path: PathLike | IO[bytes]) -> IO[bytes]:
    """A binary stream of the log's text, decompressed when it is compressed.

    ``"-"`` is standard input. Compression is recognised by its magic bytes.
    """
    if isinstance(path, str | os.PathLike):
        raw: IO[bytes] = sys.stdin.buffer if str(path) == "-" else open(path, "rb")  # noqa: SIM115
        name = str(path)
    else:
        raw, name = path, getattr(path, "name", "<stream>")
    buf = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buf.peek(8)[:8]  # type: ignore[attr-defined]
    kind = _compression(head)
    if kind == "gz":
        return gzip.GzipFile(fileobj=buf, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(buf, "rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(buf, "rb")  # type: ignore[return-value]
    if kind == "zst":
        try:
            import zstandard
        except ImportError:
            raise InputFormatError(
                f"{name} is zstd-compressed and the zstandard library is not installed "
                "(pip install 'syssense[zstd]')"
            ) from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(buf, read_across_frames=True))  # type: ignore[return-value]
    return buf  # type: ignore[return-value]


def _read_error(name: str, exc: Exception) -> InputFormatError:
    return InputFormatError(f"{name} is a truncated or damaged compressed file ({exc})")


_DECOMP_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, lzma.LZMAError, ValueError)


def _head_lines(path: Path, n: int = 20, nbytes: int = 16384) -> tuple[bytes, list[str]]:
    with open_log(path) as fh:
        try:
            head = fh.read(nbytes)
        except _DECOMP_ERRORS as exc:
            raise _read_error(str(path), exc) from None
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(head) == nbytes:
        lines = lines[:-1]  # the last one may be cut
    return head, [ln for ln in lines if ln.strip()][:n]


def _looks_like_strace(lines: Sequence[str]) -> bool:
    if not lines:
        return False
    p = StraceStreamParser()
    for ln in lines:
        p.feed(ln)
    p.close()
    understood = p.n_lines - p.n_unparsed
    return understood >= 1 and understood * 3 >= p.n_lines


def sniff(path: Path) -> bool:
    """A strace log: its first non-empty lines are strace lines (compressed too).

    A folder is a strace input when its first (up to five) files are strace logs.
    """
    if path.is_dir():
        files = sorted(
            f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
            and not f.name.lower().startswith("readme")
        )[:5]
        return bool(files) and all(sniff(f) for f in files)
    if not path.is_file():
        return False
    try:
        head, lines = _head_lines(path)
    except (InputFormatError, OSError):
        return False
    if b"\0" in head:
        return False
    return _looks_like_strace(lines)


# --------------------------------------------------------------------------- tables

_EVENT_TYPES = {f.name: f.type for f in EVENT_SCHEMA}


def events_to_table(events: Sequence[StraceEvent], trace_id: str) -> pa.Table:
    """An events table (EVENT_SCHEMA) from parsed events of one trace."""
    n = len(events)
    cols: dict[str, Any] = {
        "trace_id": pa.DictionaryArray.from_arrays(
            pa.array([0] * n, pa.int32()), pa.array([trace_id], pa.string())
        )
    }
    columns = list(zip(*events, strict=True)) if n else [()] * len(FIELDS)
    for name, values in zip(FIELDS, columns, strict=True):
        typ = _EVENT_TYPES.get(name)
        if typ is None:
            continue
        if pa.types.is_dictionary(typ):
            cols[name] = pa.array(values, pa.string()).dictionary_encode()
        else:
            cols[name] = pa.array(values, typ)
    return pa.table(cols)


# --------------------------------------------------------------------------- grouping

_FF_RE = re.compile(r"^(?P<stem>.+)\.(?P<pid>\d+)$")


def _strip_compression(name: str) -> str:
    for suf in _COMPRESSED_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def _expand(paths: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        s = os.fspath(p)
        if s == "-":
            out.append(s)
            continue
        path = Path(s)
        if not path.exists():
            raise InputFormatError(f"{path} does not exist")
        if path.is_dir():
            files = sorted(
                f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
                and not f.name.lower().startswith("readme")
            )
            if not files:
                raise InputFormatError(f"{path} is an empty directory: give strace logs")
            bad = [f for f in files if not sniff(f)]
            if bad:
                from .registry import formats_understood

                raise InputFormatError(
                    f"{path} holds files that are not strace logs (e.g. {bad[0].name}); "
                    f"syssense reads {formats_understood()}"
                )
            out.extend(str(f) for f in files)
        else:
            out.append(s)
    return out


def group_logs(paths: Sequence[str]) -> list[list[tuple[str, int | None]]]:
    """Group ``-ff`` per-pid files (``NAME.PID`` in one folder) into one trace each.

    Returns a list of traces, each a list of ``(path, pid_from_suffix)``.
    """
    groups: dict[tuple[str, str], list[tuple[str, int | None]]] = {}
    order: list[Any] = []
    for p in paths:
        if p == "-":
            order.append([(p, None)])
            continue
        path = Path(p)
        m = _FF_RE.match(_strip_compression(path.name))
        if m:
            key = (str(path.parent), m.group("stem"))
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append((p, int(m.group("pid"))))
        else:
            order.append([(p, None)])
    out = []
    for item in order:
        if isinstance(item, tuple):
            out.append(sorted(groups[item], key=lambda t: t[1] or 0))
        else:
            out.append(item)
    return out


# --------------------------------------------------------------------------- parsing


def _check_head(name: str, head: bytes) -> None:
    from .registry import formats_understood

    if not head.strip():
        raise InputFormatError(f"{name} is empty: syssense reads {formats_understood()}")
    if b"\0" in head[:65536]:
        raise InputFormatError(
            f"{name} is a binary file, not a strace log: syssense reads {formats_understood()}"
        )


def _parse_one(
    src: str, pid: int | None, strict: bool, progress: Any = None
) -> tuple[pa.Table, dict[str, Any]]:
    """Parse one log file into (events table without trace_id, trace row)."""
    from ._fast import parse_stream

    try:
        fh = open_log(src)
    except OSError as exc:
        raise InputFormatError(f"cannot read {src} ({exc.strerror or exc})") from None
    name = "standard input" if src == "-" else src
    try:
        events, row = parse_stream(fh, name, pid=pid, strict=strict, check=_check_head, progress=progress)
    except _DECOMP_ERRORS as exc:
        if isinstance(exc, InputFormatError):
            raise
        raise _read_error(name, exc) from None
    finally:
        if src != "-":
            fh.close()
    if row["n_lines"] and row["n_unparsed"] == row["n_lines"] and not row.get("summary"):
        from .registry import formats_understood

        raise InputFormatError(
            f"{name} does not look like a strace log (no line could be read as strace output); "
            f"syssense reads {formats_understood()}"
        )
    return events, row


def parse_strace(
    paths: PathLike | Sequence[PathLike],
    *,
    strict: bool = False,
    trace_ids: Sequence[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    progress: Any = None,
) -> Dataset:
    """Parse strace logs into the ``traces`` and ``events`` tables.

    ``paths``: a path or a list (``"-"`` = standard input; a folder = its files). Each log
    is one trace, except ``-ff`` per-pid files ``NAME.PID`` of one run, which form one
    trace with the pid taken from the suffix. ``meta`` holds trace-table columns
    (scenario, category, command, ...) applied to every trace; ``trace_ids`` names the
    traces in order. ``strict=True`` raises :class:`~syssense.errors.InputFormatError`
    at the first line not understood, naming it.
    """
    files = _expand(paths)
    if not files:
        raise InputFormatError("no strace log given")
    groups = group_logs(files)
    if trace_ids is not None and len(trace_ids) != len(groups):
        raise InputFormatError(f"{len(trace_ids)} trace ids given for {len(groups)} traces")
    trace_rows: list[dict[str, Any]] = []
    event_tables: list[pa.Table] = []
    for i, group in enumerate(groups):
        tid = trace_ids[i] if trace_ids is not None else new_trace_id()
        parts = [_parse_one(src, pid, strict, progress) for src, pid in group]
        events, row = _merge_group(parts, group)
        row["trace_id"] = tid
        row["source"] = "-" if group[0][0] == "-" else (
            group[0][0] if len(group) == 1 else os.path.join(
                os.path.dirname(group[0][0]),
                _FF_RE.match(_strip_compression(Path(group[0][0]).name)).group("stem") + ".*",  # type: ignore[union-attr]
            )
        )
        if meta:
            row.update(meta)
        trace_rows.append(row)
        n = events.num_rows
        ids = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([tid], pa.string())
        )
        event_tables.append(events.append_column("trace_id", ids))
    traces = traces_table(trace_rows)
    events = pa.concat_tables(
        [Dataset(traces.slice(0, 0), t).events for t in event_tables]
    ).unify_dictionaries() if event_tables else EVENT_SCHEMA.empty_table()
    return Dataset(traces, events)


def _merge_group(
    parts: list[tuple[pa.Table, dict[str, Any]]], group: list[tuple[str, int | None]]
) -> tuple[pa.Table, dict[str, Any]]:
    if len(parts) == 1:
        return parts[0]
    tables = [t for t, _ in parts]
    rows = [r for _, r in parts]
    events = pa.concat_tables(tables, promote_options="default").unify_dictionaries()
    # order the processes' events by time when the logs have timestamps
    if events.num_rows and events.column("ts").null_count < events.num_rows:
        file_no = pa.array(
            [i for i, t in enumerate(tables) for _ in range(t.num_rows)], pa.int64()
        )
        tmp = events.append_column("_file", file_no).append_column(
            "_pos", pa.array(range(events.num_rows), pa.int64())
        )
        idx = pc.sort_indices(tmp, sort_keys=[("ts", "ascending"), ("_file", "ascending"), ("_pos", "ascending")])
        events = events.take(idx)
    events = events.set_column(
        events.schema.get_field_index("seq"), "seq", pa.array(range(events.num_rows), pa.int64())
    )
    row = dict(rows[0])
    for k in ("n_lines", "n_unparsed", "n_events"):
        row[k] = sum(r[k] or 0 for r in rows)
    # the first (lowest-pid) file is the traced command: its exit status is the run's
    row["summary"] = next((r["summary"] for r in rows if r.get("summary")), None)
    starts = [r["start_time"] for r in rows if r.get("start_time") is not None]
    row["start_time"] = min(starts) if starts else None
    return events, row


# --------------------------------------------------------------------------- registry


def _read(path: Path, **options: Any) -> Dataset:
    return parse_strace(path, **options)


register_reader(
    Reader(
        name="strace",
        description="strace logs (any flags; -ff per-pid files; .gz/.xz/.bz2/.zst)",
        sniff=sniff,
        read=_read,
    )
)
