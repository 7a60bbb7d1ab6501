"""UNM reader: PID NUM lines, plain/.gz/tar, one trace per (file, PID), labels from names."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from syssense.errors import InputFormatError
from syssense.parse import read_format, sniff_format
from syssense.parse.unm import label_of
from syssense.parse.unm import read as read_unm

UNM = Path("/work/shared/datasets/unm")
MINI = Path(__file__).parent / "data" / "readers" / "unm-mini"
needs_unm = pytest.mark.skipif(not UNM.exists(), reason="UNM data not present in /work/shared/datasets")


@needs_unm
@pytest.mark.parametrize(
    ("rel", "traces", "calls", "label", "group"),
    [
        ("inetd/inetd-live-unm.int", 3, 541, "normal", "inetd"),
        ("inetd/inetd-intrusion.int", 31, 8_371, "anomalous", "inetd"),
        ("login-ps/login-live-unm.tar", 24, 8_906, "normal", "login"),
        ("login-ps/ps-live-unm.tar", 24, 6_144, "normal", "ps"),
        ("synth-sendmail/unm-normal", 199, 228_181, "normal", "sendmail"),
        ("synth-sendmail/unm-intrusion", 25, 6_755, "anomalous", "sendmail"),
        ("stide/stide-intrusion.gz", 105, 205_935, "anomalous", "stide"),
        ("lpr-mit/exploit-ai.int.gz", 1_001, 165_248, "anomalous", "lpr"),
        ("lpr-unm/lprcp-unm-new.tar", 1_001, 168_236, "anomalous", "lpr"),
        ("xlock/xlock-intrusions.tar.gz", 2, 949, "anomalous", "xlock"),
        ("named/named-intrusions.tar", 5, 1_800, "anomalous", "named"),
    ],
)
def test_published_counts_and_labels(rel, traces, calls, label, group):
    path = UNM / rel
    assert sniff_format(path) == "unm"
    ds = read_format(path)
    assert len(ds) == traces
    assert ds.events.num_rows == calls
    assert set(ds.traces["label"].to_pylist()) == {label}
    assert set(ds.traces["group"].to_pylist()) == {group}
    assert sum(ds.traces["n_events"].to_pylist()) == calls


@needs_unm
@pytest.mark.slow
def test_stide_tarball_15m_calls():
    ds = read_unm(UNM / "stide" / "stidetraces.tar.gz")
    assert len(ds) == 13_726
    assert ds.events.num_rows == 15_618_237


def test_one_trace_per_pid_in_first_appearance_order():
    ds = read_format(MINI)
    rows = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    assert list(rows) == [
        "unm:normal/tabbed.int#101",
        "unm:normal/tabbed.int#102",
        "unm:spaced-intrusion.int.gz#7",
        "unm:spaced-intrusion.int.gz#8",
    ]
    assert rows["unm:normal/tabbed.int#101"]["label"] == "normal"
    assert rows["unm:spaced-intrusion.int.gz#7"]["label"] == "anomalous"
    ev = ds.events.to_pylist()
    t101 = [e for e in ev if e["trace_id"] == "unm:normal/tabbed.int#101"]
    assert [e["syscall"] for e in t101] == ["5", "3", "6"]  # opaque symbols, file order
    assert [e["seq"] for e in t101] == [0, 1, 2]
    assert [e["line"] for e in t101] == [1, 2, 4]
    assert {e["pid"] for e in t101} == {101}


@needs_unm
def test_sunos_names_opt_in():
    ds = read_unm(UNM / "synth-sendmail" / "unm-intrusion", names="sunos")
    names = set(ds.events["syscall"].to_pylist())
    assert {"open", "read", "close"} <= names
    assert not any(n.isdigit() for n in names)


def test_label_words():
    assert label_of(["login-ps", "login-homegrown.int"]) == ("anomalous", "login")
    assert label_of(["xlock", "xlock-synth-unm.tar", "a.int.gz"]) == ("normal", "xlock")
    assert label_of(["misc", "trace.int"]) == ("unknown", None)


def test_bad_inputs(tmp_path):
    odd = tmp_path / "odd.int"
    odd.write_text("1 2\n3\n")
    with pytest.raises(InputFormatError, match="PID NUM"):
        read_unm(odd)
    words = tmp_path / "words.int"
    words.write_text("1 open\n")
    with pytest.raises(InputFormatError, match="not a list of system-call numbers"):
        read_unm(words)
    cut = tmp_path / "cut.int.gz"
    cut.write_bytes(gzip.compress(b"1 2\n" * 1000)[:30])
    with pytest.raises(InputFormatError, match="gzip"):
        read_unm(cut)
    # a tar cut in the middle of a member
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"5 6\n" * 2000
        info = tarfile.TarInfo("m.int")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    bad_tar = tmp_path / "cut.tar"
    bad_tar.write_bytes(buf.getvalue()[:3000])
    with pytest.raises(InputFormatError, match="tar"):
        read_unm(bad_tar)
    empty = tmp_path / "empty.int"
    empty.write_text("")
    with pytest.raises(InputFormatError, match="no system calls"):
        read_unm(empty)


def test_folder_skips_non_trace_members_and_says_so(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in [("real/tot", b"      0 a.log.int\n    174 b.log.int\n"),
                           ("real/a.log.int.gz", gzip.compress(b"9 5\n9 3\n"))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    arc = tmp_path / "lpr-live-x.tar.gz"
    arc.write_bytes(buf.getvalue())
    ds = read_unm(arc)
    assert len(ds) == 1 and ds.events.num_rows == 2
    assert "real/tot" in ds.traces["meta"][0].as_py()
    assert ds.traces["label"].to_pylist() == ["normal"]  # "live" in the archive name


@needs_unm
def test_progress_moves_inside_one_archive():
    seen = []
    read_unm(UNM / "lpr-unm" / "lprcp-unm-new.tar", progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 3  # reported while inside the archive, not only at the end
    assert seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
