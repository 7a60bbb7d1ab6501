"""``syssense evaluate DATA``: labelled evaluation of detectors with a leaderboard."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._atomic import atomic_path, write_text_atomic
from ..dataset import parse_where
from ..errors import SyssenseError
from .common import console, err_console, print_json, where_option


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def leaderboard_table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    """The rich leaderboard (rows as returned by :meth:`Evaluation.leaderboard`;
    skipped detectors are left out: see :func:`skipped_notes`)."""
    t = Table(title=title, pad_edge=False, padding=(0, 1))
    calibrated = any("cal_far" in r for r in rows)
    columns = ["detector", "k", "AUC", "95% CI", "DR@1%", "DR@5%", "rec DR", "rec FA"]
    columns += ["cal FA", "cal DR"] if calibrated else []
    for name in [*columns, "fit s", "score s"]:
        t.add_column(name, justify="left" if name == "detector" else "right", no_wrap=True)
    for r in rows:
        if r.get("skipped"):
            continue
        ci = f"{_fmt(r.get('auc_lo'), 2)}-{_fmt(r.get('auc_hi'), 2)}" if r.get("auc_lo") is not None else "–"
        cells = [r["detector"], _fmt(r.get("k")), _fmt(r.get("auc")), ci,
                 _fmt(r.get("dr_at_far_1"), 2), _fmt(r.get("dr_at_far_5"), 2), _fmt(r.get("rec_dr"), 2),
                 _fmt(r.get("rec_false_alarms"))]
        if calibrated:
            cells += [_fmt(r.get("cal_far"), 3), _fmt(r.get("cal_dr"), 2)]
        t.add_row(*cells, _fmt(r.get("fit_seconds"), 1), _fmt(r.get("score_seconds"), 1))
    return t


def skipped_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One line per detector that could not run, with the reason."""
    seen: dict[str, str] = {}
    for r in rows:
        if r.get("skipped"):
            seen.setdefault(r["detector"], r["skipped"])
    return [f"{d}: skipped ({why})" for d, why in seen.items()]


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


@click.command("evaluate")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-d", "--detector", "detectors", multiple=True, default=("all",), show_default=True,
              help="Detector name, a comma list, or all (repeatable).")
@click.option("-k", "ks", default="6", show_default=True, help="Window length / order: K, K1..K2 or K1,K2,...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of result objects instead of the table.")
@click.option("--train-fraction", type=float, default=0.5, show_default=True,
              help="Random split: fraction of normal traces to train on.")
@click.option("--split", "split", type=click.Choice(["auto", "published", "random"]), default="auto", show_default=True,
              help="auto: the published training split when the data has one, else random; "
                   "random: ignore a published split and draw --train-fraction of all normal traces.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random split and the bootstrap.")
@click.option("--bootstrap", "n_bootstrap", type=int, default=1000, show_default=True,
              help="Bootstrap resamples for the AUC confidence interval (0: none).")
@click.option("--no-recording", is_flag=True, help="Skip the per-recording (LID-DS) figures (faster).")
@click.option("--calibrate", "calibrate", type=float, default=None, metavar="RATE",
              help="Also set each detector's threshold from its training traces alone for RATE held-out false "
                   "alarms (5-fold) and report the test false-alarm and detection rates at it (cal FA, cal DR).")
@click.option("--format", "fmt", default=None, help="Input format of a raw DATA path (detected when omitted).")
@click.option("--by", type=click.Choice(["process", "trace", "thread"]), default="process", show_default=True,
              help="One sequence per process (default), per trace or per thread.")
@where_option
@click.option("--scores", "scores_path", type=click.Path(path_type=Path), default=None,
              help="Write every test trace's score per detector and k to this Parquet file.")
@click.option("--curves", "curves_path", type=click.Path(path_type=Path), default=None,
              help="Write the ROC curves (fpr, tpr per detector and k) to this JSON file.")
