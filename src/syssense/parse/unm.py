"""UNM / MIT system-call data (Forrest et al. 1996; Hofmeyr, Forrest & Somayaji 1998;
Warrender, Forrest & Pearlmutter 1999).

Each file holds ``PID NUM`` lines (tab or space separated) that interleave processes;
one trace is one (file, PID) pair, the classic unit of the stide papers. Files may be
plain, gzip-compressed, tar archives (plain or gzip) whose members are ``.int.gz``, or a
gzip of a tar; a folder is read recursively. Parsing is vectorised: NumPy parses each
payload, processes are split with a stable sort, and one flat column is built at the end.

Labels come from the file, member and folder names: a word among ``intrusion(s)``,
``exploit``, ``homegrown``, ``recovered``, ``attack``, ``lprcp``, ``unsuccessful``,
``trojan`` makes a trace anomalous; otherwise ``normal``, ``live``, ``synth`` or ``self``
makes it normal; otherwise the label is ``unknown``. ``group`` names the traced program
(sendmail, lpr, xlock, named, login, ps, inetd, ftp, stide) when a name says it.

Call numbers have no reliable name table (SunOS 4.1 for lpr and sendmail, Linux 2.x for
others), so by default they stay opaque symbols: the decimal number as text ("5").
``names="sunos"`` maps them through ``synth-sendmail/calls.txt.sun`` (line n names call
n), which only fits the SunOS sets; see docs/datasets.md for the caveat.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Dataset, traces_table
from ..errors import InputFormatError
from ._calls import Progress, build_events, parse_numbers
from .registry import Reader, register_reader
from .syscalls import names_array, read_call_list

FORMAT = "unm"
ANOMALOUS = frozenset({"intrusion", "intrusions", "exploit", "exploits", "homegrown", "recovered",
                       "attack", "attacks", "lprcp", "unsuccessful", "trojan", "trojans", "anomalous"})
NORMAL = frozenset({"normal", "live", "synth", "self", "nonself", "syn"})
PROGRAMS = {"sendmail": "sendmail", "sm": "sendmail", "lpr": "lpr", "lprcp": "lpr", "xlock": "xlock",
            "named": "named", "login": "login", "ps": "ps", "inetd": "inetd", "ftp": "ftp",
            "stide": "stide"}
_SKIP = {"sha256sums", "readme", "readme.md", "readme.txt", "calls.txt.sun", "calls.txt"}
_WORD = re.compile(r"[a-z]+")
_LINE = re.compile(rb"^\s*\d+\s+-?\d+\s*$")


def label_of(names: list[str]) -> tuple[str, str | None]:
    """``(label, program)`` from the names of a trace's file, member and folders."""
    words = [w for n in names for w in _WORD.findall(n.lower())]
    label = "unknown"
    if any(w in ANOMALOUS for w in words):
        label = "anomalous"
    elif any(w in NORMAL for w in words):
        label = "normal"
    # the innermost name that says a program wins (login-ps/ps-live-unm.tar -> ps)
    inner = [w for n in reversed(names) for w in _WORD.findall(n.lower())]
    program = next((PROGRAMS[w] for w in inner if w in PROGRAMS), None)
    return label, program


def _gunzip(data: bytes, what: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFormatError(f"{what} is a truncated or damaged gzip file ({exc})") from None


def _is_tar(data: bytes) -> bool:
    return len(data) >= 512 and data[257:262] == b"ustar"


def _payloads(
    data: bytes, source: str, names: list[str], where: Callable[[float], None] | None = None
) -> Iterator[tuple[str, list[str], bytes]]:
    """``(source, names, text)`` of every trace file inside ``data`` (tars unpacked).

    ``where(fraction)`` hears how far into an archive the reading is, for progress bars.
    """
    data = _gunzip(data, source)
    if not _is_tar(data):
        yield source, names, data
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for i, m in enumerate(tf):
                if where is not None and i % 256 == 0:
                    where(m.offset_data / max(len(data), 1))
                if not m.isfile():
                    continue
                fh = tf.extractfile(m)
                if fh is None:
                    continue
                member = fh.read()
                yield f"{source}:{m.name}", [*names, *m.name.split("/")], _gunzip(member, f"{source}:{m.name}")
    except tarfile.TarError as exc:
        raise InputFormatError(f"{source} is a truncated or damaged tar archive ({exc})") from None


def _scenario(rel: str, context: list[str]) -> str:
    """The set a file belongs to: its labelled folder (unm-normal), else its own stem."""
    parts = [*context, *rel.split("/")]
    stem = parts[-1].split(".")[0]
    if len(parts) > 1 and not set(_WORD.findall(stem.lower())) & (ANOMALOUS | NORMAL):
        folder_words = set(_WORD.findall(parts[-2].lower()))
        if folder_words & (ANOMALOUS | NORMAL):
            return parts[-2]
    return stem


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".") and f.lower() not in _SKIP]
    return sorted(out, key=lambda p: p.relative_to(path).parts)


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(n)
        except (OSError, EOFError):
            return b""
    if _is_tar(head):
        try:
            with tarfile.open(path, mode="r:*") as tf:
                m = next((m for m in tf if m.isfile()), None)
                fh = tf.extractfile(m) if m else None
                member = fh.read(1 << 16) if fh else b""
            if member[:2] == b"\x1f\x8b":
                member = gzip.GzipFile(fileobj=io.BytesIO(member)).read(n)
            head = member[:n]
        except (tarfile.TarError, OSError, EOFError):
            return b""
    return head


