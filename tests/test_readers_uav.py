"""UAV SysCall Dataset reader (Ezeme et al. 2019): raw Bochs logs and processed CSV.

No copy of the real dataset is available here: the fixtures in tests/data/readers/uav/
are hand-written from the published format description (see the README there).
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
    with pytest.raises(InputFormatError, match="Beta,SysCall ID"):
        read_uav(badcsv)
    other = tmp_path / "other.txt"
    other.write_text("hello world\n")
    with pytest.raises(InputFormatError, match="neither a Bochs"):
        read_uav(other)
