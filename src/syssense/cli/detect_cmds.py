"""``syssense train | merge | score | compare``: normal models and how runs deviate from them."""

from __future__ import annotations

import inspect
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .._atomic import atomic_path
from ..dataset import Dataset, parse_where
from ..errors import InputFormatError, SyssenseError
from ..features import Sequences, window_rows
from .common import console, err_console, print_json, rich_table, where_option

BY_CHOICES = ["process", "trace", "thread"]


# --------------------------------------------------------------------------- helpers
def parse_ks(spec: str) -> list[int]:
    """``6``, ``2..10``, ``2-10`` or ``2,4,6`` as a list of window sizes."""
    spec = spec.strip()
    m = re.fullmatch(r"(\d+)\s*(?:\.\.|-)\s*(\d+)", spec)
    try:
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            ks = list(range(min(lo, hi), max(lo, hi) + 1))
        else:
            ks = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1:
        raise InputFormatError(f"cannot read window sizes '{spec}': write e.g. 6, 2..10 or 2,4,6 (each at least 1)")
    return ks


def load_data(path: str, where: tuple[str, ...] = ()) -> Dataset:
    """Anything syssense reads (dataset dir, Parquet, raw log, public dataset), selected."""
    from ..parse.registry import load

    ds = load(path)
    if where:
        ds = ds.select(parse_where(where))
    if len(ds) == 0:
        raise InputFormatError(f"no traces in {path}" + (" match " + " ".join(where) if where else ""))
    return ds


def _write_or_print(table: pa.Table, as_json: bool, as_csv: bool, output: Path | None, title: str, limit: int,
                    terminal_columns: list[str] | None = None) -> None:
    if output is not None:
        suffix = output.suffix.lower()
        with atomic_path(output) as tmp:
            if suffix == ".parquet":
                pq.write_table(table, tmp)
            elif suffix in (".json", ".jsonl"):
                tmp.write_text(json.dumps(table.to_pylist(), indent=2, default=str) + "\n", encoding="utf-8")
            else:
                pacsv.write_csv(table, tmp)
        err_console.print(f"wrote {table.num_rows} rows to {output}")
        return
    if as_json:
        print_json(table.to_pylist())
    elif as_csv:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        click.echo(buf.getvalue().decode("utf-8"), nl=False)
    else:
        shown = table.slice(0, limit) if limit and table.num_rows > limit else table
        if terminal_columns:  # the full table goes to --csv / --json / -o
            shown = shown.select([c for c in terminal_columns if c in shown.column_names])
        console.print(rich_table(shown, title=title))
        if shown.num_rows < table.num_rows:
            err_console.print(f"... {table.num_rows - shown.num_rows} more rows: use --limit 0, --csv or --json for all")


def _detector_params(name: str, k: int | None, params: tuple[str, ...]) -> dict[str, Any]:
    from ..detect import load_all_detectors

    detectors = load_all_detectors()
    if name not in detectors:
        raise InputFormatError(f"unknown detector '{name}': choose one of {', '.join(sorted(detectors))}")
    accepted = [p for p in inspect.signature(detectors[name].__init__).parameters if p != "self"]
    out: dict[str, Any] = {}
    if k is not None:
        key = next((p for p in ("k", "n", "order", "window") if p in accepted), None)
        if key is None:
            raise InputFormatError(f"the {name} detector has no window size; drop -k")
        out[key] = k
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or key not in accepted:
            raise InputFormatError(f"cannot use parameter '{item}' for {name}: it takes {', '.join(accepted) or 'none'} as key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _grouping(model: Any, by: str | None) -> str:
    """``--by`` when given, else how the model was trained (process when unknown)."""
    grouping = by or getattr(model, "train_info_", {}).get("by", "process")
    return grouping if grouping in BY_CHOICES else "process"


def sequences_for(model: Any, events: pa.Table, by: str) -> Sequences:
    """The sequences ``model`` reads: with timestamps and durations for the timing detector."""
    make = getattr(model, "sequences_from_events", None)
    if getattr(model, "needs_times", False) and make is not None:
        return make(events, by=by)
    return Sequences.from_events(events, by=by)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- train
@click.command("train")
@click.argument("data")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="Model file to write.")
@click.option("--detector", default="stide", show_default=True, help="Detector: stide, tstide, lookahead, ngram, hmm, ...")
@click.option("-k", "k", type=int, default=None, help="Window size (stide family default 6).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Other detector parameter, e.g. locality=20.")
@click.option("--by", type=click.Choice(BY_CHOICES), default="process", show_default=True, help="One sequence per process, trace or thread.")
@click.option("--calibrate/--no-calibrate", "calibrate", default=None,
              help="Set verdict thresholds from normal traces held out of training (k-fold). "
                   "Default: on, except for stide, t-stide, lookahead (any miss is anomalous) and lstm (costly).")
