"""Shared helpers of the report/interpret/demo tests: the real strace fixtures as a Dataset."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from syssense.dataset import Dataset, traces_table

DATA = Path(__file__).parent / "data" / "report"
_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+([a-z_0-9]+)\((.*)\)\s+=\s+(-?\w+|\?)(?:\s+(E[A-Z]+))?.*?(?:<([\d.]+)>)?$")


def _category(name: str) -> str:
    return name.split("-")[0] if not name.startswith("xss") else "other"


def _simple_parse(path: Path, tid: str) -> dict[str, list]:
    """A minimal reader of the fixture logs, used only when syssense's strace parser is absent."""
    cols: dict[str, list] = {k: [] for k in ("trace_id", "seq", "line", "pid", "ts", "syscall", "args", "ret",
                                             "errno", "duration", "kind")}
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        m = _LINE.match(line)
        if not m or "resumed>" in line:
            continue
        pid, ts, name, args, ret, errno, dur = m.groups()
        try:
            retv = int(ret, 0)
        except ValueError:
            retv = None
        for k, v in (("trace_id", tid), ("seq", len(cols["seq"])), ("line", i), ("pid", int(pid)), ("ts", float(ts)),
                     ("syscall", name), ("args", args), ("ret", retv), ("errno", errno),
                     ("duration", float(dur) if dur else None), ("kind", "syscall")):
            cols[k].append(v)
    return cols


def fixture_dataset(names: list[str] | None = None) -> Dataset:
    """The checked-in logs as a Dataset (scenario = category = name prefix, run = suffix)."""
    paths = sorted(DATA.glob("*.log"))
    if names is not None:
        paths = [p for p in paths if p.stem in names]
    rows = []
    for p in paths:
        cat = _category(p.stem)
        rows.append({"trace_id": p.stem, "source": str(p), "format": "strace", "scenario": cat, "category": cat,
                     "mode": "multi", "run": int(p.stem.rsplit("-", 1)[1]), "label": "normal" if cat == "normal" else "anomalous",
                     "tracer": "strace"})
    ds = None
    try:  # syssense's own strace parser when it is installed and works; else the minimal reader above
        from syssense.parse.strace import parse_strace

        ds = parse_strace([str(p) for p in paths], trace_ids=[p.stem for p in paths])
    except Exception:  # noqa: BLE001 - the parser is another stage's; this fixture must not depend on it
        ds = None
    if ds is not None:
        meta = {r["trace_id"]: r for r in rows}
        ev = ds.events
        traces = traces_table([{**{k: v for k, v in r.items() if v is not None}, **meta[r["trace_id"]]}
                               for r in ds.traces.to_pylist()])
        return Dataset(traces, ev)
    cols: dict[str, list] = {}
    for p in paths:
        for k, v in _simple_parse(p, p.stem).items():
            cols.setdefault(k, []).extend(v)
    return Dataset(traces_table(rows), pa.table(cols))


def test_fixture_dataset_reads_every_log() -> None:
    ds = fixture_dataset()
    assert sorted(ds.traces.column("category").to_pylist()) == ["normal", "normal", "other", "priv", "priv", "recon", "recon"]
    assert ds.events.num_rows > 3000
    names = set(ds.events.column("syscall").to_pylist())
    assert {"execve", "openat", "read"} <= names
