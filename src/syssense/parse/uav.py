"""The UAV "SysCall Dataset" (Ezeme, Mahmoud, Azim & Lescisin, Mendeley Data 2019,
doi:10.17632/vfvw7g8s8h): system calls of an uncrewed aerial vehicle's software recorded
with an instrumented Bochs CPU emulator.

Two forms are read:

* **raw Bochs logs**, one event per line::

      <timestamp> SYSCALL <RAX> <RDI> <RSI> <RDX> <R10> <R8> <R9> <CR3>
      <timestamp> SYSRET <CR3>

  RAX is the x86-64 call number; CR3 (the page-table base) tells processes apart and
  becomes the ``pid`` column. A SYSRET closes the latest open SYSCALL of the same CR3,
  giving the call's ``duration``. Register values are hexadecimal when written with
  ``0x`` or when any value in the file has a hex letter, else decimal. The six argument
  registers are kept as ``args`` text. One trace per file.

* **processed CSV** with a ``Beta,SysCall ID`` header: Beta is the time since the
  previous event, SysCall ID is the x86-64 number **plus one**. ``ts`` is the running sum
  of Beta. One trace per file; no process column (``pid`` null).

Timestamps are kept in the log's own unit (Bochs ticks or seconds as written).
Labels come from folder names as for the generic reader (``normal``, ``attack``,
``anomalous``...). No copy of the dataset is here. Besides hand-made fixtures, the tests
read the raw and processed lines quoted in a public dataset survey: raw fields there are
separated by ``", "``/``","`` (``592834, SYSCALL,0x17,0x6,...``) and the processed rows by
a tab or a space under a ``Beta(...)<TAB>SysCall ID`` header, so both readers accept
commas, tabs and spaces.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..dataset import Dataset, traces_table
from ..errors import InputFormatError
from ._calls import Progress, build_events, label_from_parts, read_bytes
from .registry import Reader, register_reader
from .syscalls import names_array

FORMAT = "uav"
# "<ts> SYSCALL ..." with fields separated by whitespace and/or commas ("592834, SYSCALL,0x17,...")
_RAW_LINE = re.compile(rb"^\s*[0-9.]+\s*[,\s]\s*(SYSCALL|SYSRET)\b", re.I)
# processed header: "Beta,SysCall ID", also tab/space separated and with a note after Beta
# ("Beta(difference of adjasent timestamps)<TAB>SysCall ID")
_CSV_HEADER = re.compile(rb'^\s*"?beta\b[^,\t]*"?\s*[,\t ]\s*"?syscall[ _]?id"?\s*$', re.I)


def _kind_of_text(head: bytes) -> str | None:
    lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()][:20] or [head]
    if not head.strip():
        return None
    if _CSV_HEADER.match(lines[0].rstrip(b"\r")):
        return "csv"
    if all(_RAW_LINE.match(ln) for ln in lines):
        return "raw"
    return None


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return sorted(out, key=lambda p: p.relative_to(path).parts)


def sniff(path: Path) -> bool:
    """A raw Bochs SYSCALL/SYSRET log or a ``Beta,SysCall ID`` CSV (or a folder of them)."""
    files = _files(path)[:3] if path.is_dir() else [path]
    if not files:
        return False
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(4096)
        if _kind_of_text(head) is None:
            return False
    return True


def _to_int(col: pa.Array, hexadecimal: bool, what: str) -> np.ndarray:
    """Integers from a string column, parsed once per distinct value (64-bit wrap)."""
    uniq = pc.unique(col)
    try:
        vals = [int(v, 16) if hexadecimal or v.lower().startswith("0x") else int(v, 10) for v in uniq.to_pylist()]
    except (TypeError, ValueError):
        raise InputFormatError(f"{what} has a register value that is not a number") from None
    table = np.array([v - 2**64 if v >= 2**63 else v for v in vals], dtype=np.int64)
    return table[pc.index_in(col, value_set=uniq).to_numpy(zero_copy_only=False)]


def _read_raw(text: bytes, what: str) -> dict[str, Any]:
    lines = pc.split_pattern(pa.array([text.decode("latin-1")]), "\n").flatten()
    lines = pc.utf8_trim_whitespace(lines)
    nonempty = pc.not_equal(lines, "")
    line_no = np.flatnonzero(nonempty.to_numpy(zero_copy_only=False)) + 1
    lines = lines.filter(nonempty)
    # fields are separated by whitespace, commas or both ("592834, SYSCALL,0x17,...")
    toks = pc.utf8_split_whitespace(pc.replace_substring(lines, ",", " "))
    n_tok = pc.list_value_length(toks).to_numpy()
    kind = pc.utf8_upper(pc.list_element(toks, 1)) if len(lines) else pa.array([], pa.string())
    is_call = pc.equal(kind, "SYSCALL").to_numpy(zero_copy_only=False)
    is_ret = pc.equal(kind, "SYSRET").to_numpy(zero_copy_only=False)
    bad = ~((is_call & (n_tok == 10)) | (is_ret & (n_tok == 3)))
    if bad.any():
        raise InputFormatError(f"{what} line {int(line_no[np.argmax(bad)])} is not a Bochs 'SYSCALL' (10 fields) or 'SYSRET' (3 fields) line")
    try:
        ts = pc.cast(pc.list_element(toks, 0), pa.float64()).to_numpy()
    except (pa.ArrowInvalid, ValueError):
        raise InputFormatError(f"{what} has a timestamp that is not a number") from None
    calls = toks.filter(pa.array(is_call))
    rets = toks.filter(pa.array(is_ret))
    regs = [pc.list_element(calls, i) for i in range(2, 10)]  # RAX RDI RSI RDX R10 R8 R9 CR3
    hexadecimal = any(
        pc.any(pc.match_substring_regex(r, "[a-fA-F]")).as_py() for r in regs if len(r)
    )
    rax = _to_int(regs[0], hexadecimal, what)
    call_cr3 = _to_int(regs[7], hexadecimal, what)
    ret_cr3 = _to_int(pc.list_element(rets, 2), hexadecimal, what) if len(rets) else np.empty(0, np.int64)
    args = pc.binary_join_element_wise(*regs[1:7], ", ") if len(calls) else pa.array([], pa.string())
    # pair each SYSRET with the latest open SYSCALL of the same CR3 (vectorised)
    order = np.flatnonzero(is_call | is_ret)
    cr3_all = np.empty(len(order), np.int64)
    cr3_all[is_call[order]] = call_cr3
    cr3_all[is_ret[order]] = ret_cr3
    call_pos = np.cumsum(is_call) - 1  # index among calls, for call rows
    by = np.lexsort((order, cr3_all))
    grp = cr3_all[by]
    row = order[by]
    call_here = np.where(is_call[row], call_pos[row], -1)
    new_group = np.r_[True, grp[1:] != grp[:-1]] if len(grp) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(grp)), 0))
    last = np.maximum.accumulate(np.where(call_here >= 0, np.arange(len(grp)), -1))
    last = np.where(last >= group_start, last, -1)
    duration = np.full(len(calls), np.nan)
    ret_rows = np.flatnonzero(is_ret[row])
    matched = last[ret_rows]
    ok = matched >= 0
    ret_rows, matched = ret_rows[ok], matched[ok]
    ci = call_here[matched]
    first_ret = np.unique(ci, return_index=True)[1]  # a call closes once, at its first SYSRET
    ci, ret_rows = ci[first_ret], ret_rows[first_ret]
    call_ts = ts[is_call]
    duration[ci] = ts[row[ret_rows]] - call_ts[ci]
    return {
        "numbers": rax, "pid": call_cr3, "ts": call_ts, "duration": duration,
        "args": args, "line": line_no[is_call], "n_lines": len(lines),
        "radix": 16 if hexadecimal else 10,
    }


def _read_csv(text: bytes, what: str) -> dict[str, Any]:
    """The processed form: a ``Beta ... SysCall ID`` header, then one ``beta, id`` pair per
    line, separated by a comma, tabs or spaces (the published snippets mix them)."""
    lines = pc.split_pattern(pa.array([text.decode("latin-1")]), "\n").flatten()
    lines = pc.utf8_trim_whitespace(lines)
    keep = pc.not_equal(lines, "").to_numpy(zero_copy_only=False)
    line_no = np.flatnonzero(keep) + 1
    lines = lines.filter(pa.array(keep))
    if len(lines) == 0 or not _CSV_HEADER.match(lines[0].as_py().encode("latin-1")):
        raise InputFormatError(f"{what} lacks the 'Beta' and 'SysCall ID' header")
    body, line_no = lines.slice(1), line_no[1:]
    toks = pc.utf8_split_whitespace(pc.replace_substring(pc.replace_substring(body, '"', ""), ",", " "))
    n_tok = pc.list_value_length(toks).to_numpy(zero_copy_only=False) if len(body) else np.zeros(0, np.int64)
    if (n_tok != 2).any():
        bad = int(line_no[np.argmax(n_tok != 2)])
        raise InputFormatError(f"{what} line {bad} is not a 'Beta, SysCall ID' pair of numbers")
    try:
        beta = pc.cast(pc.list_element(toks, 0), pa.float64()).to_numpy() if len(body) else np.zeros(0)
        ids = pc.cast(pc.list_element(toks, 1), pa.int64()).to_numpy() if len(body) else np.zeros(0, np.int64)
    except (pa.ArrowInvalid, ValueError):
        ok = pc.and_(pc.match_substring_regex(pc.list_element(toks, 0), r"^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$"),
                     pc.match_substring_regex(pc.list_element(toks, 1), r"^[-+]?[0-9]+$"))
        bad = int(line_no[np.argmin(ok.to_numpy(zero_copy_only=False))])
        raise InputFormatError(f"{what} line {bad} has a Beta or SysCall ID that is not a number") from None
    return {
        "numbers": ids.astype(np.int64) - 1, "pid": None, "ts": np.cumsum(beta), "duration": None,
        "args": None, "line": line_no.astype(np.int64), "n_lines": len(lines), "radix": 10,
    }


def read(path: Path, progress: Progress | None = None, **_: Any) -> Dataset:
    """Read UAV SysCall Dataset files (raw Bochs logs or processed CSV); one trace per file."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(f"{path} does not exist")
    files = _files(path)
    root = path if path.is_dir() else path.parent
    context = [p for p in root.parts[-2:] if p not in ("/", "")]
    parts: list[dict[str, Any]] = []
    rows, ids = [], []
    for i, f in enumerate(files):
        data = read_bytes(f)
        kind = _kind_of_text(data[:4096])
        if kind is None:
            if path.is_dir():
                continue
            raise InputFormatError(f"{f} is neither a Bochs SYSCALL/SYSRET log nor a 'Beta,SysCall ID' CSV")
        what = f"UAV file {f}"
        part = _read_raw(data, what) if kind == "raw" else _read_csv(data, what)
        if len(part["numbers"]) == 0:
            continue
        rel = f.relative_to(root).as_posix()
        label, group = label_from_parts([*context, *rel.split("/")])
        tid = f"uav:{rel}"
        ids.append(tid)
        parts.append(part)
        rows.append({
            "trace_id": tid, "source": str(f), "format": FORMAT, "label": label, "group": group,
            "category": {"normal": "normal", "anomalous": "attack"}.get(label),
            "scenario": Path(rel).name.split(".")[0], "n_events": len(part["numbers"]),
            "n_lines": part["n_lines"], "n_unparsed": 0, "uav_form": kind, "register_radix": part["radix"],
            "ts_unit": "log",
        })
        if progress:
            progress(i + 1, len(files))
    if not ids:
        raise InputFormatError(f"{path} holds no UAV system-call events")
    n = [len(p["numbers"]) for p in parts]
    total = sum(n)

    def cat(key: str, dtype: Any, fill: Any) -> np.ndarray:
        return np.concatenate([p[key] if p[key] is not None else np.full(k, fill, dtype) for p, k in zip(parts, n, strict=True)])

    pid = cat("pid", np.float64, np.nan)
    pid_arr = pa.array(pid, mask=np.isnan(pid.astype(np.float64))) if any(p["pid"] is None for p in parts) else None
    extra: dict[str, Any] = {
        "duration": pa.array(cat("duration", np.float64, np.nan), mask=np.isnan(cat("duration", np.float64, np.nan))),
        "line": cat("line", np.int64, 0),
        "args": pa.concat_arrays([p["args"] if p["args"] is not None else pa.nulls(k, pa.string())
                                  for p, k in zip(parts, n, strict=True)]) if total else pa.array([], pa.string()),
    }
    if pid_arr is not None:
        extra["pid"] = pc.cast(pid_arr, pa.int64())
        extra["tid"] = extra["pid"]
        pid_np = None
    else:
        pid_np = np.concatenate([p["pid"] for p in parts])
    events = build_events(ids, n, names_array(np.concatenate([p["numbers"] for p in parts]), arch="x86_64"),
                          pid=pid_np, ts=cat("ts", np.float64, np.nan), extra=extra)
    return Dataset(traces_table(rows), events)


READER = register_reader(
    Reader(
        name=FORMAT,
        description="UAV SysCall Dataset (Ezeme et al. 2019): raw Bochs SYSCALL/SYSRET logs or Beta,SysCall ID CSV",
        sniff=sniff,
        read=read,
    )
)
