"""``syssense monitor MODEL... -- CMD ARGS`` / ``--pid PID`` / ``--replay LOG``: live detection."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import IO

import click

from .._atomic import atomic_path
from ..errors import InputFormatError, SyssenseError
from ..monitor import (
    Alert,
    AlertLimiter,
    Monitor,
    MonitorSummary,
    check_target,
    replay,
    run_monitor,
)
from .common import console, err_console, print_json, rich_table


class _SplitAtDashes(click.Command):
    """Everything after ``--`` is the command to run, never a MODEL."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta["monitor_command"] = list(args[i + 1 :])
            args = args[:i]
        return super().parse_args(ctx, args)


def _thresholds(items: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputFormatError(f"cannot read threshold '{item}': write it as MODEL=VALUE, e.g. --threshold ngram=4.5")
    return out


def _calibrate(mon: Monitor, data: Path, quantile: float) -> None:
    from ..features import Sequences
    from ..parse.registry import load

    ds = load(data)
    seqs = Sequences.from_events(ds.events)
    if seqs.n_calls == 0:
        raise InputFormatError(f"{data} holds no system calls to calibrate thresholds with")
    for sc in mon.scorers:
        if not sc.fast:  # set-lookup models (stide) need no threshold: any miss is anomalous
            sc.calibrate(seqs, quantile)


@click.command("monitor", cls=_SplitAtDashes, context_settings={"ignore_unknown_options": False})
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pid", type=int, default=None, help="Attach to this running process (and its threads and children).")
@click.option("--replay", "replay_log", type=click.Path(path_type=Path), default=None,
              help="Score a recorded strace log at full speed instead of a live process.")
@click.option("--jsonl", "jsonl", default=None, metavar="FILE|-",
              help="Also write every alert as one JSON line to FILE, or to stdout with '-'.")
@click.option("--threshold", "thresholds", multiple=True, metavar="MODEL=VALUE",
              help="Alert when a window's score is above VALUE for this model (name = file stem).")
@click.option("--calibrate", "calibrate", type=click.Path(path_type=Path), default=None,
              help="Set thresholds of score-based models (e.g. ngram) to the highest window score on this normal data.")
@click.option("--quantile", type=float, default=1.0, show_default=True,
              help="With --calibrate: the quantile of normal window scores used as threshold.")
@click.option("-L", "--locality", "L", type=int, default=None,
              help="Locality frame: LFC counts anomalous windows among the last L of a process (default: the model's, else 20).")
@click.option("--min-lfc", type=int, default=1, show_default=True,
              help="Report an anomalous window only when its LFC is at least this.")
@click.option("--max-alerts-per-second", "max_rate", type=float, default=10.0, show_default=True,
              help="Report at most this many alerts in any second (of trace time); count the rest "
                   "as suppressed (0: no limit).")
@click.option("--save-log", type=click.Path(path_type=Path), default=None,
              help="Keep the raw strace output in this file (alert line numbers refer to it).")
@click.option("--timeout", type=float, default=None, help="Stop monitoring after this many seconds (the program goes on).")
@click.option("-q", "--quiet", is_flag=True, help="Do not print alerts as they happen; only the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--fail-on-alert", is_flag=True, help="Exit with status 1 when there was any alert.")
@click.pass_context
def monitor_cmd(ctx: click.Context, models: tuple[Path, ...], pid: int | None, replay_log: Path | None,
                jsonl: str | None, thresholds: tuple[str, ...], calibrate: Path | None, quantile: float,
                L: int | None, min_lfc: int, max_rate: float, save_log: Path | None, timeout: float | None,
                quiet: bool, as_json: bool, fail_on_alert: bool) -> None:
    """Watch a program's system calls live and report windows its MODELs never saw.

    strace follows the program (-f -ttt -T -yy) and writes into a pipe; every new
    window of k calls of each process is scored with every MODEL as soon as it
    arrives. stide models flag windows missing from the normal database; other
    models flag windows scoring above their threshold (--threshold, --calibrate, else
    the one `syssense train` calibrated into the model, else the detector's default).
    Each alert shows the time, process, the window's calls, its score, its LFC
    (anomalous windows among the last L of the process) and its line in the log.
    Stopping the monitor (Ctrl-C, SIGTERM, a failure) detaches strace: the program
    goes on running. A burst of alerts is cut to --max-alerts-per-second; each run of
    suppressed alerts is reported as one line (and one "suppressed" JSON record), and
    the summary counts them.

    \b
    Examples:
      syssense monitor normal.npz -- ./server --port 8080
      syssense monitor stide.npz ngram.npz --calibrate normal/ --pid 4242
      syssense monitor stide.npz --replay run.log --jsonl alerts.jsonl
    """
    command = ctx.meta.get("monitor_command")
    sources = sum(x is not None for x in (command, pid, replay_log))
    if sources != 1:
        raise SyssenseError(
            "say what to monitor: a command after -- (syssense monitor M.npz -- CMD ARGS), --pid PID or --replay LOG"
        )
    if command is not None and not command:
        raise SyssenseError("no command after --: write it as syssense monitor M.npz -- CMD ARGS")
    if replay_log is not None and not replay_log.is_file():
        raise InputFormatError(f"{replay_log} does not exist or is not a file")
    if min_lfc < 1:
        raise SyssenseError("--min-lfc must be at least 1")
    if not 0.0 <= quantile <= 1.0:
        raise SyssenseError("--quantile must be between 0 and 1")
    if L is not None and L < 1:
        raise SyssenseError("--locality must be at least 1")

    limiter = AlertLimiter(max_rate)
    to_stdout = jsonl == "-"
    human = err_console if to_stdout else console
    mon = Monitor(list(models), thresholds=_thresholds(thresholds), L=L, min_lfc=min_lfc)
    if calibrate is not None:
        _calibrate(mon, calibrate, quantile)

    with contextlib.ExitStack() as stack:
        out: IO[str] | None = None
        if to_stdout:
            out = sys.stdout
        elif jsonl:
            tmp = stack.enter_context(atomic_path(Path(jsonl)))
            out = stack.enter_context(open(tmp, "w", encoding="utf-8"))  # noqa: SIM115

        def emit(items: list[Alert] | list[Alert | dict]) -> None:
            for a in limiter.admit(items):  # type: ignore[arg-type]
                if isinstance(a, dict):  # a run of suppressed alerts
                    if out is not None:
                        out.write(json.dumps(a, separators=(",", ":")) + "\n")
                    if not quiet:
                        human.print(_suppressed_line(a), markup=False, highlight=False, style="dim")
                    continue
                if out is not None:
                    out.write(a.to_json() + "\n")
                if not quiet:
                    human.print(a.format(), markup=False, highlight=False, soft_wrap=True)
            if out is not None:
                out.flush()

        if replay_log is not None:
            emit(replay(replay_log, mon))
            summary = mon.summary()
        else:
            check_target(command, pid)
            if not quiet:
                target = f"pid {pid}" if pid is not None else " ".join(command)
                human.print(f"monitoring {target} with {', '.join(s.name for s in mon.scorers)}",
                            markup=False, highlight=False, style="dim")
            summary = run_monitor(mon, command=command, pid=pid, on_batch=emit, timeout=timeout, save_log=save_log)
        for rec in limiter.finish():
            if out is not None:
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            if not quiet:
                human.print(_suppressed_line(rec), markup=False, highlight=False, style="dim")
    summary.suppressed = limiter.suppressed
    summary.max_alerts_per_second = limiter.max_per_second
    for m in summary.models:
        m["suppressed"] = limiter.per_model.get(m["model"], 0)
    _print_summary(summary, human, as_json)
    if fail_on_alert and any(m["alerts"] for m in summary.models):
        sys.exit(1)


def _suppressed_line(rec: dict) -> str:
    """One line for a run of suppressed alerts."""
    span = f"lines {rec['first_line']}-{rec['last_line']}" if rec["count"] > 1 else f"line {rec['first_line']}"
    return (f"... {rec['count']} more alert{'s' * (rec['count'] != 1)} suppressed ({span}; "
            f"more than {rec['max_alerts_per_second']:g} per second)")


def _print_summary(summary: MonitorSummary, human, as_json: bool) -> None:
    if as_json:
        if human is console:
            print_json(summary.to_dict())
        else:
            import json

            sys.stderr.write(json.dumps(summary.to_dict(), indent=2, default=str) + "\n")
        return
    rows = [
        {
            "model": m["model"],
            "detector": m["detector"],
            "k": m["k"],
            "threshold": m["threshold"],
            "windows": m["windows"],
            "anomalous": m["anomalous"],
            "rate": m["mismatch_rate"],
            "max LFC": m["max_lfc"],
            "alert at LFC": f"≥ {m.get('min_lfc', 1)}",
            "alerts": m["alerts"],
            **({"suppressed": m.get("suppressed", 0)} if summary.max_alerts_per_second else {}),
        }
        for m in summary.models
    ]
    human.print(rich_table(rows, title="monitor summary"))
    status = "" if summary.exit_status is None else f", program exit status {summary.exit_status}"
    stopped = " (monitoring stopped early; the program was left running)" if summary.interrupted else ""
    human.print(
        f"{summary.events} calls from {summary.processes} processes, {summary.lines} log lines in "
        f"{summary.seconds:.2f} s{status}{stopped}",
        markup=False, highlight=False,
    )
    if summary.suppressed:
        human.print(f"{summary.suppressed} alerts were not printed (more than {summary.max_alerts_per_second:g} "
                    "per second); --max-alerts-per-second 0 shows them all", markup=False, highlight=False)


COMMANDS = [monitor_cmd]
