"""LID-DS 2019/2021 reader: sysdig lines, entry/exit pairing, labels from metadata.

The fixtures are hand-made from the published line layouts (no LID-DS copy is here).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest

from syssense.errors import InputFormatError
from syssense.parse import read_format, sniff_format
from syssense.parse.lidds import read as read_lidds

LIDDS = Path(__file__).parent / "data" / "readers" / "lidds"
S2021 = LIDDS / "CVE-2017-7529"
S2019 = LIDDS / "2019" / "CVE-2014-0160"


def test_sniff_zip_folder_and_2019_text():
    assert sniff_format(S2021) == "lid-ds"
    assert sniff_format(S2021 / "training" / "calm_curie_2.zip") == "lid-ds"
    assert sniff_format(S2019) == "lid-ds"
    assert sniff_format(S2019 / "happy_hopper_1.txt") == "lid-ds"


def test_2021_pairs_entry_and_exit():
    ds = read_format(S2021 / "training" / "calm_curie_2.zip")
    ev = ds.events.to_pylist()
    assert [e["syscall"] for e in ev] == ["open", "read", "close", "write"]  # switch skipped
    op, rd, cl, wr = ev
    # entry and exit on the same thread become one event stamped at the entry
    assert op["ts"] == pytest.approx(1631209047.761484608)
    assert op["duration"] == pytest.approx(15.392e-6)
    assert op["ret"] == 13 and op["pid"] == 129170
    assert "name=/etc/passwd" in op["args"]
    assert rd["ret"] == -11 and rd["errno"] == "EAGAIN"  # interleaved thread paired correctly
    assert rd["duration"] == pytest.approx(205.392e-6)
    assert cl["note"] == "exit without entry" and cl["duration"] is None and cl["ret"] == 0
    assert wr["unfinished"] is True and wr["ret"] is None
    assert [e["line"] for e in ev] == [1, 2, 6, 7]
    t = ds.traces.to_pylist()[0]
    assert t["label"] == "normal"
    assert '"n_switch": 1' in t["meta"]


def test_2021_scenario_labels_splits_and_exploit_time():
    ds = read_lidds(S2021)
    t = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    atk = t["lidds:test/normal_and_attack/brave_turing_1.zip"]
    assert atk["label"] == "anomalous" and atk["split"] == "test"
    assert atk["group"] == "nginx_overflow" and atk["scenario"] == "CVE-2017-7529"
    assert '"exploit_time": 1631209047.7617' in atk["meta"]
    assert t["lidds:training/calm_curie_2.zip"]["split"] == "training"


def test_2019_runs_csv_labels_and_time_of_day():
    ds = read_lidds(S2019)
    t = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    assert t["lidds:happy_hopper_1.txt"]["label"] == "normal"
    assert t["lidds:sad_sammet_2.txt"]["label"] == "anomalous"
    ev = ds.select({"trace_id": "lidds:happy_hopper_1.txt"}).events.to_pylist()
    assert [e["syscall"] for e in ev] == ["read", "poll"]
    assert ev[0]["ts"] == pytest.approx(19 * 3600 + 29 * 60 + 6.123456789)
    assert math.isclose(ev[1]["duration"], 0.5 - 0.123556789, rel_tol=1e-9)
    assert ev[0]["pid"] == ev[0]["tid"] == 1234


def test_bad_inputs(tmp_path):
    z = tmp_path / "empty.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x.txt", "nothing")
    with pytest.raises(InputFormatError, match="without a LID-DS"):
        read_lidds(z)
    cut = tmp_path / "cut.zip"
    cut.write_bytes((S2021 / "training" / "calm_curie_2.zip").read_bytes()[:100])
    with pytest.raises(InputFormatError, match="zip"):
        read_lidds(cut)
    other = tmp_path / "rec.sc"
    other.write_text("hello world\n")
    with pytest.raises(InputFormatError, match="not a LID-DS"):
        read_lidds(other)
    short = tmp_path / "short.sc"
    short.write_text("1631209047761484608 33 129170 nginx 129170 open >\n1631209047761484609 33 x\n")
    with pytest.raises(InputFormatError, match="line 2"):
        read_lidds(short)


def test_line_without_direction_is_an_error(tmp_path):
    f = tmp_path / "rec.sc"
    f.write_text(
        "1631209047761484608 33 129170 nginx 129170 open > \n"
        "1631209047761484609 33 129170 nginx 129170 open ? fd=3\n"
    )
    with pytest.raises(InputFormatError, match="line 2 has no '>' or '<'"):
        read_lidds(f)
