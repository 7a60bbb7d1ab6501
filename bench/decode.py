"""Typed argument decoding and the jsonl export: lists/lines per second (issue 3, section 5).

Reference, measured in the same run: the Python decoder (``decode_args_json`` per argument
list, its cache cleared first) and the per-row jsonl writer it fed (``json.dumps`` of each
row's dict). Measured: ``decode_args_column`` (compiled transpiler + Python fallback rows)
over the whole ``args`` column, and ``write_events_jsonl`` of the whole events table.

    .venv/bin/python bench/decode.py [--log LOG] [--decode N]

The default log is the parse bench's (bench/out/busy-f-ttt-T-y.log; run bench/parse.py
first to make it). The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def reference_jsonl(events, path: Path) -> None:  # type: ignore[no-untyped-def]
    """The per-row writer (before the column-wise one): json.dumps of each row's dict."""
    from syssense.cli.parse_cmds import jsonl_lines_rowwise

    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(jsonl_lines_rowwise(events))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", type=Path, default=OUT / "busy-f-ttt-T-y.log")
    ap.add_argument("--decode", type=int, default=200_000, help="argument lists for the Python reference")
    ap.add_argument("--jsonl-ref", type=int, default=100_000, help="rows for the per-row jsonl reference")
    args = ap.parse_args()
    if not args.log.exists():
        sys.exit(f"{args.log} does not exist: run bench/parse.py first, or give --log")

    import syssense
    from syssense.cli.parse_cmds import write_events_jsonl
    from syssense.parse import decode
    from syssense.parse.decode import decode_args_column, decode_args_json

    print(f"log: {args.log} ({args.log.stat().st_size / 1e6:.0f} MB); cpus: {os.cpu_count()}; "
          f"load average at start: {os.getloadavg()[0]:.1f} (shared machine)")
    ev = syssense.parse_strace(args.log).events
    col = ev.column("args").combine_chunks()
    n_all = len(col)
    print(f"events: {ev.num_rows:,}; argument lists: {n_all - col.null_count:,} ({col.nbytes / 1e6:.0f} MB of text)")

    t = time.perf_counter()
    decode_args_column(col.slice(0, 100), stats={})
    decode.COLUMN_MIN_ROWS, old = 0, decode.COLUMN_MIN_ROWS
    decode_args_column(col.slice(0, 100))
    decode.COLUMN_MIN_ROWS = old
    print(f"loading numba and the compiled decoder (first call): {time.perf_counter() - t:.2f} s")

    n = min(args.decode, n_all)
    texts = col.slice(0, n).to_pylist()
    decode_args_json.cache_clear()
    t = time.perf_counter()
    for a in texts:
        if a is not None:
            decode_args_json(a)
    py_t = time.perf_counter() - t
    decode_args_json.cache_clear()
    stats: dict[str, int] = {}
    t = time.perf_counter()
    part = decode_args_column(col.slice(0, n), stats=stats)
    colpart_t = time.perf_counter() - t
    assert part.to_pylist() == [None if a is None else decode_args_json(a) for a in texts]  # same output
    print(f"reference: Python decoder (decode_args_json, cache cold), first {n:,} lists: "
          f"{n / py_t:>12,.0f} lists/s ({py_t:.2f} s)")
    print(f"column decoder, same {n:,} lists:                              {n / colpart_t:>12,.0f} lists/s "
          f"({colpart_t:.2f} s) = {py_t / colpart_t:.1f}x; output identical")
    best = float("inf")
    for _ in range(3):
        decode_args_json.cache_clear()
        stats = {}
        t = time.perf_counter()
        decode_args_column(col, stats=stats)
        best = min(best, time.perf_counter() - t)
    print(f"column decoder, whole column ({n_all:,} rows, best of 3):          {n_all / best:>12,.0f} lists/s "
          f"({best:.2f} s; target >= 200,000)")
    print(f"  fallback to the Python decoder: {stats['fallback']:,} rows = {stats['fallback'] / n_all:.2%}")

    with tempfile.TemporaryDirectory() as d:
        m = min(args.jsonl_ref, ev.num_rows)
        sub = ev.slice(0, m)
        decode_args_json.cache_clear()
        t = time.perf_counter()
        reference_jsonl(sub, Path(d) / "ref.jsonl")
        ref_t = time.perf_counter() - t
        write_events_jsonl(sub, Path(d) / "new.jsonl")
        same = (Path(d) / "ref.jsonl").read_bytes() == (Path(d) / "new.jsonl").read_bytes()
        (Path(d) / "ref.jsonl").unlink()
        print(f"reference: per-row jsonl writer, first {m:,} events:        {m / ref_t:>12,.0f} lines/s ({ref_t:.2f} s)")
        best = float("inf")
        for _ in range(2):
            decode_args_json.cache_clear()
            t = time.perf_counter()
            write_events_jsonl(ev, Path(d) / "new.jsonl")
            best = min(best, time.perf_counter() - t)
        size = (Path(d) / "new.jsonl").stat().st_size
        print(f"write_events_jsonl, whole table ({ev.num_rows:,} events, best of 2): {ev.num_rows / best:>10,.0f} "
              f"lines/s ({best:.2f} s, {size / 1e6:.0f} MB) = {ref_t / m * ev.num_rows / best:.1f}x; "
              f"first {m:,} lines identical to the reference: {same}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