def evaluate_cmd(data: Path, detectors: tuple[str, ...], ks: str, as_json: bool, train_fraction: float,
                 split: str, seed: int, n_bootstrap: int, no_recording: bool, calibrate: float | None,
                 fmt: str | None, by: str,
                 where: tuple[str, ...], scores_path: Path | None, curves_path: Path | None) -> None:
    """Train detectors on normal traces of DATA and rank them on its labelled test traces.

    DATA is a dataset directory, a Parquet events file or a raw dataset (ADFA-LD zip,
    UNM files, ...). Training uses the published training split when the data has one,
    else (or with --split random) --train-fraction of the normal traces (--seed). Reports ROC AUC with a bootstrap
    95 % CI, detection rate at 1 % and 5 % false alarms, per-recording detection (LID-DS
    convention), and fit/score seconds.

    \b
    Examples:
      syssense evaluate /work/shared/datasets/adfa-ld/ADFA-LD.zip --detector all -k 3..10
      syssense evaluate adfa --detector ngram -k 6 --json
      syssense evaluate stide-data --detector stide,ngram -k 6 --train-fraction 0.3 --seed 1
      syssense evaluate ADFA-LD.zip -d cover,tfidf --split random --train-fraction 0.16
      syssense evaluate ADFA-LD.zip -d cover,ngram --calibrate 0.01
    """
    from ..evaluate import _detector_names, _parse_ks, evaluate
    from ..parse.registry import load

    _detector_names(list(detectors))  # bad names and k fail before any work
    _parse_ks(ks)
    if not data.exists():
        raise SyssenseError(f"{data} does not exist")
    if n_bootstrap < 0:
        raise SyssenseError("--bootstrap must be 0 or more")
    if calibrate is not None and not 0.0 < calibrate < 1.0:
        raise SyssenseError(f"--calibrate must be a false-alarm rate between 0 and 1 (exclusive), not {calibrate:g}")
    with err_console.status(f"reading {data}", spinner="dots"):
        ds = load(data, fmt)
        if where:
            ds = ds.select(parse_where(where))
    if len(ds) == 0:
        raise SyssenseError(f"{data} holds no traces to evaluate")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console, transient=True)
    with progress:
        task = progress.add_task("evaluating", total=None)

        def report(label: str, done: int, total: int) -> None:
            progress.update(task, description=label, completed=done, total=total)

        result = evaluate(ds, detectors=list(detectors), ks=ks, train_fraction=train_fraction, seed=seed, split=split,
                          n_bootstrap=n_bootstrap, recording=not no_recording, by=by, progress=report,
                          calibrate=calibrate)
    rows = result.leaderboard()
    if scores_path is not None:
        import pyarrow.parquet as pq

        with atomic_path(scores_path) as tmp:
            pq.write_table(result.scores, tmp)
    if curves_path is not None:
        curves = [{"detector": d, "k": k, "fpr": c["fpr"].tolist(), "tpr": c["tpr"].tolist()}
                  for (d, k), c in result.curves.items()]
        write_text_atomic(curves_path, json.dumps(curves))
    if as_json:
        print_json([{key: _jsonable(v) for key, v in r.items()} for r in rows])
        return
    info = result.info
    how = ("published training split" if info["split"] == "published"
           else f"random {info['train_fraction']:.0%} of normal traces (seed {info['seed']})")
    out = console if console.is_terminal else Console(width=120)  # pipes and files: no truncation
    out.print(leaderboard_table(rows, title=f"{data.name}: trained on {info['n_train']} normal traces "
                                                f"({how}); tested on {info['n_test_normal']} normal + "
                                                f"{info['n_test_anomalous']} anomalous"))
    for line in skipped_notes(rows):
        out.print(line, style="yellow")
    out.print("AUC: ROC area over test traces; DR@x%: detection rate at x % false alarms; rec: per recording "
                  "(LID-DS), threshold = max window score on training traces, FA = false-alarm runs"
                  + ("; cal: at the threshold set on training traces alone for "
                     f"{calibrate:g} held-out false alarms, the share of test normals above it (FA) and of "
                     "anomalous traces (DR)." if calibrate is not None else "."),
                  style="dim")


COMMANDS = [evaluate_cmd]
