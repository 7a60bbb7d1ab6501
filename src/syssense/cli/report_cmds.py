"""Commands ``interpret``, ``report``, ``plot`` and ``demo`` (issue 7)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import SyssenseError
from .common import console, err_console, print_json, rich_table, where_option

_STEPS = ("summary", "frequency", "windows", "coverage", "mismatch", "quadrants", "anomalous windows",
          "ROC and timing", "writing")


def _parse_ks(text: str) -> list[int]:
    """``2..10``, ``2-10`` or ``3,6,10`` -> list of window sizes."""
    try:
        text = text.strip()
        for sep in ("..", "-"):
            if sep in text:
                lo, hi = text.split(sep, 1)
                ks = list(range(int(lo), int(hi) + 1))
                break
        else:
            ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SyssenseError(f"cannot read window sizes '{text}': write them as 2..10 or 3,6,10") from None
    if not ks or min(ks) < 1:
        raise SyssenseError(f"window sizes '{text}' must be whole numbers of at least 1")
    return ks


def _load(data: str, where: Sequence[str]):
    from ..dataset import parse_where
    from ..parse.registry import load

    ds = load(data)
    sel = parse_where(where)
    if sel:
        ds = ds.select(sel)
        if len(ds) == 0:
            raise SyssenseError("no traces match the --where selection")
    return ds


def _report_progress(description: str):
    """A rich progress bar driven by write_report's step names; returns (progress, callback)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[step]}"),
                        TimeElapsedColumn(), console=err_console, transient=False)
    task = progress.add_task(description, total=len(_STEPS), step="")

    def step(name: str) -> None:
        done = _STEPS.index(name) if name in _STEPS else 0
        progress.update(task, completed=done, step=name)

    return progress, task, step


# --------------------------------------------------------------------------- interpret


@click.command("interpret")
@click.argument("data", type=click.Path())
@click.option("--baseline", default="normal", show_default=True, help="Category or scenario of the normal runs.")
@click.option("--priv", "priv", default="priv", show_default=True, help="Category or scenario of the priv runs.")
@click.option("--recon", "recon", default="recon", show_default=True, help="Category or scenario of the recon runs.")
@click.option("-k", "k", type=int, default=6, show_default=True, help="Window size.")
@click.option("--priv-threshold", type=float, default=None, help="Priv score at or above which a trace is 'high priv' [default: 0.1].")
@click.option("--recon-threshold", type=float, default=None, help="Recon score at or above which a trace is 'high recon' [default: 0.1].")
@click.option("--holdout", type=click.Choice(["auto", "run", "trace", "none"]), default="auto", show_default=True,
              help="Never score a trace against signatures built from itself: leave one run out (run), one trace out "
                   "(trace), or in sample (none). auto = run when there are two or more runs.")
@click.option("--by", type=click.Choice(["process", "trace", "thread"]), default="process", show_default=True,
              help="Sequences per process, per whole trace, or per thread.")
@where_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def interpret_cmd(data: str, baseline: str, priv: str, recon: str, k: int, priv_threshold: float | None,
                  recon_threshold: float | None, holdout: str, by: str, where: Sequence[str], as_json: bool) -> None:
    """Place every trace of DATA in a priv/recon quadrant.

    The priv signature is the set of k-windows seen in priv runs and never in the
    baseline; likewise recon. A trace's scores are the fractions of its windows in each.
    Quadrants: high priv + low recon "stronger anomalous behaviour"; low + low "benign or
    low-signal behaviour"; high + high "controlled or expected privileged behaviour";
    low priv + high recon "reconnaissance".
    """
    from ..interpret import (
        DEFAULT_PRIV_THRESHOLD,
        DEFAULT_RECON_THRESHOLD,
        QUADRANTS,
        interpret,
        metadata,
    )
    from ..report.analysis import trace_labels

    pt = DEFAULT_PRIV_THRESHOLD if priv_threshold is None else priv_threshold
    rt = DEFAULT_RECON_THRESHOLD if recon_threshold is None else recon_threshold
    ds = _load(data, where)
    table = interpret(ds, baseline=baseline, priv=priv, recon=recon, k=k, priv_threshold=pt, recon_threshold=rt,
                      holdout=holdout, by=by)  # type: ignore[arg-type]
    meta = metadata(table)
    if as_json:
        print_json({"meta": meta, "traces": table.to_pylist()})
        return
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    labels = trace_labels(ds.traces)
    recs = sorted(zip(labels, table.to_pylist(), strict=True),
                  key=lambda x: (x[1]["category"] or "", x[1]["scenario"] or "", x[1]["run"] or 0, x[0]))
    wide = console.width >= 120
    out = Table(title=f"Priv/recon quadrants (k={meta['k']}, thresholds priv {pt:g}, recon {rt:g}, holdout {meta['holdout']})",
                box=box.SIMPLE_HEAD)
    out.add_column("trace", ratio=3, overflow="fold")
    if wide:
        out.add_column("category")
        out.add_column("windows", justify="right")
    out.add_column("priv", justify="right", no_wrap=True)
    out.add_column("recon", justify="right", no_wrap=True)
    out.add_column("quadrant", ratio=2, no_wrap=wide)

    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.3f}"

    for lab, r in recs:
        cells = [escape(lab)] + ([r["category"] or "", str(r["n_windows"])] if wide else [])
        cells += [num(r["priv_score"]), num(r["recon_score"]), r["quadrant"] or "no system calls"]
        out.add_row(*cells)
    console.print(out)
    counts: dict[str, dict[str, int]] = {}
    for r in table.to_pylist():
        if r["quadrant"]:
            c = counts.setdefault(r["category"] or "?", {})
            c[r["quadrant"]] = c.get(r["quadrant"], 0) + 1
    summary = [{"category": cat, **{q: c.get(q, 0) for q in QUADRANTS}} for cat, c in sorted(counts.items())]
    console.print(rich_table(summary, title="Traces per category and quadrant"))
    console.print(f"signatures: priv {meta['priv_signature']} windows, recon {meta['recon_signature']} windows, "
                  f"baseline {meta['baseline_windows']} windows")


