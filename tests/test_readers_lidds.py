"""LID-DS 2019/2021 reader: sysdig lines, entry/exit pairing, labels from metadata.

Most fixtures are hand-made from the published line layouts (no LID-DS copy is here);
those under tests/data/readers/real/ are real lines found in public repositories.
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


# --------------------------------------------------------------------------- real lines
REAL = Path(__file__).parent / "data" / "readers" / "real"


def test_real_2019_exit_lines():
    """25 real LID-DS 2019 lines (exit events of one apache2 recording, from the LID-DS
    project's own tests; fixture README): quoted "data=..." tokens, data with spaces and
    backslashes, lines without parameters, errno suffixes."""
    path = REAL / "lidds2019" / "apache2_return_value.txt"
    assert sniff_format(path) == "lid-ds"
    ds = read_lidds(path)
    ev = ds.events.to_pylist()
    assert len(ev) == 25 and ds.traces.to_pylist()[0]["n_lines"] == 25
    assert [e["syscall"] for e in ev] == [
        "open", "read", "close", "fcntl", "fcntl", "read", "semop", "writev", "poll", "read", "writev", "poll",
        "read", "stat", "open", "open", "open", "fstat", "read", "close", "setitimer", "rt_sigaction",
        "rt_sigprocmask", "poll", "read"]
    # 2019 lines have no pid: the thread id stands in
    assert [e["tid"] for e in ev] == [1461] * 6 + [4153] + [1461] * 18
    assert [e["pid"] for e in ev] == [e["tid"] for e in ev]
    assert [e["ret"] for e in ev] == [13, 512, 0, 2, 0, 206, 0, 1525, 1, 190, 258, 1, 335, 0, -2, -20, 13, 0,
                                      227, 0, None, None, None, 1, 268]
    assert [e["errno"] for e in ev if e["errno"]] == ["ENOENT", "ENOTDIR"]
    # only exits were kept in the source: every event is a lone exit, none is paired
    assert all(e["note"] == "exit without entry" and e["duration"] is None for e in ev)
    assert ev[0]["ts"] == pytest.approx(10 * 3600 + 24 * 60 + 48.091933080)  # seconds since midnight
    assert ev[-1]["ts"] - ev[0]["ts"] == pytest.approx(0.019135160)
    assert [e["line"] for e in ev] == list(range(1, 26))
    # parameters are kept exactly: a space inside data, a quoted token, a doubled backslash
    assert ev[1]["args"].startswith("res=512 data=`...4..6...v$P..B..._8 .D...") and ev[1]["args"].endswith("(X...")
    assert ev[7]["args"].startswith('res=1525 "data=....5...1..\\\\.o...') and ev[7]["args"].endswith('0...0.."')
    assert ev[6]["args"].endswith("sem_flg_1=0") and ev[20]["args"] is None


def test_real_2019_data_with_spaces_and_2021_lines():
    ev = read_lidds(REAL / "lidds2019" / "nginx_recvfrom.txt").events.to_pylist()
    assert [(e["syscall"], e["tid"], e["ret"]) for e in ev] == [("recvfrom", 8184, 118)] * 2
    assert ev[0]["args"] == ("res=118 data=GET / HTTP/1.1..Accept-Encoding: identity..User-Agent: "
                             "Python-urllib/3.6..Host:  tuple=NULL")  # the double space stays
    assert ev[1]["ts"] - ev[0]["ts"] == pytest.approx(0.035955164)
    # three real LID-DS 2021 lines (exit events, two processes of apache2)
    path = REAL / "lidds2021" / "apache2_syscall_name.sc"
    assert sniff_format(path) == "lid-ds"
    ds = read_lidds(path)
    ev = ds.events.to_pylist()
    assert [(e["syscall"], e["pid"], e["tid"], e["ret"]) for e in ev] == [
        ("open", 3686302, 3686302, 9), ("open", 3686303, 3686303, 9), ("getuid", 3686302, 3686302, None)]
    assert ev[0]["ts"] == pytest.approx(1631209047.761484608)
    # sysdig's trailing space after the last parameter is not part of the value
    assert ev[1]["args"].endswith("dev=200021") and ev[2]["args"] == "uid=33(www-data)"
    assert ds.traces.to_pylist()[0]["meta"].count('"lidds_version": "2021"') == 1


def test_real_2019_entry_exit_pairs_and_runs_csv(tmp_path):
    """Five consecutive real LID-DS 2019 lines and four real runs.csv rows of the
    Bruteforce_CWE-307 scenario (quoted by the COMIDDS dataset catalogue; fixture README)."""
    folder = REAL / "lidds2019-cwe307" / "Bruteforce_CWE-307"
    assert sniff_format(folder) == "lid-ds"
    ds = read_lidds(folder)
    ev = ds.events.to_pylist()
    assert [e["syscall"] for e in ev] == ["writev", "shutdown", "close"]
    wr, sh, cl = ev
    assert wr["note"] == "exit without entry" and wr["ret"] == 31  # its entry is before the excerpt
    # entry + exit on thread 29915 become one event stamped at the entry, with the exit's result
    assert sh["ts"] == pytest.approx(1 * 3600 + 47 * 60 + 31.305897206)
    assert sh["duration"] == pytest.approx(936e-9) and sh["ret"] == -107 and sh["errno"] == "ENOTCONN"
    assert sh["args"] == "fd=12(<4t>172.17.0.1:41097->172.17.0.3:443) how=1(SHUT_WR) -> res=-107(ENOTCONN)"
    assert cl["duration"] == pytest.approx(450e-9) and cl["ret"] == 0 and cl["note"] is None
    assert [e["line"] for e in ev] == [1, 2, 4] and {e["tid"] for e in ev} == {29915}
    assert not any(e["unfinished"] for e in ev)
    t = ds.traces.to_pylist()[0]
    assert t["label"] == "anomalous" and t["scenario"] == "Bruteforce_CWE-307" and t["n_lines"] == 5
    assert '"exploit_start_relative": "24"' in t["meta"] and '"image": "victim_bruteforce:latest"' in t["meta"]
    # the catalogue calls the file run.csv: that name is read too
    other = tmp_path / "Bruteforce_CWE-307"
    other.mkdir()
    (other / "run.csv").write_bytes((folder / "runs.csv").read_bytes())
    (other / "ripe_faraday_5596.txt").write_bytes((folder / "ripe_faraday_5596.txt").read_bytes())
    assert read_lidds(other).traces.to_pylist()[0]["label"] == "anomalous"
