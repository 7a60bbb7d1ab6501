"""ADFA-LD, the ADFA Linux Dataset (Creech & Hu, UNSW, 2013).

Read in place from the published ``ADFA-LD.zip`` or from an extracted directory. One
trace per file of space-separated **i386** system-call numbers (Linux ``unistd_32.h``:
5 = open, 192 = mmap2, 265 = clock_gettime); the ``ADFA-LD+Syscall+List.txt`` inside the
zip is the asm-generic table and is not used. Folder names give the published split and
the labels:

=========================================  ==========  =========  ========  ==============
folder                                     split       label      category  group
=========================================  ==========  =========  ========  ==============
Training_Data_Master/                      training    normal     normal    (none)
Validation_Data_Master/                    validation  normal     normal    (none)
Attack_Data_Master/<Type>_<run>/           attack      anomalous  attack    <Type>
=========================================  ==========  =========  ========  ==============

Counts (README of the dataset): 833 training traces (308,077 calls), 4,372 validation
(2,122,085), 746 attack traces in 60 folders (6 types x 10 runs).

Reference: G. Creech and J. Hu, "Generation of a new IDS test dataset: Time to retire
the KDD collection", IEEE WCNC 2013; "A semantic approach to host-based intrusion
detection systems using contiguous and discontiguous system call patterns", IEEE Trans.
Computers 63(4), 2014.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Dataset, traces_table
from ..errors import InputFormatError
from ._calls import Progress, build_events, parse_numbers
from .registry import Reader, register_reader
from .syscalls import names_array

FORMAT = "adfa-ld"
SPLITS = {
    "Training_Data_Master": "training",
    "Validation_Data_Master": "validation",
    "Attack_Data_Master": "attack",
}
_ATTACK_DIR = re.compile(r"^(?P<type>.+?)_(?P<run>\d+)$")


def _classify(rel: str) -> tuple[str, str | None, int | None] | None:
    """``(split, group, run)`` for a member path, None if it is not a trace file."""
    parts = rel.replace("\\", "/").split("/")
    if not parts[-1].lower().endswith(".txt") or parts[-1].startswith("._") or "__MACOSX" in parts:
        return None  # macOS resource forks in re-packed archives are not traces
    for i, p in enumerate(parts[:-1]):
        split = SPLITS.get(p)
        if split is None:
            continue
        if split != "attack":
            return split, None, None
        if i + 2 < len(parts):  # Attack_Data_Master/<Type>_<run>/file
            m = _ATTACK_DIR.match(parts[i + 1])
            if m:
                return split, m.group("type"), int(m.group("run"))
            return split, parts[i + 1], None
        return split, None, None
    return None


def _iter_members(path: Path) -> Iterator[tuple[str, Any]]:
    """``(relative name, loader)`` pairs in a stable order."""
    if path.is_file():
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise InputFormatError(f"{path} is not a readable zip archive (truncated or damaged)") from None
        names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        for name in names:
            yield name, (lambda n=name: zf.read(n))
        return
    base = path.parent if path.name in SPLITS else path
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath) / f
            yield p.relative_to(base).as_posix(), p.read_bytes


def sniff(path: Path) -> bool:
    """The published zip, an extracted ADFA-LD folder, or one of its *_Data_Master folders."""
    if path.is_file():
        if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return any(any(s in n for s in SPLITS) for n in zf.namelist()[:50])
    if path.is_dir():
        if path.name in SPLITS:
            return True
        for child in (path, *[c for c in path.iterdir() if c.is_dir()][:10]):
            if any((child / s).is_dir() for s in SPLITS):
                return True
    return False


def read(
    path: Path,
    splits: tuple[str, ...] | list[str] | None = None,
    progress: Progress | None = None,
    **_: Any,
) -> Dataset:
    """Read ADFA-LD (zip or directory) into the traces and events tables.

    ``splits`` keeps only some of ``training``, ``validation``, ``attack``.
    ``progress(done, total)`` is called as files are read.
    """
    path = Path(path)
    if not path.exists():
        raise InputFormatError(f"{path} does not exist")
    wanted = set(splits) if splits else None
    if wanted and not wanted <= set(SPLITS.values()):
        raise InputFormatError(f"unknown ADFA-LD split in {sorted(wanted)}: choose training, validation or attack")
    members = []
    for rel, load in _iter_members(path):
        c = _classify(rel)
        if c is None or (wanted and c[0] not in wanted):
            continue
        members.append((rel, load, c))
    if not members:
        raise InputFormatError(
            f"{path} holds no ADFA-LD traces (expected Training_Data_Master, Validation_Data_Master or Attack_Data_Master folders of .txt files)"
        )
    arrays, lengths, rows, ids = [], [], [], []
    prefix = f"{path}:" if path.is_file() else ""
    base = path.parent if path.is_dir() and path.name in SPLITS else path
    for i, (rel, load, (split, group, run)) in enumerate(members):
        nums = parse_numbers(load(), f"ADFA-LD file {rel}")
        stem = rel.rsplit("/", 1)[-1][:-4]
        folder = rel.rsplit("/", 2)[-2] if split == "attack" else split
        tid = f"adfa:{split}/{folder}/{stem}" if split == "attack" else f"adfa:{split}/{stem}"
        ids.append(tid)
        arrays.append(nums)
        lengths.append(len(nums))
        rows.append({
            "trace_id": tid,
            "source": prefix + rel if prefix else str(base / rel),
            "format": FORMAT,
            "scenario": group if split == "attack" else split,
            "category": "attack" if split == "attack" else "normal",
            "label": "anomalous" if split == "attack" else "normal",
            "split": split,
            "group": group,
            "run": run,
            "n_events": len(nums),
            "n_lines": 1,
            "n_unparsed": 0,
            "arch": "i386",
        })
        if progress and (i % 64 == 0 or i + 1 == len(members)):
            progress(i + 1, len(members))
    numbers = np.concatenate(arrays) if arrays else np.empty(0, np.int64)
    events = build_events(ids, lengths, names_array(numbers, arch="i386"))
    return Dataset(traces_table(rows), events, None)


READER = register_reader(
    Reader(
        name=FORMAT,
        description="ADFA-LD (Creech & Hu 2013): the published zip or its folders; i386 call numbers",
        sniff=sniff,
        read=read,
    )
)
