"""``syssense import [FORMAT] PATH -o DATA``: a public dataset or raw traces into a dataset directory."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..dataset import is_dataset_dir, write_dataset
from ..errors import InputFormatError
from ..parse.registry import load_all_readers, sniff_format
from .common import console, err_console, print_json, rich_table


def _format_names() -> list[str]:
    return list(load_all_readers())


@click.command("import")
@click.argument("args", nargs=-1, metavar="[FORMAT] PATH")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Dataset directory to write (traces/ and events/ Parquet parts).")
@click.option("--append", is_flag=True, help="Add to an existing dataset directory (trace ids must not clash).")
@click.option("--arch", type=click.Choice(["i386", "x86_64"]), default=None,
              help="Map call numbers to names with this Linux table (generic, UNM).")
@click.option("--sunos", is_flag=True, help="UNM: name calls with synth-sendmail/calls.txt.sun (SunOS 4.1 sets only).")
@click.option("--split", "splits", multiple=True, type=click.Choice(["training", "validation", "attack"]),
              help="ADFA-LD: keep only this published split (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_cmd(args: tuple[str, ...], output: Path, append: bool, arch: str | None, sunos: bool,
               splits: tuple[str, ...], as_json: bool) -> None:
    """Read a public dataset (ADFA-LD, UNM, UAV, LID-DS) or call-list files into DATA.

    FORMAT is one of the registered readers (adfa-ld, unm, uav, lid-ds, generic, strace);
    when omitted it is detected from PATH.

    \b
    Examples:
      syssense import /work/shared/datasets/adfa-ld/ADFA-LD.zip -o adfa
      syssense import unm stide/stidetraces.tar.gz -o stide
      syssense import generic traces/ --arch i386 -o mine
    """
    names = _format_names()
    if len(args) == 1:
        fmt, path = None, Path(args[0])
    elif len(args) == 2:
        fmt, path = args[0], Path(args[1])
        if fmt not in names:
            raise InputFormatError(f"unknown format '{fmt}': choose one of {', '.join(names)}")
    else:
        raise InputFormatError("give a PATH to import, optionally preceded by its FORMAT (e.g. syssense import adfa-ld ADFA-LD.zip -o DATA)")
    if not path.exists():
        raise InputFormatError(f"{path} does not exist")
    existing: set[str] = set()
    if output.exists():
        if not output.is_dir():
            raise InputFormatError(f"{output} exists and is not a directory; choose a dataset directory")
        if is_dataset_dir(output):
            if not append:
                raise InputFormatError(f"{output} already holds a dataset; pass --append to add to it or choose a new directory")
            for part in sorted((output / "traces").glob("part-*.parquet")):
                existing.update(pq.read_table(part, columns=["trace_id"]).column(0).to_pylist())
        elif any(output.iterdir()):
            raise InputFormatError(f"{output} is a non-empty directory that is not a dataset; choose a new directory")
    fmt = fmt or sniff_format(path)
    reader = load_all_readers()[fmt]
    options: dict[str, object] = {}
    if arch:
        options["arch"] = arch
        if fmt == "unm":
            options["names"] = arch
    if sunos:
        if fmt != "unm":
            raise InputFormatError("--sunos applies to UNM data only")
        options["names"] = "sunos"
    if splits:
        if fmt != "adfa-ld":
            raise InputFormatError("--split applies to ADFA-LD only")
        options["splits"] = list(splits)

    with Progress(
        TextColumn(f"reading {fmt}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("read", total=None)

        def progress(done: int, total: int | None = None) -> None:
            # dataset readers report (files done, files in all); the strace reader
            # reports lines read since its last call
            if total is None:
                bar.advance(task, done)
            else:
                bar.update(task, completed=done, total=total)

        ds = reader.read(path, progress=progress, **options)
    if len(ds) == 0:
        raise InputFormatError(f"{path} holds no traces in the {fmt} format")
    clash = existing.intersection(ds.trace_ids())
    if clash:
        raise InputFormatError(
            f"{len(clash)} trace ids of {path} are already in {output} (e.g. {sorted(clash)[0]}); it was imported before"
        )
    write_dataset(ds, output)

    t = ds.traces.to_pylist()
    counts: Counter[tuple] = Counter()
    calls: Counter[tuple] = Counter()
    for r in t:
        key = (r["label"], r["split"], r["group"])
        counts[key] += 1
        calls[key] += r["n_events"] or 0
    rows = [
        {"label": k[0], "split": k[1], "group": k[2], "traces": n, "events": calls[k]}
        for k, n in sorted(counts.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
    ]
    if as_json:
        print_json({"format": fmt, "output": str(output), "traces": len(ds), "events": ds.events.num_rows, "by": rows})
        return
    console.print(rich_table(rows, title=f"{path.name}: {fmt}"))
    console.print(f"wrote {len(ds):,} traces, {ds.events.num_rows:,} events to {output}")


COMMANDS = [import_cmd]
