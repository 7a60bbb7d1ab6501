"""Generic call-list files: one trace per file of whitespace-separated names or numbers.

Labels come from the directory structure: a folder named ``normal`` (or ``benign``,
``train``/``training``, ``self``) marks normal traces; ``attack``, ``intrusion``,
``anomalous``, ``anomaly``, ``malicious``, ``exploit`` mark anomalous ones; the next folder
down names the group (e.g. ``data/attack/webshell/t1.txt`` -> label anomalous, group
webshell). Numbers stay as their decimal text unless an architecture is given
(``arch="i386"`` / ``"x86_64"``), then they are mapped through the generated tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..dataset import Dataset, traces_table
from ..errors import InputFormatError
from ._calls import Progress, build_events, label_from_parts, read_bytes
from .registry import Reader, register_reader
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
    rows, tokens, lengths, ids = [], [], [], []
    numeric = True
    for i, f in enumerate(files):
        data = read_bytes(f)
        if b"\0" in data[:4096]:
            raise InputFormatError(f"{f} is a binary file, not a list of system calls")
        toks = data.split()
        if numeric and not all(t.isdigit() for t in toks):
            numeric = False
        rel = f.relative_to(root) if path.is_dir() else Path(f.name)
        label, group = label_from_parts(rel.parts)
        tid = f"generic:{rel.as_posix()}"
        ids.append(tid)
        tokens.append(toks)
        lengths.append(len(toks))
        rows.append({
            "trace_id": tid, "source": str(f), "format": "generic", "label": label,
            "group": group, "category": {"normal": "normal", "anomalous": "attack"}.get(label),
            "scenario": group or (rel.parts[0] if len(rel.parts) > 1 else None),
            "n_events": len(toks), "n_lines": data.count(b"\n"), "n_unparsed": 0,
        })
        if progress:
            progress(i + 1, len(files))
    if sum(lengths) == 0:
        raise InputFormatError(f"{path} holds no system calls (the files are empty)")
    flat = [t for toks in tokens for t in toks]
    if numeric:
        syscall = names_array(np.array(flat, dtype=np.int64), arch=arch)
    else:
        syscall = pa.array(flat, type=pa.binary()).cast(pa.string()).dictionary_encode()
    events = build_events(ids, lengths, syscall)
    return Dataset(traces_table(rows), events)


READER = register_reader(
    Reader(
        name="generic",
        description="one trace per file of whitespace-separated call names or numbers; labels from folder names",
        sniff=sniff,
        read=read,
    )
)
