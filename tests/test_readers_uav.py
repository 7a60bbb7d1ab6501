"""UAV SysCall Dataset reader (Ezeme et al. 2019): raw Bochs logs and processed CSV.

No copy of the real dataset is available here: the fixtures in tests/data/readers/uav/
are hand-written from the published format description; those in
tests/data/readers/real/uav/ are real lines quoted in a public survey (README there).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from syssense.errors import InputFormatError
from syssense.parse import read_format, sniff_format
from syssense.parse.uav import read as read_uav

UAV = Path(__file__).parent / "data" / "readers" / "uav"


def test_sniff_both_forms_and_folder():
    assert sniff_format(UAV / "normal" / "bochs-raw.log") == "uav"
    assert sniff_format(UAV / "attack" / "processed.csv") == "uav"
    assert sniff_format(UAV) == "uav"


def test_raw_log_cr3_processes_and_sysret_durations():
    ds = read_format(UAV / "normal" / "bochs-raw.log", "uav")
    ev = ds.events.to_pylist()
    assert [e["syscall"] for e in ev] == ["read", "write", "clock_gettime", "exit"]  # x86-64 RAX 0,1,0xe4,0x3c
    assert [e["pid"] for e in ev] == [0x1A2B000, 0x3C4D000, 0x1A2B000, 0x3C4D000]
    assert [e["ts"] for e in ev] == [1000, 1004, 1020, 1030]
    # SYSRET of the same CR3 closes the call; interleaved processes do not mix
    assert [e["duration"] for e in ev[:3]] == [10, 8, 1]
    assert ev[3]["duration"] is None  # exit never returns
    assert ev[0]["args"] == "0x3, 0x7ffd1000, 0x400, 0x0, 0x0, 0x0"
    assert [e["line"] for e in ev] == [1, 2, 5, 7]
    assert ds.traces["label"].to_pylist() == ["normal"]


def test_processed_csv_beta_and_id_minus_one():
    ds = read_uav(UAV / "attack" / "processed.csv")
    ev = ds.events.to_pylist()
    assert [e["syscall"] for e in ev] == ["read", "write", "clock_gettime", "execve"]  # ids 1,2,229,60 minus one
    assert [e["ts"] for e in ev] == [0.0, 0.5, 0.75, 1.75]  # running sum of Beta
    assert all(e["pid"] is None for e in ev)
    assert ds.traces["label"].to_pylist() == ["anomalous"]


def test_decimal_registers(tmp_path):
    f = tmp_path / "dec.log"
    f.write_text("5 SYSCALL 59 1 2 3 4 5 6 4096\n7.5 SYSRET 4096\n")
    ev = read_uav(f).events.to_pylist()
    assert ev[0]["syscall"] == "execve" and ev[0]["pid"] == 4096
    assert math.isclose(ev[0]["duration"], 2.5)


def test_bad_inputs(tmp_path):
    short = tmp_path / "short.log"
    short.write_text("1 SYSCALL 0x0 0x1\n")
    with pytest.raises(InputFormatError, match="line 1"):
        read_uav(short)
    badcsv = tmp_path / "bad.csv"
    badcsv.write_text("Beta,SysCall ID\n0.1,read\n")
    with pytest.raises(InputFormatError, match="SysCall ID that is not a number"):
        read_uav(badcsv)
    three = tmp_path / "three.csv"
    three.write_text("Beta,SysCall ID\n0.1,1\n0.2,3,4\n")
    with pytest.raises(InputFormatError, match="line 3"):
        read_uav(three)
    other = tmp_path / "other.txt"
    other.write_text("hello world\n")
    with pytest.raises(InputFormatError, match="neither a Bochs"):
        read_uav(other)


# --------------------------------------------------------------------------- real lines
REAL = Path(__file__).parent / "data" / "readers" / "real" / "uav"


def test_real_raw_snippet_comma_separated():
    """Lines of the published raw log as quoted in a dataset survey (see the fixture README):
    fields separated by ", " and "," -- a layout the first reader did not accept."""
    path = REAL / "raw-snippet.log"
    assert sniff_format(path) == "uav"
    ds = read_uav(path)
    ev = ds.events.to_pylist()
    assert [e["syscall"] for e in ev] == ["select", "read", "select", "read"]  # RAX 0x17, 0x0
    assert {e["pid"] for e in ev} == {0x1F86F000}  # CR3 is the process
    assert [e["ts"] for e in ev] == [592834, 592835, 592837, 592838]
    assert [e["line"] for e in ev] == [1, 3, 5, 7]
    # each SYSRET closes its SYSCALL at the same tick; the last call has no SYSRET in the snippet
    assert [e["duration"] for e in ev] == [0.0, 0.0, 0.0, None]
    assert ev[0]["args"] == "0x6, 0x7ffc7f0817f0, 0x7ffc7f081870, 0x7ffc7f0818f0, 0x0, 0x0"
    assert ev[1]["args"] == "0x3, 0x7f33335ceeb4, 0x1, 0x0, 0x0, 0x0"
    t = ds.traces.to_pylist()[0]
    assert t["n_events"] == 4 and t["n_lines"] == 7 and '"register_radix": 16' in t["meta"]


def test_real_processed_snippet_tabs_and_spaces():
    """The processed snippet: a "Beta(...)<TAB>SysCall ID" header, rows separated by a tab or
    a space. IDs are the x86-64 number + 1 (24 = select, 1 = read), consistent with the raw
    snippet (select 2 ticks and read 1 tick after the previous call)."""
    path = REAL / "processed-snippet.csv"
    assert sniff_format(path) == "uav"
    ev = read_uav(path).events.to_pylist()
    assert [e["syscall"] for e in ev] == ["select", "read", "select", "read", "select"]
    assert [e["ts"] for e in ev] == [3.0, 4.0, 6.0, 7.0, 9.0]  # running sum of Beta
    assert [e["line"] for e in ev] == [2, 3, 4, 5, 6] and all(e["pid"] is None for e in ev)
    raw = read_uav(REAL / "raw-snippet.log").events.to_pylist()
    gaps = [b["ts"] - a["ts"] for a, b in zip(raw, raw[1:], strict=False)]
    assert gaps == [1, 2, 1] and [e["syscall"] for e in raw[1:]] == ["read", "select", "read"]