# --------------------------------------------------------------------------- report


def _report_options(f):
    for opt in reversed([
        click.option("--baseline", default="normal", show_default=True, help="Category or scenario of the normal runs."),
        click.option("-k", "k", type=int, default=6, show_default=True, help="Window size of the detailed sections."),
        click.option("--ks", "ks", default="2..10", show_default=True, help="Window sizes of the coverage plot."),
        click.option("--priv-threshold", type=float, default=0.1, show_default=True, help="Priv quadrant threshold."),
        click.option("--recon-threshold", type=float, default=0.1, show_default=True, help="Recon quadrant threshold."),
        click.option("--top", "top", type=int, default=15, show_default=True, help="Anomalous windows to show."),
        click.option("--by", type=click.Choice(["process", "trace", "thread"]), default="process", show_default=True,
                     help="Sequences per process, per whole trace, or per thread."),
        where_option,
    ]):
        f = opt(f)
    return f


@click.command("report")
@click.argument("data", type=click.Path())
@click.option("-o", "--output", "output", type=click.Path(), default="report.html", show_default=True,
              help="The HTML file to write.")
@click.option("--figures", "figures", type=click.Path(), default=None,
              help="Also save every figure as PNG and SVG in this folder.")
@click.option("--title", default=None, help="Title of the report.")
@_report_options
def report_cmd(data: str, output: str, figures: str | None, title: str | None, baseline: str, k: int, ks: str,
               priv_threshold: float, recon_threshold: float, top: int, by: str, where: Sequence[str]) -> None:
    """Write a self-contained HTML report of DATA (figures embedded, no network access)."""
    from ..report.html import write_report

    ds = _load(data, where)
    progress, task, step = _report_progress("report")
    with progress:
        path = write_report(ds, output, baseline=baseline, ks=_parse_ks(ks), k=k, priv_threshold=priv_threshold,
                            recon_threshold=recon_threshold, top_windows=top, by=by, title=title,  # type: ignore[arg-type]
                            progress=step, figure_dir=figures)
        progress.update(task, completed=len(_STEPS), step="done")
    console.print(f"report written to [bold]{path}[/bold]")


@click.command("plot")
@click.argument("data", type=click.Path())
@click.option("-o", "--output", "output", type=click.Path(), required=True, help="Folder for the PNG and SVG figures.")
@_report_options
def plot_cmd(data: str, output: str, baseline: str, k: int, ks: str, priv_threshold: float, recon_threshold: float,
             top: int, by: str, where: Sequence[str]) -> None:
    """Save the report's figures of DATA as PNG and SVG files in a folder."""
    from ..report.html import build_context

    ds = _load(data, where)
    progress, task, step = _report_progress("figures")
    with progress:
        ctx = build_context(ds, baseline=baseline, ks=_parse_ks(ks), k=k, priv_threshold=priv_threshold,
                            recon_threshold=recon_threshold, top_windows=top, by=by, progress=step,  # type: ignore[arg-type]
                            figure_dir=output)
        progress.update(task, completed=len(_STEPS), step="done")
    for name in sorted(ctx["_figures"]):
        console.print(f"{Path(output) / name}.png  {Path(output) / name}.svg")


