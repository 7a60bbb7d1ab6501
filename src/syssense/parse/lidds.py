"""LID-DS, the Leipzig Intrusion Detection Data Set (Grimmer et al. 2019; 2021 release),
recorded with sysdig. Entry (``>``) and exit (``<``) events of one call are paired into one
event whose ``ts`` is the entry time and whose ``duration`` is exit minus entry.

Line layouts (one event per line, space separated, parameters last)::

    2021:  <ts ns since epoch> <uid> <pid> <process> <tid> <syscall> <dir> <params...>
    2019:  <event no> <HH:MM:SS.fffffffff> <cpu> <uid> <process> <tid> <dir> <syscall> <params...>

(2019 lines have no pid: the tid stands in; their ``ts`` is seconds since midnight.)
sysdig's ``switch`` (context switch) events are not system calls and are skipped, counted
in the trace's ``meta`` as ``n_switch``. ``ret`` comes from the exit event's first
``res=``/``fd=`` parameter and ``errno`` from its ``(ENOENT)``-style suffix.

Inputs: a recording file (``.sc`` / ``.txt``), a 2021 recording zip (``name.sc`` and
``name.json`` inside), or a scenario folder: 2021 ``training/``, ``validation/``,
``test/normal/``, ``test/normal_and_attack/``; 2019 ``runs.csv`` beside ``<name>.txt``.
Labels come from the recording's JSON (``exploit``) or runs.csv (``is_executing_exploit``),
else from folder names (``normal_and_attack`` and attack words -> anomalous). The exploit
start time, when known, is kept in ``meta`` as ``exploit_time`` for per-recording scoring.

Reference: M. Grimmer, M. Röhling, D. Kreusel, S. Ganz, "A modern and sophisticated host
based intrusion detection data set", IT-Sicherheit als Voraussetzung für eine erfolgreiche
Digitalisierung, 2019; LID-DS 2021, https://github.com/LID-DS/LID-DS.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..dataset import Dataset, traces_table
from ..errors import InputFormatError
from ._calls import Progress, build_events, label_from_parts, read_bytes
from .registry import Reader, register_reader

FORMAT = "lid-ds"
_L2021 = re.compile(rb"^\d{9,}\s+\d+\s+\d+\s+\S+\s+\d+\s+\S+\s+[<>](\s|$)")
_L2019 = re.compile(rb"^\d+\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+\S+\s+\d+\s+[<>]\s+\S+")
_SPLITS = {"training": "training", "validation": "validation", "test": "test"}


def _layout(head: bytes) -> str | None:
    lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()][:20] or [head]
    if not head.strip():
        return None
    # the first lines decide; a bad line further on is reported with its number
    first = lines[:1]
    if all(_L2021.match(ln) for ln in first):
        return "2021"
    if all(_L2019.match(ln) for ln in first):
        return "2019"
    return None


def _zip_recording(path: Path) -> tuple[bytes, dict[str, Any] | None] | None:
    """``(sc text, json metadata)`` of a LID-DS 2021 recording zip, None if not one."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            sc = next((n for n in names if n.endswith(".sc")), None)
            if sc is None:
                return None
            text = zf.read(sc)
            meta_name = next((n for n in names if n.endswith(".json")), None)
            meta = None
            if meta_name:
                raw = zf.read(meta_name).decode("utf-8", "replace")
                try:
                    meta = json.loads(raw)
                except json.JSONDecodeError:
                    meta = json.loads(raw.replace("'", '"'))
            return text, meta
    except zipfile.BadZipFile:
        raise InputFormatError(f"{path} is not a readable zip archive (truncated or damaged)") from None
    except (json.JSONDecodeError, KeyError):
        raise InputFormatError(f"{path} holds a recording whose JSON metadata cannot be read") from None


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames
                if not f.startswith(".") and Path(f).suffix.lower() in (".sc", ".txt", ".zip", ".gz")]
    return sorted(out, key=lambda p: p.relative_to(path).parts)


def _head(f: Path) -> bytes:
    if f.suffix.lower() == ".zip":
        if not zipfile.is_zipfile(f):
            return b""
        with zipfile.ZipFile(f) as zf:
            sc = next((n for n in zf.namelist() if n.endswith(".sc")), None)
            if sc is None:
                return b""
            with zf.open(sc) as fh:
                return fh.read(4096)
    return read_bytes(f)[:4096] if f.suffix.lower() == ".gz" else f.open("rb").read(4096)