@click.option("--false-alarm-rate", type=float, default=0.01, show_default=True,
              help="With calibration: share of held-out normal traces (and windows) allowed above the thresholds.")
@click.option("--folds", type=int, default=5, show_default=True, help="With calibration: number of cross-validation folds.")
@where_option
def train_cmd(data: str, output: Path, detector: str, k: int | None, params: tuple[str, ...], by: str,
              calibrate: bool | None, false_alarm_rate: float, folds: int, where: tuple[str, ...]) -> None:
    """Learn normal behaviour from DATA and write a model.

    Unless told otherwise the model is calibrated: its verdict thresholds are set so that
    about --false-alarm-rate of normal traces it has not seen score above them (k-fold
    cross-validation over the training traces), and `score` and `monitor` use them.

    \b
    Examples:
      syssense train runs/ -o normal.model --where category=normal -k 6
      syssense train ADFA-LD.zip -o adfa.model --where split=training --by trace --detector cover
    """
    from ..detect import load_all_detectors, make_detector

    t0 = time.perf_counter()
    kwargs = _detector_params(detector, k, params)
    asked = calibrate is not None
    if calibrate is None:
        calibrate = load_all_detectors()[detector].calibrate_by_default
    if calibrate and not 0.0 < false_alarm_rate < 1.0:
        raise InputFormatError(f"--false-alarm-rate must be between 0 and 1 (exclusive), not {false_alarm_rate:g}")
    if calibrate and folds < 2:
        raise InputFormatError(f"--folds must be at least 2, not {folds}")
    with err_console.status(f"reading {data}"):
        ds = load_data(data, where)
    with err_console.status(f"training {detector} on {len(ds)} traces") as status:
        model = make_detector(detector, **kwargs)
        seqs = sequences_for(model, ds.events, by)
        if seqs.n_calls == 0:
            raise InputFormatError(f"the selected traces of {data} hold no system calls to learn from")
        if calibrate and not asked and len(seqs.trace_index()[0]) < 2:
            calibrate = False  # nothing to hold out; the summary says the model is not calibrated
        try:
            model.fit(seqs)
            if calibrate:
                status.update(f"calibrating {detector}: fold 1/{folds}")
                model.calibrate(seqs, false_alarm_rate=false_alarm_rate, folds=folds,
                                progress=lambda i, n: status.update(f"calibrating {detector}: fold {min(i + 1, n)}/{n}"))
        except (ValueError, TypeError) as exc:
            raise InputFormatError(f"cannot train {detector}: {exc}") from None
        model.train_info_ = {**getattr(model, "train_info_", {}), "by": by, "where": list(where), "data": str(data),
                             "n_traces": len(ds), "n_sequences": len(seqs), "n_calls": seqs.n_calls}
        model.save(output)
    summary = {"model": str(output), "detector": detector, **model.get_params(), "by": by, "traces": len(ds),
               "sequences": len(seqs), "calls": seqs.n_calls, "vocabulary": len(model.vocab_.to_list())}
    if hasattr(model, "db_"):
        summary["distinct_windows"] = len(model.db_)
    if hasattr(model, "pairs_"):
        summary["lookahead_pairs"] = len(model.pairs_)
    calibration = getattr(model, "verdict_calibration_", None)
    if calibration:
        share = f"{calibration['false_alarm_rate']:.3g} of {calibration['held_out_traces']} held-out traces"
        summary["threshold"] = f"{calibration['threshold']:.6g} ({share} above)"
        summary["window_threshold"] = ("any miss (0/1 window scores)" if calibration["window_threshold"] is None
                                       else f"{calibration['window_threshold']:.6g}")
    else:
        summary["threshold"] = f"{model.verdict_threshold():g} (detector default, not calibrated)"
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    console.print(rich_table([{"": key, "value": value} for key, value in summary.items()], title="trained"))


