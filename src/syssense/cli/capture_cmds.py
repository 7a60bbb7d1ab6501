"""Commands of the capture stage: ``capture``, ``scenarios list|show``, ``run``."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..capture.runner import DEFAULT_FLAGS
from ..errors import CaptureError
from .common import console, err_console, print_json, rich_table

_LABELS = click.Choice(["normal", "anomalous", "unknown"])


def _warn(msg: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(msg)}")


def run_with_progress(items: list[str], out_dir: str, **options):
    """Run scenario sets / scenarios into ``out_dir`` with a rich progress bar (``run`` and ``demo``).

    Ctrl-C stops the bar, says the dataset stays readable (the interrupted run is marked in
    manifest.json) and exits with status 130.
    """
    from ..capture.scenario import resolve_scenarios
    from ..capture.suite import planned_steps, run_scenarios

    scs = resolve_scenarios(items)
    total = planned_steps(scs, options.get("runs"))
    done = 0
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=False) as bar:
        task = bar.add_task("capturing", total=total)

        def progress(desc: str) -> None:
            nonlocal done
            bar.update(task, completed=done, description=escape(desc[:60]))
            done += 1

        def warn(msg: str) -> None:
            bar.console.print(f"[yellow]warning:[/] {escape(msg)}")

        try:
            result = run_scenarios(scs, out_dir, progress=progress, warn=warn, **options)
        except KeyboardInterrupt as exc:
            bar.stop()
            res = getattr(exc, "suite_result", None)
            n = res.traces if res else 0
            err_console.print(
                f"syssense: interrupted; {escape(str(out_dir))} stays readable with {n} trace(s) captured in this "
                "invocation, the interrupted run marked 'interrupted' in manifest.json"
            )
            raise SystemExit(130) from None
        bar.update(task, completed=total, description="done")
    return result


@click.command(context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False})
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Dataset directory to add the capture to (created if needed; never overwritten).")
@click.option("--scenario", default="capture", show_default=True, help="Scenario name recorded for this trace.")
@click.option("--category", default=None, help="Category recorded for this trace (normal, recon, priv, ...).")
@click.option("--label", type=_LABELS, default="unknown", show_default=True, help="Label recorded for this trace.")
@click.option("--strace-flags", default=None, metavar="FLAGS",
              help=f"strace flags as one string (default: \"{' '.join(DEFAULT_FLAGS)}\").")
@click.option("--user", default=None, help="Run the command as this user (needs root).")
@click.option("--timeout", type=float, default=None, help="Kill the whole process tree after this many seconds.")
@click.option("--pid", type=int, default=None, help="Attach to a running process instead of starting a command.")
@click.option("--seconds", type=float, default=None, help="With --pid: detach after this many seconds (default: until it exits or Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="Print the captured trace rows as JSON.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def capture(out_dir: str, scenario: str, category: str | None, label: str, strace_flags: str | None,
            user: str | None, timeout: float | None, pid: int | None, seconds: float | None,
            as_json: bool, command: tuple[str, ...]) -> None:
    """Trace one command (after --) or a running process (--pid) into a dataset directory.

    \b
    Examples:
      syssense capture -o runs/ -- ls -l /etc
      syssense capture -o runs/ --label normal --strace-flags "-f -tt -T" -- make -j2
      syssense capture -o runs/ --pid 1234 --seconds 10
    """
    from ..capture.runner import capture_command

    if seconds is not None and pid is None:
        raise CaptureError("--seconds applies to --pid; use --timeout to limit a command")
    if timeout is not None and timeout <= 0:
        raise CaptureError("--timeout must be a positive number of seconds")
    try:
        ds = capture_command(list(command) or None, out_dir, pid=pid, seconds=seconds, scenario=scenario,
                             category=category, label=label, flags=strace_flags, user=user, timeout=timeout)
    except KeyboardInterrupt:
        err_console.print(f"syssense: interrupted; {escape(out_dir)} keeps what was captured, marked 'interrupted'")
        raise SystemExit(130) from None
    cols = ["trace_id", "command", "status", "exit_status", "n_events", "wall_seconds"]
    t = ds.traces.select(cols)
    if as_json:
        print_json(t.to_pylist())
        return
    console.print(rich_table(t, title=f"captured into {out_dir}"))
    for row in ds.traces.to_pylist():
        if row["status"] == "timeout":
            _warn(f"the command ran past --timeout {timeout:g} s; its process tree was killed and the trace kept")


@click.group()
def scenarios() -> None:
    """List and show the built-in capture scenarios."""


@scenarios.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def scenarios_list(as_json: bool) -> None:
    """The built-in scenario sets and their scenarios."""
    from ..capture.scenario import builtin_sets
    from ..capture.suite import available_commands

    rows = []
    for set_name, scs in builtin_sets().items():
        for sc in scs:
            run, missing = available_commands(sc)
            rows.append({
                "set": set_name, "scenario": sc.name, "category": sc.category, "mode": sc.mode,
                "label": sc.label, "runs": sc.runs, "commands": len(sc.commands), "missing here": len(missing),
                "stressor": sc.stressor.kind if sc.stressor else "",
            })
    if as_json:
        print_json(rows)
        return
    console.print(rich_table(rows, title="built-in scenarios (run a set or a scenario: syssense run behaviour stress -o DIR)"))


@scenarios.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def scenarios_show(name: str, as_json: bool) -> None:
    """One scenario (built-in name or .toml file): its settings and commands."""
    from ..capture.scenario import load_scenario
    from ..capture.suite import available_commands

    sc = load_scenario(name)
    run, missing = available_commands(sc)
    info = {
        "name": sc.name, "set": sc.set, "category": sc.category, "mode": sc.mode, "label": sc.label,
        "description": sc.description, "runs": sc.runs, "timeout": sc.timeout, "user": sc.user,
        "workdir": sc.workdir or "(fresh scratch directory per run)",
        "files": list(sc.files), "setup": list(sc.setup),
        "strace_flags": " ".join(sc.strace_flags) if sc.strace_flags else " ".join(DEFAULT_FLAGS),
        "stressor": vars(sc.stressor) if sc.stressor else None,
        "commands": [" | ".join(c.alternatives) for c in sc.commands],
        "missing_here": missing, "source": str(sc.source) if sc.source else None,
    }
    if as_json:
        print_json(info)
        return
    rows = [{"key": k, "value": v} for k, v in info.items() if k not in ("commands", "missing_here")]
    console.print(rich_table(rows, title=f"scenario {sc.name}"))
    cmd_rows = [{"#": i, "command": c, "installed": "no (skipped)" if c in missing else "yes"}
                for i, c in enumerate(info["commands"], 1)]
    console.print(rich_table(cmd_rows, title="commands"))


@click.command("run")
@click.argument("items", nargs=-1, required=True, metavar="SET|SCENARIO|FILE.toml...")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Dataset directory (created if needed; running again adds runs, never overwrites).")
@click.option("--runs", type=click.IntRange(min=1), default=None, help="Runs per scenario (default: each scenario's own).")
@click.option("--user", default=None, help="Run the scenarios as this user (needs root).")
@click.option("--label", type=_LABELS, default=None, help="Override every scenario's label.")
@click.option("--strace-flags", default=None, metavar="FLAGS", help="strace flags for every scenario.")
@click.option("--keep-scratch", is_flag=True, help="Keep the scratch directories (default: removed after each run).")
def run(items: tuple[str, ...], out_dir: str, runs: int | None, user: str | None, label: str | None,
        strace_flags: str | None, keep_scratch: bool) -> None:
    """Run scenario sets / scenarios under strace into one labelled dataset directory.

    \b
    Examples:
      syssense run behaviour stress -o demo/ --runs 2
      syssense run recon-single priv-single -o runs/ --user nobody
      syssense run my-scenario.toml -o runs/
    """
    result = run_with_progress(list(items), out_dir, runs=runs, user=user, label=label,
                               strace_flags=strace_flags, keep_scratch=keep_scratch)
    console.print(rich_table(result.summary_rows(), title=f"{result.traces} traces added to {out_dir}"))


COMMANDS = [capture, scenarios, run]