def sniff(path: Path) -> bool:
    """sysdig lines of LID-DS 2019 or 2021 (file, recording zip, or scenario folder)."""
    files = _files(path)[:3] if path.is_dir() else [path]
    if not files:
        return False
    try:
        return all(_layout(_head(f)) is not None for f in files)
    except (zipfile.BadZipFile, OSError, InputFormatError):
        return False


def _parse(text: bytes, layout: str, what: str) -> dict[str, Any]:
    """Columns of one recording, entry and exit paired (vectorised with Arrow/NumPy)."""
    lines = pc.split_pattern(pa.array([text.decode("utf-8", "replace")]), "\n").flatten()
    # sysdig ends a line with parameters with a space: not part of the last value
    lines = pc.utf8_rtrim_whitespace(lines)
    keep = pc.not_equal(pc.utf8_trim_whitespace(lines), "").to_numpy(zero_copy_only=False)
    line_no = np.flatnonzero(keep) + 1
    lines = lines.filter(pa.array(keep))
    n_fixed = 7 if layout == "2021" else 8
    toks = pc.split_pattern(lines, " ", max_splits=n_fixed)
    n_tok = pc.list_value_length(toks).to_numpy()
    if (n_tok < n_fixed).any():
        bad = int(line_no[np.argmax(n_tok < n_fixed)])
        raise InputFormatError(f"{what} line {bad} is not a LID-DS {layout} sysdig line")

    def field(i: int) -> pa.Array:
        return pc.list_element(toks, i)

    if layout == "2021":
        ts_col, pid_col, tid_col, name_col, dir_col = field(0), field(2), field(4), field(5), field(6)
        proc_col = field(3)
    else:
        ts_col, pid_col, tid_col, name_col, dir_col = field(1), field(5), field(5), field(7), field(6)
        proc_col = field(4)
    params = pc.struct_field(pc.extract_regex(lines, rf"^(?:\S+ +){{{n_fixed}}}(?P<p>.+)$"), "p")
    try:
        if layout == "2021":
            ns = pc.cast(ts_col, pa.int64()).to_numpy()
            ts = ns / 1e9
        else:
            h = pc.cast(pc.utf8_slice_codeunits(ts_col, 0, 2), pa.int64()).to_numpy()
            m = pc.cast(pc.utf8_slice_codeunits(ts_col, 3, 5), pa.int64()).to_numpy()
            frac = pc.utf8_slice_codeunits(ts_col, 6, 100)
            secs = pc.cast(pc.utf8_slice_codeunits(frac, 0, 2), pa.int64()).to_numpy()
            digits = pc.utf8_slice_codeunits(frac, 3, 12)
            sub = pc.cast(pc.utf8_rpad(digits, 9, "0"), pa.int64()).to_numpy()
            ns = (h * 3600 + m * 60 + secs) * 1_000_000_000 + sub
            ts = ns / 1e9
        pid = pc.cast(pid_col, pa.int64()).to_numpy()
        tid = pc.cast(tid_col, pa.int64()).to_numpy()
    except (pa.ArrowInvalid, ValueError):
        raise InputFormatError(f"{what} has a timestamp, pid or tid that is not a number") from None
    name = name_col
    is_switch = pc.equal(name, "switch").to_numpy(zero_copy_only=False)
    is_dir = pc.is_in(dir_col, value_set=pa.array([">", "<"])).to_numpy(zero_copy_only=False)
    if not is_dir.all():
        bad = int(line_no[np.argmax(~is_dir)])
        raise InputFormatError(f"{what} line {bad} has no '>' or '<' direction where LID-DS {layout} puts it")
    entry = pc.equal(dir_col, ">").to_numpy(zero_copy_only=False) & ~is_switch
    exit_ = pc.equal(dir_col, "<").to_numpy(zero_copy_only=False) & ~is_switch
    # pair an exit with the row just before it on the same thread when that is the entry
    # of the same call (sysdig writes a thread's events in order; calls do not nest)
    name_codes = pc.dictionary_encode(name).indices.to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(entry | exit_)
    order = rows[np.lexsort((rows, tid[rows]))]
    prev, cur = order[:-1], order[1:]
    pair = (entry[prev] & exit_[cur] & (tid[prev] == tid[cur]) & (name_codes[prev] == name_codes[cur]))
    entry_rows, exit_rows = prev[pair], cur[pair]
    paired_exit = np.zeros(len(lines), bool)
    paired_exit[exit_rows] = True
    event_rows = np.flatnonzero(entry | (exit_ & ~paired_exit))  # entries + lone exits, file order
    exit_of = np.full(len(lines), -1, np.int64)
    exit_of[entry_rows] = exit_rows
    ex = exit_of[event_rows]
    has_exit = ex >= 0
    lone_exit = exit_[event_rows]
    duration = np.full(len(event_rows), np.nan)
    duration[has_exit] = (ns[ex[has_exit]] - ns[event_rows[has_exit]]) / 1e9
    ret_src_idx = np.where(has_exit, ex, np.where(lone_exit, event_rows, -1))
    ret_params = params.take(pa.array(np.where(ret_src_idx >= 0, ret_src_idx, 0))) if len(event_rows) else params
    ret_params = pc.if_else(pa.array(ret_src_idx >= 0), ret_params, pa.scalar(None, pa.string())) \
        if len(event_rows) else ret_params
    ret_txt = pc.struct_field(pc.extract_regex(ret_params, r"^(?:res|fd)=(?P<v>-?\d+)"), "v") \
        if len(event_rows) else pa.array([], pa.string())
    errno = pc.struct_field(pc.extract_regex(ret_params, r"^(?:res|fd)=-\d+\((?P<e>E[A-Z0-9]+)\)"), "e") \
        if len(event_rows) else pa.array([], pa.string())
    ev = pa.array(event_rows)
    if len(event_rows):
        entry_params = pc.if_else(pa.array(lone_exit), pa.scalar(None, pa.string()), params.take(ev))
        exit_params = params.take(pa.array(np.where(has_exit, ex, event_rows)))
        exit_params = pc.if_else(pa.array(has_exit | lone_exit), exit_params, pa.scalar(None, pa.string()))
        # entry and exit parameters as one text: "entry -> exit" (either side may be absent)
        both = pc.binary_join_element_wise(entry_params, exit_params, " -> ")
        args = pc.coalesce(both, entry_params, exit_params)
    else:
        args = params
    return {
        "syscall": name.take(ev).dictionary_encode() if len(event_rows) else pa.array([], pa.string()),
        "pid": pid[event_rows], "tid": tid[event_rows], "ts": ts[event_rows],
        "duration": duration, "line": line_no[event_rows], "args": args,
        "ret": pc.cast(ret_txt, pa.int64()), "errno": errno,
        "unfinished": entry[event_rows] & ~has_exit,
        "note": pc.if_else(pa.array(lone_exit), pa.scalar("exit without entry"), pa.scalar(None, pa.string()))
        if len(event_rows) else pa.array([], pa.string()),
        "process": proc_col.take(ev) if len(event_rows) else pa.array([], pa.string()),
        "n_lines": len(lines), "n_switch": int(is_switch.sum()),
    }