# --------------------------------------------------------------------------- merge
@click.command("merge")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="Merged model file to write.")
def merge_cmd(models: tuple[Path, ...], output: Path) -> None:
    """Merge models of the same detector and parameters (e.g. trained on different hosts).

    \b
    Example:
      syssense merge host1.model host2.model -o fleet.model
    """
    from ..detect import load_model

    if len(models) < 2:
        raise InputFormatError("give at least two models to merge")
    merged = load_model(models[0])
    for path in models[1:]:
        merged.merge(load_model(path))
    infos = [dict(getattr(merged, "train_info_", {}))]
    merged.train_info_ = {"merged_from": [str(m) for m in models], "by": infos[0].get("by", "process")}
    merged.save(output)
    row = {"model": str(output), "detector": merged.name, **merged.get_params(), "inputs": len(models)}
    if hasattr(merged, "db_"):
        row["distinct_windows"] = len(merged.db_)
    console.print(rich_table([{"": key, "value": value} for key, value in row.items()], title="merged"))


# --------------------------------------------------------------------------- score
def window_rows_table(model: Any, ds: Dataset, seqs: Sequences, threshold: float, all_windows: bool) -> pa.Table:
    """Per-window rows with decoded calls and positions back to the log."""
    wt = model.window_table(seqs)
    if "seq_index" not in wt.column_names:
        raise InputFormatError(f"the {model.name} detector does not score k-windows; drop --windows")
    score = wt.column("score").to_numpy()
    keep = np.flatnonzero(np.ones(len(score), bool) if all_windows else score > threshold)
    wt = wt.take(pa.array(keep, pa.int64()))
    seq_index = wt.column("seq_index").to_numpy()
    start = wt.column("start").to_numpy()
    length = np.maximum(wt.column("length").to_numpy(), 1)
    k = int(getattr(model, "k", 1) or 1)
    flat = seqs.offsets[:-1][seq_index] + start
    padded = seqs.lengths[seq_index] < k
    names = np.array(seqs.vocab.names, dtype=object)
    rows_mat = window_rows(seqs, k, flat, padded, seq_index) if len(flat) else np.zeros((0, k), np.int32)
    calls = [" ".join(names[r[: int(n)]]) for r, n in zip(rows_mat, length, strict=True)]
    ev = ds.events
    first_row = seqs.rows[np.minimum(flat, max(len(seqs.rows) - 1, 0))] if len(flat) else np.zeros(0, np.int64)
    last_row = seqs.rows[np.minimum(flat + length - 1, max(len(seqs.rows) - 1, 0))] if len(flat) else np.zeros(0, np.int64)

    def col(name: str, idx: np.ndarray) -> pa.Array:
        return ev.column(name).take(pa.array(idx, pa.int64()))

    out = {
        "trace_id": wt.column("trace_id"),
        "pid": wt.column("pid"),
        "window": wt.column("window"),
        "start": wt.column("start"),
        "seq_first": col("seq", first_row),
        "seq_last": col("seq", last_row),
        "ts_first": col("ts", first_row),
        "ts_last": col("ts", last_row),
        "line_first": col("line", first_row),
        "line_last": col("line", last_row),
        "calls": pa.array(calls, pa.string()),
    }
    for extra in ("match", "rare", "hamming", "lfc", "mismatches", "score"):
        if extra in wt.column_names:
            out[extra] = wt.column(extra)
    return pa.table(out)


@click.command("score")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data")
@click.option("--threshold", type=float, default=None,
              help="Verdict 'anomalous' when score > T (default: the model's calibrated threshold, else the detector's; 0 for stide).")