def _looks_unm(text: bytes) -> bool:
    """The first lines are ``PID NUM`` (an empty payload counts as UNM: it adds nothing)."""
    head = text[:4096]
    lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()] or ([head] if head.strip() else [])
    return all(_LINE.match(ln) for ln in lines[:20])


def sniff(path: Path) -> bool:
    """``PID NUM`` lines in the file (or the first files of a folder), through gzip and tar."""
    files = _files(path)[:3] if path.is_dir() else [path]
    if not files:
        return False
    for f in files:
        head = _head(f)
        lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()] or [head]
        if not head.strip() or not all(_LINE.match(ln) for ln in lines[:50]):
            return False
    return True


def _sunos_table(path: Path, calls_file: str | os.PathLike[str] | None) -> dict[int, str]:
    if calls_file is None:
        start = path if path.is_dir() else path.parent
        for d in (start, *start.parents):
            for cand in (d / "calls.txt.sun", d / "synth-sendmail" / "calls.txt.sun"):
                if cand.is_file():
                    calls_file = cand
                    break
            if calls_file:
                break
    if calls_file is None:
        raise InputFormatError("names='sunos' needs calls.txt.sun (UNM synth-sendmail); pass its path as calls_file")
    return read_call_list(Path(calls_file).read_text(encoding="ascii", errors="replace"))


def read(
    path: Path,
    names: str | None = None,
    calls_file: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    **_: Any,
) -> Dataset:
    """Read UNM ``PID NUM`` data (file, archive or folder); one trace per (file, PID).

    ``names``: None (numbers kept as text), ``"sunos"`` (calls.txt.sun), or ``"i386"`` /
    ``"x86_64"`` (Linux tables).
    """
    path = Path(path)
    if not path.exists():
        raise InputFormatError(f"{path} does not exist")
    files = _files(path)
    if not files:
        raise InputFormatError(f"{path} holds no UNM trace files")
    root = path if path.is_dir() else path.parent
    context = [p for p in root.parts[-2:] if p not in ("/", "")]  # folder names carry labels too
    calls, pids, lines, lengths, rows, ids = [], [], [], [], [], []
    skipped: list[str] = []
    for fi, f in enumerate(files):
        rel = f.relative_to(root).as_posix()
        def where(frac: float, fi: int = fi) -> None:
            if progress:
                progress(fi * 1000 + int(frac * 1000), len(files) * 1000)

        for source, parts, text in _payloads(f.read_bytes(), str(f), [*context, *rel.split("/")], where):
            what = f"UNM file {source}"
            if (len(files) > 1 or source != str(f)) and not _looks_unm(text):
                # a folder or archive may hold other files (e.g. lpr-mit's real/tot size
                # listing): skip them, and say so in the traces' meta
                skipped.append(source)
                continue
            if b"\0" in text[:4096]:
                raise InputFormatError(f"{what} is a binary file, not PID NUM lines")
            nums = parse_numbers(text, what)
            if nums.size == 0:
                continue
            if nums.size % 2:
                raise InputFormatError(f"{what} is not made of 'PID NUM' lines (odd number of fields)")
            pairs = nums.reshape(-1, 2)
            pid, num = pairs[:, 0], pairs[:, 1]
            if (pid == pid[0]).all():  # one process: nothing to regroup
                order_pids, counts = [int(pid[0])], [len(pid)]
                calls.append(num)
                pids.append(pid)
                lines.append(np.arange(1, len(pid) + 1, dtype=np.int64))
            else:
                uniq, first, inv = np.unique(pid, return_index=True, return_inverse=True)
                by_first = np.argsort(first, kind="stable")
                rank = np.empty(len(uniq), dtype=np.int64)
                rank[by_first] = np.arange(len(uniq))
                key = rank[inv]
                perm = np.argsort(key, kind="stable")
                order_pids = uniq[by_first].tolist()
                counts = np.bincount(key, minlength=len(uniq)).tolist()
                calls.append(num[perm])
                pids.append(pid[perm])
                lines.append(perm + 1)
            label, program = label_of(parts)
            member = source[len(str(f)) + 1:] if source != str(f) else ""
            scenario = _scenario(rel, context)
            for p, c in zip(order_pids, counts, strict=True):
                tid = f"unm:{rel}{':' + member if member else ''}#{p}"
                ids.append(tid)
                lengths.append(c)
                rows.append({
                    "trace_id": tid, "source": source, "format": FORMAT, "scenario": scenario,
                    "category": {"normal": "normal", "anomalous": "attack"}.get(label),
                    "label": label, "group": program, "n_events": c, "n_lines": c, "n_unparsed": 0,
                    "pid": p,
                })
        if progress:
            progress((fi + 1) * 1000, len(files) * 1000)
    if not ids:
        if skipped:
            raise InputFormatError(f"{path} holds no UNM 'PID NUM' traces (e.g. {skipped[0]} is not one)")
        raise InputFormatError(f"{path} holds no system calls (the files are empty)")
    if skipped:
        for row in rows:
            row["skipped"] = skipped
    numbers = np.concatenate(calls)
    if names is None:
        syscall = names_array(numbers, arch=None)
    elif names == "sunos":
        syscall = names_array(numbers, mapping=_sunos_table(path, calls_file))
    else:
        syscall = names_array(numbers, arch=names)
    extra = {"line": np.concatenate(lines)}
    events = build_events(ids, lengths, syscall, pid=np.concatenate(pids), extra=extra)
    return Dataset(traces_table(rows), events)


READER = register_reader(
    Reader(
        name=FORMAT,
        description="UNM/MIT 'PID NUM' traces (Forrest et al. 1996): plain, .gz or tar; one trace per file and PID",
        sniff=sniff,
        read=read,
    )
)