def _runs_csv(folder: Path) -> dict[str, dict[str, Any]]:
    """LID-DS 2019 ``runs.csv``: recording name -> exploit flag and times."""
    p = folder / "runs.csv"
    if not p.is_file():
        p = folder / "run.csv"  # the name some descriptions of the dataset use
    if not p.is_file():
        return {}
    out = {}
    reader = csv.reader(io.StringIO(p.read_text(encoding="utf-8", errors="replace")), skipinitialspace=True)
    header = next(reader, [])
    for row in reader:
        if len(row) < 3:
            continue
        rec = dict(zip([h.strip() for h in header], row, strict=False))
        name = rec.get("scenario_name", row[1])
        flag = rec.get("is_executing_exploit", row[2]).strip().lower() in ("true", "1", "yes")
        out[name] = {"exploit": flag, "image": rec.get("image_name", row[0]),
                     "exploit_start_time": rec.get("exploit_start_time"), "warmup_time": rec.get("warmup_time")}
    return out


def read(path: Path, progress: Progress | None = None, **_: Any) -> Dataset:
    """Read LID-DS recordings (file, recording zip or scenario folder); one trace each."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(f"{path} does not exist")
    files = _files(path)
    root = path if path.is_dir() else path.parent
    context = [p for p in root.parts[-2:] if p not in ("/", "")]
    runs: dict[Path, dict[str, dict[str, Any]]] = {}
    parts, rows, ids = [], [], []
    for i, f in enumerate(files):
        meta: dict[str, Any] | None = None
        if f.suffix.lower() == ".zip":
            rec = _zip_recording(f)
            if rec is None:
                if path.is_dir():
                    continue
                raise InputFormatError(f"{f} is a zip without a LID-DS .sc recording inside")
            text, meta = rec
        else:
            text = read_bytes(f)
            side = f.with_suffix(".json")
            if side.is_file():
                try:
                    meta = json.loads(side.read_text(encoding="utf-8", errors="replace").replace("'", '"'))
                except json.JSONDecodeError:
                    meta = None
        layout = _layout(text[:4096])
        if layout is None:
            if path.is_dir():
                continue
            raise InputFormatError(f"{f} is not a LID-DS sysdig recording (timestamp uid pid process tid syscall direction args)")
        what = f"LID-DS file {f}"
        part = _parse(text, layout, what)
        rel = f.relative_to(root).as_posix()
        names = [*context, *rel.split("/")]
        stem = f.name.split(".")[0]
        label, group = "unknown", None
        exploit_time = None
        if layout == "2019":
            r = runs.setdefault(f.parent, _runs_csv(f.parent)).get(stem)
            if r is not None:
                meta = {"exploit": r["exploit"], "image": r["image"]}
                if r["exploit"] and r.get("exploit_start_time") not in (None, "", "-1"):
                    meta["exploit_start_relative"] = r["exploit_start_time"]
        if meta is not None and "exploit" in meta:
            label = "anomalous" if meta["exploit"] else "normal"
            group = meta.get("exploit_name") if meta["exploit"] else None
            times = (meta.get("time") or {}).get("exploit") or []
            if times and isinstance(times, list) and isinstance(times[0], dict):
                exploit_time = times[0].get("absolute")
        if label == "unknown":
            lower = [n.lower() for n in names]
            if any(n == "normal_and_attack" for n in lower):
                label = "anomalous"
            else:
                label, group = label_from_parts(names)
        split = next((_SPLITS[n.lower()] for n in names[:-1] if n.lower() in _SPLITS), None)
        scenario = next((n for n in names[:-1] if n.upper().startswith("CVE-") or n.upper().startswith("CWE-")), None)
        tid_ = f"lidds:{rel}"
        ids.append(tid_)
        parts.append(part)
        n = len(part["pid"])
        rows.append({
            "trace_id": tid_, "source": str(f), "format": FORMAT, "label": label, "split": split,
            "group": group, "scenario": scenario or (names[-2] if len(names) > 1 else stem),
            "category": {"normal": "normal", "anomalous": "attack"}.get(label),
            "tracer": "sysdig", "n_events": n, "n_lines": part["n_lines"], "n_unparsed": 0,
            "start_time": float(part["ts"][0]) if n and layout == "2021" else None,
            "lidds_version": layout, "n_switch": part["n_switch"], "exploit_time": exploit_time,
            "recording": stem,
            **({"image": meta.get("image")} if meta and meta.get("image") else {}),
            **({"exploit_start_relative": meta["exploit_start_relative"]}
               if meta and "exploit_start_relative" in meta else {}),
        })
        if progress:
            progress(i + 1, len(files))
    if not ids:
        raise InputFormatError(f"{path} holds no LID-DS recordings")
    lengths = [len(p["pid"]) for p in parts]
    if sum(lengths) == 0:
        raise InputFormatError(f"{path} holds no system calls")

    def cat_np(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts])

    def cat_pa(key: str) -> pa.Array:
        arrs = [p[key] for p in parts]
        if key == "syscall":
            arrs = [a.cast(pa.dictionary(pa.int32(), pa.string())) if pa.types.is_dictionary(a.type)
                    else a.dictionary_encode() for a in arrs]
            return pa.chunked_array(arrs).unify_dictionaries().combine_chunks() if len(arrs) > 1 else arrs[0]
        return pa.concat_arrays([a.cast(arrs[0].type) for a in arrs])

    dur = cat_np("duration")
    extra = {
        "tid": cat_np("tid"), "line": cat_np("line"), "args": cat_pa("args"), "ret": cat_pa("ret"),
        "errno": cat_pa("errno"), "note": cat_pa("note"), "unfinished": cat_np("unfinished"),
        "duration": pa.array(dur, mask=np.isnan(dur)),
    }
    events = build_events(ids, lengths, cat_pa("syscall"), pid=cat_np("pid"), ts=cat_np("ts"), extra=extra)
    return Dataset(traces_table(rows), events)


READER = register_reader(
    Reader(
        name=FORMAT,
        description="LID-DS 2019/2021 sysdig recordings (Grimmer et al.): entry and exit paired, labels from metadata",
        sniff=sniff,
        read=read,
    )
)
