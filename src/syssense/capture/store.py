"""A capture dataset directory: raw logs, manifest, and the tables as appended parts.

Layout (see :mod:`syssense.dataset`)::

    DIR/raw/<scenario>/<mode>/run-N/NN-<program>.strace   raw strace logs (+ .stderr, .stdout)
    DIR/manifest.json                                      runs, skipped commands, statuses
    DIR/traces/part-*.parquet, DIR/events/part-*.parquet  the tables (new parts per run)

Run numbers continue across invocations (per scenario) and nothing already written is
overwritten. The manifest is rewritten atomically after every change, so a reader (or a
Ctrl-C) always finds a complete file; a run still in progress shows ``status: running``.
One writer at a time: a second capture into the same directory is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import write_text_atomic
from ..dataset import Dataset, new_trace_id, traces_table, write_dataset
from ..errors import CaptureError, SyssenseError

MANIFEST_VERSION = 1


class CaptureStore:
    """Open (create) a capture dataset directory for appending runs."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(out_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise CaptureError(f"{self.dir} exists and is not a directory; choose a dataset directory")
        self._lock_fh: Any = None
        self.manifest: dict[str, Any] = {}

    # -- context: lock + manifest
    def __enter__(self) -> CaptureStore:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(f"cannot create dataset directory {self.dir}: {exc.strerror}") from None
        self._lock_fh = open(self.dir / ".capture.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            raise CaptureError(
                f"{self.dir} is being written by another syssense capture; wait for it or choose another directory"
            ) from None
        self.manifest = self._load()
        # we hold the lock, so a run still 'running' belongs to a capture that died abruptly
        stale = [r for r in self.manifest["runs"] if r.get("status") == "running"]
        for r in stale:
            r["status"] = "failed"
            r["note"] = "the capturing process ended before this run finished"
        if stale:
            self.save()
        return self

    def __exit__(self, *exc: object) -> None:
        # a run left 'running' (an exception we did not see) is marked failed
        changed = False
        for r in self.manifest.get("runs", []):
            if r.get("status") == "running":
                r["status"] = "failed"
                changed = True
        if changed:
            self.save()
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def _load(self) -> dict[str, Any]:
        p = self.manifest_path
        if p.exists():
            try:
                m = json.loads(p.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise CaptureError(f"{p} is not a readable syssense manifest; move it away or choose another directory") from None
            if not isinstance(m, dict) or "runs" not in m:
                raise CaptureError(f"{p} is not a syssense capture manifest; choose another directory")
            m.setdefault("skipped", [])
            m.setdefault("sessions", [])
            return m
        return {
            "syssense_manifest": MANIFEST_VERSION,
            "created": time.time(),
            "tool": f"syssense {__version__}",
            "runs": [],
            "skipped": [],
            "sessions": [],
        }

    def save(self) -> None:
        self.manifest["updated"] = time.time()
        write_text_atomic(self.manifest_path, json.dumps(self.manifest, indent=2, default=str) + "\n")

    # -- numbering
    def next_run(self, scenario: str) -> int:
        """The next run number of ``scenario`` (continues after runs already captured)."""
        nums = [int(r["run"]) for r in self.manifest["runs"] if r.get("scenario") == scenario]
        base = self.dir / "raw" / scenario
        if base.is_dir():
            for mode_dir in base.iterdir():
                for d in mode_dir.glob("run-*") if mode_dir.is_dir() else []:
                    with contextlib.suppress(ValueError):
                        nums.append(int(d.name.removeprefix("run-")))
        return max(nums, default=0) + 1

    def raw_dir(self, scenario: str, mode: str, run: int) -> Path:
        d = self.dir / "raw" / scenario / mode / f"run-{run}"
        d.mkdir(parents=True, exist_ok=False)
        return d

    def rel(self, p: Path) -> str:
        try:
            return str(Path(p).relative_to(self.dir))
        except ValueError:
            return str(p)

    # -- runs
    def begin_run(self, **info: Any) -> dict[str, Any]:
        """Record a run as ``running`` (visible in the manifest while it happens)."""
        log = info.pop("log", None)
        raw = info.pop("raw", None)
        if raw is None and log is not None:
            raw = Path(log).parent
        entry = {
            **info,
            "status": "running",
            "started": time.time(),
            "traces": [],
            "raw": self.rel(Path(raw)) if raw is not None else None,
        }
        self.manifest["runs"].append(entry)
        self.save()
        return entry

    def end_run(self, entry: dict[str, Any], status: str) -> None:
        entry["status"] = status
        entry["finished"] = time.time()
        self.save()

    def record_skip(self, scenario: str, command: str, reason: str) -> None:
        """A command that was not run (e.g. not installed), once per scenario and command."""
        for s in self.manifest["skipped"]:
            if s.get("scenario") == scenario and s.get("command") == command:
                s["count"] = s.get("count", 1) + 1
                s["last"] = time.time()
                self.save()
                return
        self.manifest["skipped"].append(
            {"scenario": scenario, "command": command, "reason": reason, "count": 1, "last": time.time()}
        )
        self.save()

    def record_session(self, info: dict[str, Any]) -> None:
        self.manifest["sessions"].append(info)
        self.save()

    def add_traces(
        self,
        entry: dict[str, Any],
        runs: list[Any],
        *,
        scenario: str,
        category: str | None,
        mode: str,
        run: int,
        label: str,
        extra: list[dict[str, Any]] | None = None,
        final_status: str | None = None,
    ) -> Dataset:
        """Parse the raw logs of ``runs`` (TraceRun) and add them to the dataset."""
        metas = []
        ids = []
        for i, tr in enumerate(runs):
            meta = {
                "scenario": scenario,
                "category": category,
                "mode": mode,
                "run": run,
                "label": label,
                **tr.meta(),
            }
            if extra and i < len(extra) and extra[i]:
                meta["meta"] = json.dumps(extra[i], default=str)
            metas.append(meta)
            ids.append(new_trace_id("c"))
        ds = parse_logs([tr.log for tr in runs], ids, metas)
        write_dataset(ds, self.dir)
        statuses = [m["status"] for m in metas]
        for tid, tr, m in zip(ids, runs, metas, strict=True):
            entry["traces"].append(
                {
                    "trace_id": tid,
                    "raw": self.rel(tr.log),
                    "command": m["command"],
                    "status": m["status"],
                    "exit_status": m["exit_status"],
                    "wall_seconds": round(m["wall_seconds"], 4),
                }
            )
        if final_status is None:
            final_status = next((s for s in ("interrupted", "timeout", "failed") if s in statuses), "ok")
        self.end_run(entry, final_status)
        return ds


def parse_logs(logs: list[Path], trace_ids: list[str], metas: list[dict[str, Any]]) -> Dataset:
    """Parse raw strace logs with the capture metadata as trace columns.

    Uses :func:`syssense.parse.strace.parse_strace`; a log the parser rejects still gets
    its traces row (``status=failed``) so that the run is never silently lost.
    """
    try:
        from ..parse.strace import parse_strace
    except ModuleNotFoundError as exc:  # the parser is another stage; say so plainly
        raise CaptureError(f"the strace parser is not available ({exc}); raw logs were kept") from None
    parts = []
    for log, tid, meta in zip(logs, trace_ids, metas, strict=True):
        try:
            ds = parse_strace([log], trace_ids=[tid], meta=meta)
        except SyssenseError as exc:
            bad = dict(meta, status="failed", parse_error=str(exc))
            ds = Dataset(traces_table([{"trace_id": tid, "source": str(log), "format": "strace", **bad}]),
                         Dataset.empty().events)
        parts.append(_fill_meta(ds, meta))
    return Dataset.concat(parts)


def _fill_meta(ds: Dataset, meta: dict[str, Any]) -> Dataset:
    """Make sure the capture metadata is in the traces table whatever the parser did."""
    import pyarrow as pa

    t = ds.traces
    for key, value in meta.items():
        if key not in t.column_names or value is None:
            continue
        col = t.column(key)
        if col.null_count == t.num_rows and t.num_rows:
            arr = pa.array([value] * t.num_rows, type=col.type)
            t = t.set_column(t.schema.get_field_index(key), key, arr)
    return Dataset(t, ds.events, ds.path)
