"""Generic call-list reader and the syscall tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from syssense.errors import InputFormatError
from syssense.parse import read_format, sniff_format
from syssense.parse.generic import read as read_generic
from syssense.parse.syscalls import name_of, names_array, number_of, table

GEN = Path(__file__).parent / "data" / "readers" / "generic"
UNM_MINI = Path(__file__).parent / "data" / "readers" / "unm-mini" / "normal" / "tabbed.int"


def test_folder_labels_and_groups():
    assert sniff_format(GEN) == "generic"
    ds = read_format(GEN)
    t = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    assert t["generic:normal/ls-1.txt"]["label"] == "normal"
    rev = t["generic:attack/webshell/rev-1.txt"]
    assert rev["label"] == "anomalous" and rev["group"] == "webshell" and rev["category"] == "attack"
    ev = ds.select({"trace_id": "generic:normal/ls-1.txt"}).events
    assert ev["syscall"].to_pylist() == ["openat", "read", "read", "close", "exit_group"]  # across lines
    assert ev["seq"].to_pylist() == [0, 1, 2, 3, 4]


def test_numbers_opaque_or_mapped(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("5 192 265\n3 999\n")
    assert read_generic(f).events["syscall"].to_pylist() == ["5", "192", "265", "3", "999"]
    assert read_generic(f, arch="i386").events["syscall"].to_pylist() == [
        "open", "mmap2", "clock_gettime", "read", "sys_999"
    ]
    assert read_generic(f, arch="x86_64").events["syscall"].to_pylist()[:2] == ["fstat", "lgetxattr"]


def test_unlabelled_file_and_empty_file(tmp_path):
    (tmp_path / "a.txt").write_text("read write\n")
    (tmp_path / "b.txt").write_text("")
    ds = read_generic(tmp_path)
    assert ds.traces["label"].to_pylist() == ["unknown", "unknown"]
    assert ds.traces["n_events"].to_pylist() == [2, 0]


def test_unm_layout_is_not_claimed_by_generic():
    assert sniff_format(UNM_MINI) == "unm"


def test_bad_inputs(tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_text("open read(3) close\n")
    with pytest.raises(InputFormatError, match=r"found 'read\(3\)'"):
        read_generic(bad)
    empty = tmp_path / "e"
    empty.mkdir()
    (empty / "z.txt").write_text("  \n")
    with pytest.raises(InputFormatError, match="no system calls"):
        read_generic(empty)
    binf = tmp_path / "b.txt"
    binf.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputFormatError, match="binary"):
        read_generic(binf)


def test_tables_from_headers():
    assert len(table("i386")) > 400 and len(table("x86_64")) > 350
    assert (name_of(5, "i386"), name_of(192, "i386"), name_of(265, "i386")) == ("open", "mmap2", "clock_gettime")
    assert (name_of(0), name_of(59), name_of(231)) == ("read", "execve", "exit_group")
    assert number_of("execve") == 59 and number_of("execve", "i386") == 11
    assert number_of("sys_77") == 77 and number_of("nosuchcall") is None
    arr = names_array(np.array([11, 11, 1, 4242]), "i386")
    assert arr.to_pylist() == ["execve", "execve", "exit", "sys_4242"]
    assert len(arr.dictionary) == 3
    with pytest.raises(InputFormatError, match="unknown architecture"):
        table("sparc")
