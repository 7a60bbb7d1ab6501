"""Generic call-list files: one trace per file of whitespace-separated names or numbers.

Labels come from the directory structure: a folder named ``normal`` (or ``benign``,
``train``/``training``, ``self``) marks normal traces; ``attack``, ``intrusion``,
``anomalous``, ``anomaly``, ``malicious``, ``exploit`` mark anomalous ones; the next folder
down names the group (e.g. ``data/attack/webshell/t1.txt`` -> label anomalous, group
webshell). Numbers stay as their decimal text unless an architecture is given
(``arch="i386"`` / ``"x86_64"``), then they are mapped through the generated tables.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..dataset import Dataset, traces_table
from ..errors import InputFormatError
from ._calls import Progress, build_events, label_from_parts, read_bytes
from .registry import _READER_MODULES, Reader, register_reader
from .syscalls import names_array

_TEXT_SUFFIXES = {"", ".txt", ".trace", ".int", ".seq", ".log", ".dat", ".calls", ".gz"}


# --------------------------------------------------------------------------- generic reader


def _candidate_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if f.startswith(".") or f.lower().startswith("readme"):
                continue
            if p.suffix.lower() in _TEXT_SUFFIXES:
                files.append(p)
    return files


def _is_call_list(sample: bytes) -> bool:
    if not sample.strip() or b"\0" in sample:
        return False
    toks = sample.split()[:-1] or sample.split()  # the last token may be cut
    return all(t.replace(b"_", b"").isalnum() and len(t) <= 40 for t in toks)


def sniff(path: Path) -> bool:
    """A call-list file, or a folder whose first files are call lists."""
    files = _candidate_files(path)[:5] if path.is_dir() else [path]
    if not files:
        return False
    for f in files:
        if not f.is_file():
            return False
        with open(f, "rb") as fh:
            head = fh.read(4096)
        if head[:2] == b"\x1f\x8b":
            return False  # compressed: leave to the format that knows it
        if not _is_call_list(head):
            return False
        # a two-column "PID NUM" layout is UNM's, not ours
        first = head.split(b"\n", 1)[0].split()
        if len(first) == 2 and all(t.isdigit() for t in first) and head.count(b"\n") > 1:
            lines = head.split(b"\n")[:-1]
            if all(len(ln.split()) == 2 for ln in lines if ln.strip()):
                return False
    return True


def read(
    path: Path,
    arch: str | None = None,
    progress: Progress | None = None,
    **_: Any,
) -> Dataset:
    """Read one file or a folder tree of call-list files (one trace per file)."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(f"{path} does not exist")
    files = _candidate_files(path)
    if not files:
        raise InputFormatError(f"{path} holds no call-list files (one trace per file of call names or numbers)")
    root = path if path.is_dir() else path.parent
    context = [p for p in root.parts[-2:] if p not in ("/", "")] if path.is_dir() else []
    rows, texts, ids = [], [], []
    for i, f in enumerate(files):
        data = read_bytes(f)
        if b"\0" in data[:4096]:
            raise InputFormatError(f"{f} is a binary file, not a list of system calls")
        rel = f.relative_to(root) if path.is_dir() else Path(f.name)
        label, group = label_from_parts([*context, *rel.parts])
        tid = f"generic:{rel.as_posix()}"
        ids.append(tid)
        texts.append(data.decode("utf-8", "replace"))
        rows.append({
            "trace_id": tid, "source": str(f), "format": "generic", "label": label,
            "group": group, "category": {"normal": "normal", "anomalous": "attack"}.get(label),
            "scenario": group or (rel.parts[-2] if len(rel.parts) > 1 else None),
            "n_lines": data.count(b"\n"), "n_unparsed": 0,
        })
        if progress:
            progress(i + 1, len(files))
    # tokens of every file at once, in Arrow (no Python object per call)
    trimmed = pc.utf8_trim_whitespace(pa.array(texts, pa.large_string()))
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.large_string()), trimmed)
    lists = pc.utf8_split_whitespace(trimmed)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        raise InputFormatError(f"{path} holds no system calls (the files are empty)")
    for row, n in zip(rows, lengths.tolist(), strict=True):
        row["n_events"] = n
    numeric = pc.all(pc.match_substring_regex(flat, r"^[0-9]+$")).as_py()
    if numeric:
        syscall = names_array(pc.cast(flat, pa.int64()).to_numpy(), arch=arch)
    else:
        bad = pc.invert(pc.match_substring_regex(flat, r"^[A-Za-z0-9_]+$"))
        if pc.any(bad).as_py():
            shown = flat.filter(bad)[0].as_py()[:30]
            raise InputFormatError(f"{path} is not a list of system-call names or numbers (found '{shown}')")
        syscall = pc.cast(flat, pa.string()).dictionary_encode()
    for row in rows:
        row["meta"] = json.dumps({"numbers": "names" if not numeric else (arch or "opaque")})
    events = build_events(ids, lengths, syscall)
    return Dataset(traces_table(rows), events)


def _register_specific_readers_first() -> None:
    """Generic is the catch-all: the sniff order is registration order, so the readers
    of specific formats must register before it, whatever module was imported first."""
    for mod in _READER_MODULES:
        if mod != "generic":
            try:
                importlib.import_module(f"{__package__}.{mod}")
            except ModuleNotFoundError as exc:
                if not (exc.name or "").startswith(__package__ or ""):
                    raise


_register_specific_readers_first()

READER = register_reader(
    Reader(
        name="generic",
        description="one trace per file of whitespace-separated call names or numbers; labels from folder names",
        sniff=sniff,
        read=read,
    )
)