@click.option("--windows", is_flag=True, help="One row per anomalous window with calls and log positions.")
@click.option("--all-windows", is_flag=True, help="With --windows: every window, not only anomalous ones.")
@click.option("--by", type=click.Choice(BY_CHOICES), default=None, help="Sequences per process/trace/thread (default: as trained).")
@click.option("--no-hamming", is_flag=True, help="stide family: skip minimum Hamming distances (faster).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), default=None, help="Write the table (.csv, .json or .parquet).")
@click.option("--limit", type=int, default=50, show_default=True, help="Rows shown in the terminal table (0: all).")
@where_option
def score_cmd(model_path: Path, data: str, threshold: float | None, windows: bool, all_windows: bool, by: str | None,
              no_hamming: bool, as_json: bool, as_csv: bool, output: Path | None, limit: int, where: tuple[str, ...]) -> None:
    """Score the traces of DATA against MODEL: one row per trace, or per window.

    Columns (stide): score = mismatch rate, coverage, max_hamming, anomaly_signal
    (S_A = max_hamming / k), max_lfc, verdict.

    \b
    Examples:
      syssense score normal.model runs/ --where category=recon
      syssense score normal.model runs/ --windows --csv > alarms.csv
    """
    from ..detect import load_model

    model = load_model(model_path)
    grouping = _grouping(model, by)
    t = threshold if threshold is not None else model.verdict_threshold()
    t_window = threshold if threshold is not None else model.window_verdict_threshold()
    calibration = getattr(model, "verdict_calibration_", None)
    source = ("given" if threshold is not None else
              f"calibrated for {calibration['false_alarm_rate']:.3g} held-out false alarms" if calibration else
              "detector default, model not calibrated")
    with err_console.status(f"reading {data}"):
        ds = load_data(data, where)
    with err_console.status(f"scoring {len(ds)} traces"):
        seqs = sequences_for(model, ds.events, grouping)
        if len(seqs) == 0:
            raise InputFormatError(f"the selected traces of {data} hold no system calls to score")
        if windows:
            table = window_rows_table(model, ds, seqs, t_window, all_windows)
            title = (f"windows of {data} against {model_path} ({model.name}, score > {t_window:g}, {source}); "
                     "all columns with --csv/--json")
            compact = ["trace_id", "pid", "seq_first", "seq_last", "line_first", "calls", "hamming", "lfc", "mismatches", "score"]
        else:
            if hasattr(model, "analyse"):  # the stide family
                res = model.score_traces(seqs, hamming=not no_hamming)
            else:
                res = model.score_traces(seqs)
            meta = ds.traces.select([c for c in ("trace_id", "scenario", "category", "label") if c in ds.traces.column_names])
            res = res.join(meta, "trace_id", join_type="left outer")
            front = [c for c in ("trace_id", "scenario", "category", "label") if c in res.column_names]
            res = res.select(front + [c for c in res.column_names if c not in front])
            verdict = np.where(res.column("score").to_numpy(zero_copy_only=False) > t, "anomalous", "normal")
            table = res.append_column("verdict", pa.array(verdict.tolist(), pa.string()))
            title = f"{data} against {model_path} ({model.name}, verdict at score > {t:g}, {source})"
            compact = None
    _write_or_print(table, as_json, as_csv, output, title, limit, compact)


# --------------------------------------------------------------------------- explain
#: what each detector's explanation lists (the title of the table)
EXPLAINS = {
    "ngram": "least probable transitions (context → call)",
    "cover": "where the covering by pieces of normal traces breaks (shortest segments first)",
    "tfidf": "n-grams never seen in normal traces, most frequent first",
    "frequency": "calls used unlike normal runs (never-seen calls first, then by |log ratio|)",
}


def with_log_lines(table: pa.Table, ds: Dataset, seqs: Sequences) -> pa.Table:
    """Add ``line`` (the log line) where ``table`` names a ``seq_index`` and ``position``."""
    if not {"seq_index", "position"} <= set(table.column_names) or seqs.rows is None or "line" not in ds.events.column_names:
        return table
    seq_index = table.column("seq_index").to_numpy()
    position = table.column("position").to_numpy()
    flat = seqs.offsets[:-1][seq_index] + position
    lines = ds.events.column("line").take(pa.array(seqs.rows[flat], pa.int64())) if len(flat) else pa.array([], pa.int64())
    if len(lines) and lines.null_count == len(lines):  # datasets without log lines (ADFA-LD, UNM)
        return table
    return table.append_column("line", lines)


@click.command("explain")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data")
@click.option("--top", type=int, default=10, show_default=True, help="Rows to list.")
@click.option("--by", type=click.Choice(BY_CHOICES), default=None, help="Sequences per process/trace/thread (default: as trained).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), default=None, help="Write the table (.csv, .json or .parquet).")
@where_option
def explain_cmd(model_path: Path, data: str, top: int, by: str | None, as_json: bool, as_csv: bool,
                output: Path | None, where: tuple[str, ...]) -> None:
    """How the selected traces of DATA depart from MODEL's normal behaviour, and where.

    ngram: the least probable transitions; cover: where the covering by pieces of
    normal traces breaks; tfidf: n-grams never seen in normal traces; frequency: calls
    used unlike normal runs; every other detector: its highest-scoring distinct windows.
    Rows that come from one place carry trace_id, pid and the log line.

    \b
    Examples:
      syssense explain ngram.model runs/ --where scenario=priv-single
      syssense explain cover.model ADFA-LD.zip --where group=Adduser --top 20 --csv
    """
    from ..detect import load_model

    if top < 1:
        raise InputFormatError("--top must be at least 1")
    model = load_model(model_path)
    grouping = _grouping(model, by)
    with err_console.status(f"reading {data}"):
        ds = load_data(data, where)
    with err_console.status(f"explaining {len(ds)} traces"):
        seqs = sequences_for(model, ds.events, grouping)
        if seqs.n_calls == 0:
            raise InputFormatError(f"the selected traces of {data} hold no system calls to explain")
        table = with_log_lines(model.explain(seqs, top=top), ds, seqs)
    what = EXPLAINS.get(model.name, "highest-scoring distinct windows")
    if table.num_rows == 0:
        err_console.print(f"nothing to explain: no {what.split(' (')[0]} in the selected traces of {data}")
    _write_or_print(table, as_json, as_csv, output, f"{data} against {model_path} ({model.name}): {what}", 0,
                    [c for c in table.column_names if c not in ("seq_index", "window")])


# --------------------------------------------------------------------------- compare
@click.command("compare")
@click.argument("data")
@click.option("--baseline", default="normal", show_default=True, help="Scenario (or category) that defines normal.")
@click.option("-k", "ks", default="2..10", show_default=True, help="Window sizes: 6, 2..10 or 2,4,6.")
@click.option("--by", type=click.Choice(BY_CHOICES), default="process", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), default=None, help="Write the table (.csv, .json or .parquet).")
@click.option("--limit", type=int, default=0, help="Rows shown in the terminal table (0: all).")
@where_option
def compare_cmd(data: str, baseline: str, ks: str, by: str, as_json: bool, as_csv: bool, output: Path | None,
                limit: int, where: tuple[str, ...]) -> None:
    """Compare every scenario of DATA with the baseline, for each window size.

    One row per scenario x mode x k: coverage, mismatch rate, mean and max minimum
    Hamming distance, max LFC, JS divergence of call frequencies, calls never seen in
    the baseline.

    \b
    Example:
      syssense compare runs/ --baseline normal -k 2..10 --csv > compare.csv
    """
    from ..compare import compare

    k_list = parse_ks(ks)
    with err_console.status(f"reading {data}"):
        ds = load_data(data, where)
    with err_console.status(f"comparing {len(ds)} traces with '{baseline}' for k = {ks}"):
        table = compare(ds, baseline=baseline, ks=k_list, by=by)  # type: ignore[arg-type]
    _write_or_print(table, as_json, as_csv, output, f"{data}: scenarios against '{baseline}'", limit)


COMMANDS = [train_cmd, merge_cmd, score_cmd, explain_cmd, compare_cmd]

__all__ = ["COMMANDS", "SyssenseError", "load_data", "parse_ks", "window_rows_table"]
