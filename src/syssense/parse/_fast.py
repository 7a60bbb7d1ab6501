"""Column-wise strace parsing: large chunks, Arrow compute kernels, the rare lines by hand."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputFormatError
from ._stream import FIELDS, StraceEvent, StraceStreamParser


def _strict_error(name: str, ev: StraceEvent) -> InputFormatError:
    raw = (ev.raw or "")[:80]
    return InputFormatError(f"{name}: line {ev.line} is not strace output: {raw!r}")


def parse_stream(
    fh: IO[bytes],
    name: str,
    *,
    pid: int | None = None,
    strict: bool = False,
    check: Callable[[str, bytes], None] | None = None,
    progress: Any = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Parse one log stream into (events table without trace_id, trace row dict)."""
    from .strace import events_to_table

    parser = StraceStreamParser(pid)
    head = fh.peek(65536)[:65536] if hasattr(fh, "peek") else b""
    buf = fh
    if check is not None:
        if not head:
            first = fh.read(65536)
            check(name, first)
            buf = io.BufferedReader(_Prepend(first, fh))  # type: ignore[arg-type]
        else:
            check(name, head)
    text = io.TextIOWrapper(buf, encoding="utf-8", errors="replace", newline="\n")
    events: list[StraceEvent] = []
    for line in text:
        out = parser.feed(line)
        if strict:
            for ev in out:
                if ev.kind == "unparsed":
                    raise _strict_error(name, ev)
        events.extend(out)
    out = parser.close()
    if strict:
        for ev in out:
            if ev.kind == "unparsed":
                raise _strict_error(name, ev)
    events.extend(out)
    events.sort(key=lambda e: (e.line or 0, e.seq))
    events = [e._replace(seq=i) for i, e in enumerate(events)]
    table = events_to_table(events, "")
    table = table.drop_columns(["trace_id"])
    return table, parser.trace_row()


class _Prepend(io.RawIOBase):
    """A raw stream that yields ``first`` and then the rest of ``fh``."""

    def __init__(self, first: bytes, fh: IO[bytes]) -> None:
        self._first = memoryview(first)
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._first:
            n = min(len(b), len(self._first))
            b[:n] = self._first[:n]
            self._first = self._first[n:]
            return n
        data = self._fh.read(len(b))
        b[: len(data)] = data
        return len(data)


__all__ = ["FIELDS", "parse_stream", "np", "pc"]
