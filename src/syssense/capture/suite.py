"""Run scenarios and sets of scenarios into one labelled dataset directory.

``run_scenarios(["behaviour", "stress"], "DIR", runs=2)`` runs every scenario of the
built-in sets twice: per run a fresh scratch directory (files copied, setup lines run,
untraced), the background stressor when the scenario has one, then the commands under
strace: **single** mode traces each command as its own run (one trace per command),
**multi** mode runs all of them in one traced ``/bin/sh`` session (one trace per run).
Commands not installed are skipped with a warning and listed in the manifest. Rerunning
into the same directory continues the run numbers and never overwrites.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CaptureError
from .runner import TraceRun, _safe, check_user, find_strace, parse_flags, trace_process
from .scenario import RUN_PATH, Scenario, command_argv, first_word, resolve_scenarios
from .store import CaptureStore
from .stressors import Stressor

ProgressFn = Callable[[str], None]
WarnFn = Callable[[str], None]


@dataclass
class SuiteResult:
    """What a suite run captured."""

    out_dir: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    traces: int = 0
    interrupted: bool = False

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per scenario: runs, traces and run statuses (e.g. ``2 ok, 1 timeout``)."""
        rows: dict[str, dict[str, Any]] = {}
        counts: dict[str, dict[str, int]] = {}
        for r in self.runs:
            row = rows.setdefault(
                r["scenario"],
                {"scenario": r["scenario"], "category": r["category"], "mode": r["mode"], "runs": 0, "traces": 0},
            )
            row["runs"] += 1
            row["traces"] += r["traces"]
            c = counts.setdefault(r["scenario"], {})
            c[r["status"]] = c.get(r["status"], 0) + 1
        for name, row in rows.items():
            row["status"] = ", ".join(f"{n} {st}" for st, n in counts[name].items())
        return list(rows.values())


def run_env(scratch: Path, user: str | None) -> dict[str, str]:
    """The environment traced commands see: small, fixed, and free of the caller's secrets."""
    name = user or (pwd.getpwuid(os.geteuid()).pw_name if _has_pw() else "user")
    return {
        "PATH": RUN_PATH,
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "USER": name,
        "LOGNAME": name,
        "SHELL": "/bin/sh",
        "LANG": "C",
        "LC_ALL": "C",
        "TERM": "dumb",
    }


def _has_pw() -> bool:
    try:
        pwd.getpwuid(os.geteuid())
        return True
    except KeyError:
        return False


def available_commands(sc: Scenario) -> tuple[list[str], list[str]]:
    """(commands to run, commands skipped because their program is not installed)."""
    run, missing = [], []
    for c in sc.commands:
        chosen = c.resolve()
        if chosen is None:
            missing.append(" | ".join(c.alternatives))
        else:
            run.append(chosen)
    return run, missing


def planned_steps(scenarios: Sequence[Scenario], runs: int | None) -> int:
    """How many traced processes a suite will start (for the progress bar)."""
    total = 0
    for sc in scenarios:
        cmds, _ = available_commands(sc)
        per_run = len(cmds) if sc.mode == "single" else (1 if cmds else 0)
        total += per_run * (runs or sc.runs)
    return total


class _Scratch:
    """A fresh scratch directory for one run (or the scenario's fixed workdir)."""

    def __init__(self, sc: Scenario, user: str | None, keep: bool) -> None:
        self.sc, self.user, self.keep = sc, user, keep
        if sc.workdir:
            self.path = Path(sc.workdir).expanduser()
            if not self.path.is_dir():
                raise CaptureError(f"workdir {self.path} of scenario {sc.name} is not a directory")
            self.fresh = False
        else:
            self.path = Path(tempfile.mkdtemp(prefix=f"syssense-{sc.name}-"))
            self.fresh = True

    def prepare(self, env: dict[str, str]) -> None:
        for f in self.sc.files:
            src = Path(f)
            if not src.is_file():
                raise CaptureError(f"file {src} named by scenario {self.sc.name} does not exist")
            dst = self.path / src.name
            if not dst.exists():
                shutil.copy2(src, dst)
        pw = pwd.getpwnam(self.user) if self.user else None
        if pw is not None and self.fresh and os.geteuid() == 0:
            for root, dirs, files in os.walk(self.path):
                for n in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                    os.chown(n, pw.pw_uid, pw.pw_gid)
        for line in self.sc.setup:
            kw: dict[str, Any] = {}
            if pw is not None and os.geteuid() == 0:
                kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            try:
                res = subprocess.run(["/bin/sh", "-c", line], cwd=self.path, env=env, capture_output=True,
                                     text=True, timeout=self.sc.timeout, stdin=subprocess.DEVNULL, **kw)
            except subprocess.TimeoutExpired:
                raise CaptureError(f"setup line of scenario {self.sc.name} timed out: {line}") from None
            if res.returncode != 0:
                why = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
                raise CaptureError(f"setup line of scenario {self.sc.name} failed ({why}): {line}")

    def cleanup(self) -> None:
        if self.fresh and not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def run_scenarios(
    items: Sequence[str | Scenario],
    out_dir: str | os.PathLike[str],
    *,
    runs: int | None = None,
    user: str | None = None,
    label: str | None = None,
    strace_flags: str | Sequence[str] | None = None,
    strace: str | None = None,
    keep_scratch: bool = False,
    progress: ProgressFn | None = None,
    warn: WarnFn | None = None,
) -> SuiteResult:
    """Capture scenarios (set names, scenario names, .toml paths or Scenario objects).

    Returns a :class:`SuiteResult`; the dataset directory ``out_dir`` holds raw logs,
    ``manifest.json`` and the traces / events tables with scenario, category, mode, run
    and label filled in. On Ctrl-C the current run is kept (marked ``interrupted``) and
    the KeyboardInterrupt is re-raised with ``exc.suite_result`` set.
    """
    scenarios = [s if isinstance(s, Scenario) else None for s in items]
    names = [s for s in items if not isinstance(s, Scenario)]
    resolved = resolve_scenarios(names) if names else []
    scs = [s for s in scenarios if s is not None] + resolved
    if runs is not None and runs < 1:
        raise CaptureError("--runs must be at least 1")
    find_strace(strace)
    flags_override = parse_flags(strace_flags) if strace_flags is not None else None
    for sc in scs:
        check_user(user or sc.user)
    warn = warn or (lambda msg: None)
    progress = progress or (lambda desc: None)
    result = SuiteResult(Path(out_dir))

    with CaptureStore(out_dir) as store:
        try:
            for sc in scs:
                _run_one(sc, store, result, runs=runs, user=user or sc.user, label=label or sc.label,
                         flags=flags_override or parse_flags(sc.strace_flags), strace=strace,
                         keep=keep_scratch, progress=progress, warn=warn)
        except KeyboardInterrupt as exc:
            result.interrupted = True
            exc.suite_result = result  # type: ignore[attr-defined]
            raise
    return result


