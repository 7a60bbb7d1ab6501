"""Input formats, registered by name with a cheap sniff (the plaso parser model).

Each reader module registers a :class:`Reader`: ``sniff(path)`` looks at a few bytes or
names and says whether the path is in its format; ``read(path, **options)`` returns a
:class:`~syssense.dataset.Dataset`. :func:`load` turns any input (a dataset directory, an
events Parquet file, or raw logs / public datasets in a known format) into a Dataset.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..dataset import Dataset, is_dataset_dir, is_table_file, read_dataset
from ..errors import InputFormatError


@dataclass(frozen=True)
class Reader:
    name: str
    description: str
    sniff: Callable[[Path], bool]
    read: Callable[..., Dataset]


#: name -> Reader, in registration order (the sniff order).
READERS: dict[str, Reader] = {}

#: modules that register readers; absent ones are skipped.
_READER_MODULES = ("strace", "adfa", "unm", "uav", "lidds", "generic")


def register_reader(reader: Reader) -> Reader:
    READERS[reader.name] = reader
    return reader


def load_all_readers() -> dict[str, Reader]:
    for mod in _READER_MODULES:
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__package__ or ""):
                continue
            raise
    return READERS


def formats_understood() -> str:
    load_all_readers()
    return ", ".join(["syssense dataset directory", "syssense Parquet table", *READERS])


def sniff_format(path: str | os.PathLike[str]) -> str:
    """The registered format of ``path``; one clear sentence when none matches."""
    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"{p} does not exist")
    for reader in load_all_readers().values():
        try:
            if reader.sniff(p):
                return reader.name
        except OSError:
            continue
    raise InputFormatError(f"cannot tell the format of {p}: syssense reads {formats_understood()}")


def read_format(path: str | os.PathLike[str], fmt: str | None = None, **options) -> Dataset:
    """Read ``path`` with the reader named ``fmt`` (sniffed when None)."""
    load_all_readers()
    name = fmt or sniff_format(path)
    if name not in READERS:
        raise InputFormatError(f"unknown format '{name}': choose one of {', '.join(READERS)}")
    return READERS[name].read(Path(path), **options)


def load(path: str | os.PathLike[str], fmt: str | None = None, **options) -> Dataset:
    """Any input as a Dataset: dataset directory, Parquet events file, or raw format."""
    p = Path(path)
    if fmt is None and (is_dataset_dir(p) or is_table_file(p)):
        return read_dataset(p)
    return read_format(p, fmt, **options)
