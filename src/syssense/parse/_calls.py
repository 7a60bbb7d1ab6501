"""Column builders shared by the call-list readers (ADFA-LD, UNM, generic, UAV, LID-DS).

Traces become Arrow columns in one step from NumPy arrays, never one Python object per
call. This module registers no reader, so importing it changes no sniff order.
"""

from __future__ import annotations

import gzip
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InputFormatError

#: callback(done, total) used by readers to drive a progress bar.
Progress = Callable[[int, int], None]

NORMAL_WORDS = frozenset({"normal", "benign", "train", "training", "self", "live", "synth", "clean"})
ANOMALOUS_WORDS = frozenset(
    {"attack", "attacks", "intrusion", "intrusions", "anomalous", "anomaly", "anomalies",
     "malicious", "exploit", "exploits", "malware", "abnormal"}
)


def parse_numbers(data: bytes, what: str) -> np.ndarray:
    """Whitespace-separated decimal numbers as an int64 array; one sentence on bad input.

    NumPy's text parser does the work (no Python object per number); any token it
    cannot read makes the whole input an error rather than being skipped.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return np.fromstring(data, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            pass
    bad = next((t for t in data.split() if not t.lstrip(b"-").isdigit()), b"?")
    shown = bad[:20].decode("latin-1", "replace")
    raise InputFormatError(f"{what} is not a list of system-call numbers (found '{shown}')")


def build_events(
    trace_ids: Sequence[str],
    lengths: Sequence[int] | np.ndarray,
    syscall: pa.Array,
    pid: np.ndarray | None = None,
    ts: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
) -> pa.Table:
    """An events table from per-trace lengths and one flat syscall column.

    ``trace_ids[i]`` owns the next ``lengths[i]`` rows; ``seq`` counts from 0 in each
    trace; ``kind`` is ``syscall`` throughout.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    seq = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    cols: dict[str, Any] = {
        "trace_id": pa.DictionaryArray.from_arrays(pa.array(owner), pa.array(list(trace_ids), pa.string())),
        "seq": pa.array(seq),
        "syscall": syscall,
        "kind": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(total, dtype=np.int32)), pa.array(["syscall"])
        ),
    }
    if pid is not None:
        cols["pid"] = pa.array(np.asarray(pid, dtype=np.int64))
        cols["tid"] = cols["pid"]
    if ts is not None:
        cols["ts"] = pa.array(np.asarray(ts, dtype=np.float64))
    for k, v in (extra or {}).items():
        cols[k] = v
    return pa.table(cols)


def label_from_parts(parts: Iterable[str]) -> tuple[str, str | None]:
    """``(label, group)`` from path components: the first label word wins; the next
    component (if it is a folder) is the group."""
    parts = list(parts)
    for i, p in enumerate(parts):
        low = p.lower()
        if low in ANOMALOUS_WORDS or low in NORMAL_WORDS:
            label = "anomalous" if low in ANOMALOUS_WORDS else "normal"
            group = parts[i + 1] if i + 1 < len(parts) - 1 else None
            return label, group
    return "unknown", None


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputFormatError(f"{path} is a truncated or damaged gzip file ({exc})") from None
    return data
