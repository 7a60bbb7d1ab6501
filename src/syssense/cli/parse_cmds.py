"""``syssense parse`` and ``syssense stats``: strace logs to tables, and what is in them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputFormatError
from .common import console, err_console, print_json, rich_table

# --------------------------------------------------------------------------- parse


def _progress_parse(paths: list[str], **kw: Any) -> Any:
    from ..parse.strace import parse_strace

    if not err_console.is_terminal:
        return parse_strace(paths, **kw)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("parsing {task.fields[n]:,} lines"), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as bar:
        task = bar.add_task("parse", total=None, n=0)
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            bar.update(task, n=done[0])

        return parse_strace(paths, progress=tick, **kw)


def _parse_meta(items: tuple[str, ...]) -> dict[str, Any]:
    from ..dataset import TRACE_SCHEMA

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputFormatError(f"cannot read '--set {item}': write it as KEY=VALUE, e.g. --set category=normal")
        typ = TRACE_SCHEMA.field(key).type if key in TRACE_SCHEMA.names else pa.string()
        if pa.types.is_integer(typ):
            try:
                out[key] = int(value)
            except ValueError:
                raise InputFormatError(f"'--set {item}': {key} must be a whole number") from None
        elif pa.types.is_floating(typ):
            try:
                out[key] = float(value)
            except ValueError:
                raise InputFormatError(f"'--set {item}': {key} must be a number") from None
        else:
            out[key] = value
    return out


def _json_strings(arr: pa.Array, ensure_ascii: bool = False) -> pa.Array:
    """``json.dumps(v, ensure_ascii=...)`` of every string of ``arr`` (null stays null), by column."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    # rows needing more than the two escapes (control or, for ASCII output, non-ASCII chars)
    odd = pc.match_substring_regex(arr, r"[\x00-\x1f]" if not ensure_ascii else r"[^\x20-\x7e]")
    out = pc.binary_join_element_wise(
        '"', pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"'), '"', "")
    if pc.any(odd).as_py():
        odd = odd.fill_null(False)
        vals = arr.filter(odd).to_pylist()
        out = pc.replace_with_mask(out, odd, pa.array([json.dumps(v, ensure_ascii=ensure_ascii) for v in vals],
                                                      pa.string()))
    return out


def _json_values(arr: pa.Array) -> pa.Array:
    """``json.dumps(v, ensure_ascii=False)`` of every value of one events column (null stays null)."""
    t = arr.type
    if pa.types.is_integer(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_floating(t):
        import numpy as np

        vals = arr.to_pylist()
        if np.isfinite(pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False)).all():
            return pa.array([None if v is None else repr(v) for v in vals], pa.string())
        return pa.array([None if v is None else json.dumps(v) for v in vals], pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or (
            pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)):
        return _json_strings(arr)
    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in arr.to_pylist()], pa.string())


def _typed_args(batch: pa.RecordBatch) -> tuple[pa.Array, pa.Array]:
    """(``args`` as typed JSON text, the raw ``args``): syscall rows decoded
    (:func:`~syssense.parse.decode.decode_args_column`), other rows (signals) as a JSON string."""
    from ..parse.decode import decode_args_column

    args = batch.column("args")
    typed = decode_args_column(args)
    if "kind" in batch.schema.names:
        kind = batch.column("kind")
        if pa.types.is_dictionary(kind.type):
            kind = kind.dictionary_decode()
        other = pc.and_(pc.invert(pc.fill_null(pc.equal(kind, "syscall"), False)), args.is_valid())
    else:
        other = args.is_valid()
    if pc.any(other).as_py():
        typed = pc.replace_with_mask(typed, other, _json_strings(args.filter(other), ensure_ascii=True))
    return typed, args


