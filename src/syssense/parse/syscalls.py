"""System-call number tables: number -> name for x86-64 and i386.

The tables in ``parse/tables/<arch>.csv`` are generated from the Linux uapi headers
(``unistd_64.h`` / ``unistd_32.h``) by ``tools/gen_syscall_tables.py``, the way strace
builds its own decoders from kernel headers. A number no table maps becomes ``sys_<n>``.

Lookups of many numbers at once are vectorised: :func:`names_array` maps a NumPy array of
numbers to a dictionary-encoded Arrow array (one name per distinct number).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pyarrow as pa

from ..errors import InputFormatError

#: architectures with a generated table; aliases map onto them.
ARCHES = ("x86_64", "i386")
_ALIASES = {"x86-64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "i686": "i386", "x86": "i386"}


def _arch(arch: str) -> str:
    a = _ALIASES.get(arch.lower(), arch.lower())
    if a not in ARCHES:
        raise InputFormatError(f"unknown architecture '{arch}': choose one of {', '.join(ARCHES)}")
    return a


@functools.cache
def table(arch: str = "x86_64") -> dict[int, str]:
    """``{number: name}`` for ``arch`` (x86_64 or i386), from the generated table."""
    a = _arch(arch)
    text = resources.files(__package__).joinpath("tables", f"{a}.csv").read_text(encoding="ascii")
    out: dict[int, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("number,"):
            continue
        num, _, name = line.partition(",")
        out[int(num)] = name
    return out


@functools.cache
def reverse_table(arch: str = "x86_64") -> dict[str, int]:
    """``{name: number}`` for ``arch``."""
    return {name: num for num, name in table(arch).items()}


def name_of(number: int, arch: str = "x86_64") -> str:
    """The name of call ``number`` on ``arch``; ``sys_<number>`` when unknown."""
    return table(arch).get(int(number), f"sys_{int(number)}")


def number_of(name: str, arch: str = "x86_64") -> int | None:
    """The number of call ``name`` on ``arch`` (``sys_<n>`` gives n); None when unknown."""
    num = reverse_table(arch).get(name)
    if num is None and name.startswith("sys_") and name[4:].isdigit():
        return int(name[4:])
    return num


def names_array(
    numbers: np.ndarray, arch: str | None = "x86_64", mapping: dict[int, str] | None = None
) -> pa.DictionaryArray:
    """Map an integer array of call numbers to a dictionary-encoded array of names.

    ``mapping`` overrides the table (e.g. SunOS numbers for UNM); with ``arch=None`` and
    no mapping, numbers stay opaque symbols: their decimal text.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and numbers.min() >= 0 and numbers.max() < 1 << 20:
        # call numbers are small: a presence table is O(n), np.unique would sort
        present = np.zeros(int(numbers.max()) + 1, dtype=bool)
        present[numbers] = True
        uniq = np.flatnonzero(present)
        code = np.cumsum(present, dtype=np.int32) - 1
        inverse = code[numbers]
    else:
        uniq, inverse = np.unique(numbers, return_inverse=True)
    if mapping is None and arch is not None:
        mapping = table(arch)
    if mapping is None:
        names = [str(int(n)) for n in uniq]
    else:
        names = [mapping.get(int(n), f"sys_{int(n)}") for n in uniq]
    # two numbers can share a name only through a custom mapping; unify to keep dict unique
    dictionary = pa.array(names, type=pa.string())
    if len(set(names)) != len(names):
        first = {}
        remap = np.array([first.setdefault(nm, len(first)) for nm in names], dtype=np.int32)
        dictionary = pa.array(list(first), type=pa.string())
        inverse = remap[inverse]
    return pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)), dictionary)


def read_call_list(text: str, first: int = 1) -> dict[int, str]:
    """A ``{number: name}`` map from one name per line, numbered from ``first``.

    UNM's ``synth-sendmail/calls.txt.sun`` lists SunOS 4.1 calls this way, from 1 (exit).
    """
    names = [ln.strip() for ln in text.splitlines()]
    return {i + first: n for i, n in enumerate(names) if n}