def _run_one(sc: Scenario, store: CaptureStore, result: SuiteResult, *, runs: int | None, user: str | None,
             label: str, flags: list[str], strace: str | None, keep: bool,
             progress: ProgressFn, warn: WarnFn) -> None:
    commands, missing = available_commands(sc)
    for m in missing:
        warn(f"{sc.name}: skipping '{m}' ({first_word(m)} is not installed)")
        store.record_skip(sc.name, m, "not installed")
        result.skipped.append({"scenario": sc.name, "command": m, "reason": "not installed"})
    if not commands:
        warn(f"{sc.name}: no command of this scenario is installed; nothing captured")
        return
    for _ in range(runs or sc.runs):
        run_no = store.next_run(sc.name)
        rdir = store.raw_dir(sc.name, sc.mode, run_no)
        scratch = _Scratch(sc, user, keep)
        env = run_env(scratch.path, user)
        stressor: Stressor | None = None
        traced: list[TraceRun] = []
        extra: list[dict[str, Any]] = []
        entry = store.begin_run(scenario=sc.name, category=sc.category, mode=sc.mode, run=run_no, label=label,
                                set=sc.set, user=user, scratch=str(scratch.path),
                                raw=rdir, commands=commands)
        try:
            scratch.prepare(env)
            if sc.stressor is not None:
                stressor = Stressor(sc.stressor, scratch.path)
                entry["stressor"] = stressor.describe()
                stressor.start()
            if sc.mode == "single":
                jobs = [(i, c, command_argv(c)) for i, c in enumerate(commands, 1)]
            else:
                jobs = [(1, "\n".join(commands), ["/bin/sh", "-c", "\n".join(commands)])]
            for i, text, argv in jobs:
                name = "session" if sc.mode == "multi" else _safe(first_word(text) or "cmd")
                log = rdir / f"{i:02d}-{name}.strace"
                progress(f"{sc.name} run {run_no}: {text.splitlines()[0] if sc.mode == 'single' else 'session'}")
                try:
                    tr = trace_process(argv, log, flags=flags, cwd=scratch.path, env=env, user=user,
                                       timeout=sc.timeout, stdout=log.with_suffix(".stdout"), strace=strace)
                except KeyboardInterrupt as exc:
                    tr = getattr(exc, "trace_run", None)
                    if tr is not None:
                        traced.append(tr)
                        extra.append(_extra(sc, i, text, stressor))
                    raise
                traced.append(tr)
                extra.append(_extra(sc, i, text, stressor))
        except KeyboardInterrupt:
            if stressor is not None:
                stressor.stop()
            with contextlib.suppress(KeyboardInterrupt):
                _store(store, entry, sc, traced, extra, run_no, label, result, final="interrupted")
                scratch.cleanup()
            raise
        except BaseException:
            if stressor is not None:
                stressor.stop()
            scratch.cleanup()
            store.end_run(entry, "failed")
            raise
        if stressor is not None:
            stressor.stop()
        _store(store, entry, sc, traced, extra, run_no, label, result)
        scratch.cleanup()


def _extra(sc: Scenario, step: int, text: str, stressor: Stressor | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"step": step, "scenario_command": text}
    if sc.set:
        meta["set"] = sc.set
    if stressor is not None:
        meta["stressor"] = stressor.describe()
    return meta


def _store(store: CaptureStore, entry: dict[str, Any], sc: Scenario, traced: list[TraceRun],
           extra: list[dict[str, Any]], run_no: int, label: str, result: SuiteResult,
           final: str | None = None) -> None:
    if traced:
        store.add_traces(entry, traced, scenario=sc.name, category=sc.category, mode=sc.mode, run=run_no,
                         label=label, extra=extra, final_status=final)
    else:
        store.end_run(entry, final or "failed")
    result.traces += len(traced)
    result.runs.append({"scenario": sc.name, "category": sc.category, "mode": sc.mode, "run": run_no,
                        "status": entry["status"], "traces": len(traced)})