def _jsonl_arrow(batch: pa.RecordBatch) -> pa.Array:
    """The JSON Lines of one batch built with Arrow kernels (used without numba)."""
    frags = []
    for name in batch.schema.names:
        if name == "args":
            continue
        frags.append(pc.binary_join_element_wise(json.dumps(name) + ": ", _json_values(batch.column(name)), ""))
    if "args" in batch.schema.names:
        typed, args = _typed_args(batch)
        frags.append(pc.binary_join_element_wise('"args": ', typed, ', "args_text": ', _json_strings(args), ""))
    body = pc.binary_join_element_wise(*frags, ", ", null_handling="skip") if frags else pa.array(
        [""] * batch.num_rows, pa.string())
    return pc.binary_join_element_wise("{", body, "}\n", "")


def _jsonl_compiled(batch: pa.RecordBatch, out: Any = None) -> tuple[list[memoryview], Any]:
    """The JSON Lines of one batch in one compiled pass over the columns' texts (two halves
    in two threads for large batches): the text parts in order, and the output buffers to
    pass as ``out`` for the next batch (a fresh buffer per batch cost more in page faults
    than the pass itself)."""
    import numpy as np

    from ..parse import _decode_scan as dsc
    from ..parse import decode as dec

    cols: list[tuple[str, pa.Array, int]] = []
    for name in batch.schema.names:
        if name == "args":
            continue
        arr, key = batch.column(name), json.dumps(name) + ": "
        t = arr.type
        if pa.types.is_integer(t):
            cols.append((key, pc.cast(arr, pa.string()), dsc.KIND_JSON))
        elif pa.types.is_boolean(t):
            cols.append((key, pc.if_else(arr, "true", "false"), dsc.KIND_JSON))
        elif pa.types.is_floating(t):
            cols.append((key, pc.cast(pc.cast(arr, pa.float64()), pa.string()), dsc.KIND_FLOAT))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            cols.append((key, arr, dsc.KIND_STR))
        elif pa.types.is_dictionary(t) and pa.types.is_string(t.value_type):
            cols.append((key, arr.dictionary_decode(), dsc.KIND_STR))
        else:
            cols.append((key, _json_values(arr), dsc.KIND_JSON))
    if "args" in batch.schema.names:
        typed, args = _typed_args(batch)
        cols.append(('"args": ', typed, dsc.KIND_JSON))
        cols.append(('"args_text": ', args, dsc.KIND_STR))
    n, ncol = batch.num_rows, len(cols)
    offs = np.empty((ncol, n + 1), np.int64)
    valid = np.empty((ncol, n), np.uint8)
    parts = []
    total = 0
    for c, (_, arr, _) in enumerate(cols):  # all texts in one buffer (numba reads it fastest)
        bufs = arr.buffers()
        width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        o = np.frombuffer(bufs[1], width, n + 1, arr.offset * np.dtype(width).itemsize)
        valid[c] = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else 1
        if bufs[2] is not None and o[-1] > o[0]:
            parts.append(np.frombuffer(bufs[2], np.uint8, int(o[-1] - o[0]), int(o[0])))
        offs[c] = o - o[0] + total
        total += int(o[-1] - o[0])
    datas = np.concatenate(parts) if parts else np.zeros(1, np.uint8)
    keys_b = [k.encode() for k, _, _ in cols]
    keys = np.frombuffer(b"".join(keys_b) or b" ", np.uint8)
    key_at = np.cumsum([0] + [len(k) for k in keys_b]).astype(np.int64)
    kinds = np.array([k for _, _, k in cols], np.int64)
    cut = [0, n]
    if dec.THREADS > 1 and n >= dec.SPLIT_MIN_ROWS:  # two halves, one per thread (nogil)
        cut = [0, n // 2, n]
    bufs_in = list(out) if out is not None else []
    bufs_in += [None] * (len(cut) - 1 - len(bufs_in))

    def part(r0: int, r1: int) -> tuple[Any, int]:
        i = cut.index(r0)
        lo, hi = int(offs[:, r0].sum()), int(offs[:, r1].sum())
        want = int(1.3 * (hi - lo)) + (int(key_at[-1]) + 2 * ncol + 4) * (r1 - r0) + 4096
        buf = bufs_in[i]
        if buf is None or buf.shape[0] < want:
            buf = np.empty(want, np.uint8)
        r, op = r0, 0
        while r < r1:
            r, op = dsc.jsonl_rows(r, r1, offs, datas, valid, kinds, keys, key_at, buf, oofs, op)
            if r < r1:  # the next row may not fit: grow the buffer and go on
                bigger = np.empty(2 * buf.shape[0] + 16 * int((offs[:, r + 1] - offs[:, r]).sum()) + 4096, np.uint8)
                bigger[:op] = buf[:op]
                buf = bigger
        return buf, op

    oofs = np.zeros(n + 1, np.int64)
    parts = dec.run_split(part, cut)
    return [memoryview(b[:op]) for b, op in parts], [b for b, _ in parts]


def jsonl_lines_rowwise(events: pa.Table) -> Iterator[str]:
    """The JSON Lines record, one event at a time: ``json.dumps`` of the row's non-null
    columns, then ``args`` (typed for system calls) and ``args_text``. Slow; it is the
    specification :func:`write_events_jsonl` reproduces column-wise (tests and
    bench/decode.py compare against it)."""
    from ..parse.decode import decode_args_json

    names = events.column_names
    for batch in events.to_batches(max_chunksize=65536):
        cols = {n: batch.column(n).to_pylist() for n in names}
        for i in range(batch.num_rows):
            row = {n: cols[n][i] for n in names if cols[n][i] is not None}
            args = row.pop("args", None)
            head = json.dumps(row, ensure_ascii=False)
            if args is not None:
                typed = decode_args_json(args) if row.get("kind") == "syscall" else json.dumps(args)
                head = (head[:-1] + (", " if len(head) > 2 else "") + '"args": ' + typed + ', "args_text": '
                        + json.dumps(args, ensure_ascii=False) + "}")
            yield head + "\n"


def write_events_jsonl(events: pa.Table, path: Path) -> None:
    """Events as JSON Lines with typed arguments (``args``) and the raw text (``args_text``):
    each line is ``json.dumps`` of the row's non-null columns, built column-wise (compiled
    when numba is there and the table is large, else with Arrow kernels)."""
    import numpy as np

    from .._atomic import atomic_path
    from ..parse.decode import _use_compiled

    compiled = _use_compiled(events.num_rows)
    buf = None
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for batch in events.to_batches(max_chunksize=1 << 18):
            if not batch.num_rows:
                continue
            if compiled:
                views, buf = _jsonl_compiled(batch, buf)
                for v in views:
                    fh.write(v)
                del views
                continue
            lines = _jsonl_arrow(batch)
            o = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
            fh.write(memoryview(lines.buffers()[2])[o[0]:o[-1]])


@click.command("parse")
@click.argument("logs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, metavar="OUT",
              help="OUT.parquet (events; traces beside it as OUT.traces.parquet), OUT.csv, OUT.jsonl, "
                   "or DIR/ for a dataset directory.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]), default=None,
              help="Output format (default: from OUT's suffix, else parquet).")
@click.option("--strict", is_flag=True, help="Fail at the first line that is not strace output.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Trace-table column for every trace, e.g. --set category=normal (repeatable).")
def parse_cmd(logs: tuple[str, ...], output: str, fmt: str | None, strict: bool, sets: tuple[str, ...]) -> None:
    """Parse strace logs (any flags; -ff files; .gz/.xz/.bz2/.zst; - for stdin) into tables.

    \b
    syssense parse trace.log -o events.parquet
    syssense parse run.log.* -o run.jsonl          # -ff per-pid files: one trace
    strace -f -o /dev/stdout ls 2>/dev/null | syssense parse - -o ls.csv
    """
    from ..dataset import traces_path_for, write_dataset, write_files

    meta = _parse_meta(sets)
    out = Path(output)
    as_dir = output.endswith(("/", os.sep)) or out.is_dir()
    if fmt is None:
        suffix = out.suffix.lower().lstrip(".")
        fmt = suffix if suffix in ("parquet", "csv", "jsonl") else "parquet"
    ds = _progress_parse(list(logs), strict=strict, meta=meta or None)
    if as_dir:
        write_dataset(ds, out)
        where = f"dataset directory {out}"
    elif fmt == "jsonl":
        from ..dataset import _write_table

        write_events_jsonl(ds.events, out)
        _write_table(ds.traces, traces_path_for(out), "jsonl")
        where = f"{out} (traces: {traces_path_for(out)})"
    else:
        e, t = write_files(ds, out, fmt)
        where = f"{e} (traces: {t})"
    rows = [
        {"trace": r["trace_id"], "source": r["source"], "lines": r["n_lines"], "events": r["n_events"],
         "unparsed": r["n_unparsed"], "exit": r["exit_status"]}
        for r in ds.traces.to_pylist()
    ]
    err_console.print(rich_table(rows, title=f"wrote {where}"))


# --------------------------------------------------------------------------- stats


def _load_any(paths: tuple[str, ...]) -> Any:
    from ..dataset import Dataset, is_dataset_dir, is_table_file, read_dataset
    from ..parse.registry import load
    from ..parse.strace import parse_strace

    parts = []
    logs: list[str] = []
    for p in paths:
        if p != "-" and (is_dataset_dir(p) or is_table_file(p)):
            parts.append(read_dataset(p))
        elif p == "-" or Path(p).is_dir() or Path(p).suffix != ".parquet":
            if p != "-" and Path(p).is_dir():
                try:
                    parts.append(load(p))
                    continue
                except InputFormatError:
                    pass
            logs.append(p)
        else:
            parts.append(load(p))
    if logs:
        parts.append(parse_strace(logs))
    return Dataset.concat(parts) if len(parts) > 1 else parts[0]


def _counts(table: pa.Table, keys: list[str], agg: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if table.num_rows == 0:
        return []
    return table.group_by(keys).aggregate(agg).to_pylist()


def compute_stats(ds: Any, top: int = 15) -> dict[str, Any]:
    """Counts per trace and per process, top calls, errors, signals, exits, unparsed lines."""
    ev = ds.events
    str_cols = {}
    for name in ("trace_id", "syscall", "errno", "kind"):
        str_cols[name] = pc.cast(ev.column(name), pa.string())
    t = pa.table({
        **str_cols,
        "pid": ev.column("pid"),
        "ret": ev.column("ret"),
        "line": ev.column("line"),
        "raw": ev.column("raw"),
        "one": pa.array([1] * 0, pa.int64()) if ev.num_rows == 0 else pc.add(pc.multiply(ev.column("seq"), 0), 1),
        "is_err": pc.cast(pc.is_valid(ev.column("errno")), pa.int64()),
    })
    sc = t.filter(pc.equal(t.column("kind"), "syscall"))
    traces = []
    by_trace = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    kinds = {(r["trace_id"], r["kind"]): r["one_sum"] for r in _counts(t, ["trace_id", "kind"], [("one", "sum")])}
    procs = {r["trace_id"]: r["pid_count_distinct"] for r in _counts(t, ["trace_id"], [("pid", "count_distinct")])}
    errs = {r["trace_id"]: r["is_err_sum"] for r in _counts(sc, ["trace_id"], [("is_err", "sum")])}
    for tid, tr in by_trace.items():
        traces.append({
            "trace_id": tid,
            "source": tr.get("source"),
            "lines": tr.get("n_lines"),
            "events": sum(v for (a, _), v in kinds.items() if a == tid),
            "syscalls": kinds.get((tid, "syscall"), 0),
            "errors": errs.get(tid, 0),
            "signals": kinds.get((tid, "signal"), 0),
            "processes": procs.get(tid, 0),
            "unparsed": kinds.get((tid, "unparsed"), 0),
            "exit_status": tr.get("exit_status"),
        })
    # per process
    per_proc = _counts(t, ["trace_id", "pid", "kind"], [("one", "sum")])
    pe = {(r["trace_id"], r["pid"]): r["is_err_sum"] for r in _counts(sc, ["trace_id", "pid"], [("is_err", "sum")])}
    procs_rows: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in per_proc:
        key = (r["trace_id"], r["pid"])
        row = procs_rows.setdefault(key, {"trace_id": key[0], "pid": key[1], "syscalls": 0, "errors": pe.get(key, 0),
                                          "signals": 0, "exit": None})
        if r["kind"] == "syscall":
            row["syscalls"] = r["one_sum"]
        elif r["kind"] == "signal":
            row["signals"] = r["one_sum"]
    exits = t.filter(pc.is_in(t.column("kind"), pa.array(["exit", "killed"])))
    exit_rows = []
    for r in exits.select(["trace_id", "pid", "kind", "syscall", "ret"]).to_pylist():
        how = f"exited {r['ret']}" if r["kind"] == "exit" and r["ret"] is not None else (
            f"killed by {r['syscall']}" if r["kind"] == "killed" else "exited")
        exit_rows.append({"trace_id": r["trace_id"], "pid": r["pid"], "exit": how})
        key = (r["trace_id"], r["pid"])
        if key in procs_rows:
            procs_rows[key]["exit"] = how
    processes = sorted(procs_rows.values(), key=lambda r: (r["trace_id"], r["pid"] if r["pid"] is not None else -1))
    # top calls
    top_calls = sorted(_counts(sc, ["syscall"], [("one", "sum"), ("is_err", "sum")]),
                       key=lambda r: -r["one_sum"])
    total = sum(r["one_sum"] for r in top_calls) or 1
    calls = [{"syscall": r["syscall"], "calls": r["one_sum"], "share": r["one_sum"] / total,
              "errors": r["is_err_sum"]} for r in top_calls]
    err_rows = sorted(
        _counts(sc.filter(pc.is_valid(sc.column("errno"))), ["syscall", "errno"], [("one", "sum")]),
        key=lambda r: -r["one_sum"],
    )
    errors = [{"syscall": r["syscall"], "errno": r["errno"], "count": r["one_sum"]} for r in err_rows]
    sig = t.filter(pc.equal(t.column("kind"), "signal"))
    signals = sorted(({"signal": r["syscall"], "count": r["one_sum"]} for r in _counts(sig, ["syscall"], [("one", "sum")])),
                     key=lambda r: -r["count"])
    unp = t.filter(pc.equal(t.column("kind"), "unparsed")).select(["trace_id", "line", "raw"])
    unparsed = unp.slice(0, top).to_pylist()
    return {
        "traces": traces,
        "processes": processes,
        "top_calls": calls[:top] if top else calls,
        "n_distinct_calls": len(calls),
        "errors": errors[:top] if top else errors,
        "signals": signals,
        "exits": exit_rows,
        "unparsed": unparsed,
        "n_unparsed": unp.num_rows,
    }


@click.command("stats")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs instead of tables.")
@click.option("--top", default=15, show_default=True, help="Rows in the top-calls, errors and unparsed lists.")
def stats_cmd(inputs: tuple[str, ...], as_json: bool, top: int) -> None:
    """Counts per trace and process, top calls, errors, signals, exits, unparsed lines.

    INPUTS: strace logs, an events Parquet file, or a dataset directory.
    """
    ds = _load_any(inputs)
    st = compute_stats(ds, top=top)
    if as_json:
        print_json(st)
        return
    console.print(rich_table(st["traces"], title="traces"))
    if len(st["processes"]) <= 50:
        console.print(rich_table(st["processes"], title="processes"))
    else:
        console.print(rich_table(st["processes"][:50], title=f"processes (first 50 of {len(st['processes'])})"))
    console.print(rich_table(
        [{**r, "share": f"{100 * r['share']:.1f}%"} for r in st["top_calls"]],
        title=f"top system calls ({st['n_distinct_calls']} distinct)",
    ))
    if st["errors"]:
        console.print(rich_table(st["errors"], title="errors per call"))
    if st["signals"]:
        console.print(rich_table(st["signals"], title="signals"))
    if st["exits"]:
        console.print(rich_table(st["exits"][:50], title="exits"))
    if st["n_unparsed"]:
        console.print(rich_table(
            [{**r, "raw": (r["raw"] or "")[:120]} for r in st["unparsed"]],
            title=f"unparsed lines ({st['n_unparsed']})",
        ))
    sys.stdout.flush()


COMMANDS = [parse_cmd, stats_cmd]