# --------------------------------------------------------------------------- demo


def _capture(sets: Sequence[str], out_dir: Path, runs: int) -> Any:
    """Capture ``sets`` into ``out_dir`` with the capture stage's suite runner, with a progress bar."""
    from .capture_cmds import run_with_progress

    return run_with_progress(list(sets), str(out_dir), runs=runs)


@click.command("demo")
@click.option("-o", "--output", "output", type=click.Path(), default="syssense-demo", show_default=True,
              help="Folder for the captured data, the figures and report.html.")
@click.option("--runs", type=int, default=3, show_default=True, help="Runs of every scenario.")
@click.option("--sets", "sets", default="behaviour,stress", show_default=True, help="Scenario sets to capture.")
@click.option("-k", "k", type=int, default=6, show_default=True, help="Window size of the detailed sections.")
@click.option("--ks", "ks", default="2..10", show_default=True, help="Window sizes compared.")
def demo_cmd(output: str, runs: int, sets: str, k: int, ks: str) -> None:
    """Capture the behaviour and stress sets, compare them with the normal baseline,
    interpret the priv/recon quadrants and write OUTPUT/report.html.

    Every run captures afresh into OUTPUT/runs/<time>/data; nothing from an earlier run is reused.
    """
    from ..dataset import read_dataset
    from ..interpret import QUADRANTS, interpret
    from ..report.html import write_report

    if runs < 1:
        raise SyssenseError("--runs must be at least 1")
    set_names = [s.strip() for s in sets.split(",") if s.strip()]
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise SyssenseError(f"{out} exists and is not a folder; choose another --output")
    t0 = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run_dir = out / "runs" / stamp
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out / "runs" / f"{stamp}-{n}"
    data_dir = run_dir / "data"
    err_console.print(f"[bold]1/3[/bold] capturing {', '.join(set_names)} ({runs} run{'s' if runs != 1 else ''} each) into {data_dir}")
    _capture(set_names, data_dir, runs)
    t_capture = time.monotonic() - t0
    ds = read_dataset(data_dir)
    if len(ds) == 0:
        raise SyssenseError(f"the capture wrote no traces into {data_dir}")
    err_console.print("[bold]2/3[/bold] training the normal baseline, comparing, interpreting, plotting")
    progress, task, step = _report_progress("report")
    report = out / "report.html"
    with progress:
        write_report(ds, report, baseline="normal", ks=_parse_ks(ks), k=k, progress=step,
                     figure_dir=run_dir / "figures", title="syssense demo: behaviour and stress scenarios")
        progress.update(task, completed=len(_STEPS), step="done")
    err_console.print("[bold]3/3[/bold] summary")
    from ..report.analysis import coverage_rows

    cov = {(r["scenario"], r["mode"]): r for r in coverage_rows(ds, [k], "normal")}
    quad: dict[tuple[str, str], dict[str, int]] = {}
    try:
        q = interpret(ds, k=k)
        for r in q.to_pylist():
            if r["quadrant"]:
                d = quad.setdefault((r["scenario"] or "?", r["mode"] or ""), {})
                d[r["quadrant"]] = d.get(r["quadrant"], 0) + 1
    except SyssenseError as exc:
        err_console.print(f"quadrants not computed: {exc}")
    rows = []
    for key in sorted(cov):
        r = cov[key]
        qd = quad.get(key, {})
        top_q = max(qd.items(), key=lambda x: (x[1], -QUADRANTS.index(x[0])))[0] if qd else ""
        rows.append({"scenario": key[0], "mode": key[1], "windows": r["windows"], f"coverage k={k}": r["coverage"],
                     "max LFC": r["max_lfc"], "usual quadrant": top_q})
    from rich import box
    from rich.table import Table

    table = Table(title=f"syssense demo: {len(ds)} traces in {time.monotonic() - t0:.0f} s (capture {t_capture:.0f} s)",
                  box=box.SIMPLE_HEAD)
    cols = list(rows[0]) if rows else []
    if console.width < 110:  # narrow terminal: keep what matters, without truncation
        cols = [c for c in cols if c not in ("windows", "mode")]
    for col in cols:
        numeric = col in ("windows", f"coverage k={k}", "max LFC")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col != "usual quadrant")
    for r in rows:
        table.add_row(*[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols])
    console.print(table)
    console.print(f"report: [bold]{report.resolve()}[/bold]")
    console.print(f"data:   {data_dir}")


interpret_cmd.name = "interpret"
COMMANDS = [interpret_cmd, report_cmd, plot_cmd, demo_cmd]
