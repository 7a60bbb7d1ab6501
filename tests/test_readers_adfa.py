"""ADFA-LD reader: the published zip in place, an extracted folder, i386 names."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pyarrow.compute as pc
import pytest

from syssense.errors import InputFormatError
from syssense.parse import read_format, sniff_format
from syssense.parse.adfa import read as read_adfa
from syssense.parse.syscalls import name_of

ZIP = Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip")
MINI = Path(__file__).parent / "data" / "readers" / "adfa-mini"
needs_zip = pytest.mark.skipif(not ZIP.exists(), reason="ADFA-LD.zip not present in /work/shared/datasets")


def _split_counts(ds):
    t = ds.traces
    out = {}
    for s in ("training", "validation", "attack"):
        m = pc.equal(t["split"], s)
        out[s] = (pc.sum(m).as_py(), pc.sum(pc.filter(t["n_events"], m)).as_py())
    return out


@needs_zip
def test_zip_counts_match_published_readme():
    t0 = time.perf_counter()
    ds = read_format(ZIP)
    elapsed = time.perf_counter() - t0
    counts = _split_counts(ds)
    assert counts["training"] == (833, 308_077)
    assert counts["validation"] == (4_372, 2_122_085)
    assert counts["attack"][0] == 746
    assert ds.events.num_rows == sum(c[1] for c in counts.values())
    # events per trace agree with the traces table
    per = pc.value_counts(pc.cast(ds.events["trace_id"], "string"))
    per = {d["values"]: d["counts"] for d in per.to_pylist()}
    rows = ds.traces.select(["trace_id", "n_events"]).to_pylist()
    assert all(per[r["trace_id"]] == r["n_events"] for r in rows)
    assert elapsed < 20, f"reading the whole zip took {elapsed:.1f}s"


@needs_zip
def test_zip_labels_and_attack_types():
    ds = read_format(ZIP, "adfa-ld", splits=["attack"])
    t = ds.traces
    assert set(t["label"].to_pylist()) == {"anomalous"}
    assert set(t["category"].to_pylist()) == {"attack"}
    assert set(t["group"].to_pylist()) == {
        "Adduser", "Hydra_FTP", "Hydra_SSH", "Java_Meterpreter", "Meterpreter", "Web_Shell"
    }
    assert sorted(set(t["run"].to_pylist())) == list(range(1, 11))
    assert len({(g, r) for g, r in zip(t["group"].to_pylist(), t["run"].to_pylist(), strict=True)}) == 60


def test_i386_table_names():
    assert name_of(5, "i386") == "open"
    assert name_of(192, "i386") == "mmap2"
    assert name_of(265, "i386") == "clock_gettime"
    assert name_of(9999, "i386") == "sys_9999"


def test_extracted_folder_matches_file_contents():
    assert sniff_format(MINI) == "adfa-ld"
    ds = read_format(MINI)
    t = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    assert t["adfa:training/UTD-0001"]["label"] == "normal"
    assert t["adfa:validation/UVD-0001"]["split"] == "validation"
    ws = [r for r in t.values() if r["group"] == "Web_Shell"]
    assert len(ws) == 1 and ws[0]["run"] == 3 and ws[0]["label"] == "anomalous"
    # first calls of UTD-0001 as names, in order
    raw = (MINI / "Training_Data_Master" / "UTD-0001.txt").read_text().split()
    ev = ds.select({"trace_id": "adfa:training/UTD-0001"}).events
    assert ev.num_rows == len(raw)
    assert ev["seq"].to_pylist()[:3] == [0, 1, 2]
    assert ev["syscall"].to_pylist()[:20] == [name_of(int(n), "i386") for n in raw[:20]]
    assert set(ev["kind"].to_pylist()) == {"syscall"}


def test_one_split_folder_alone():
    ds = read_adfa(MINI / "Attack_Data_Master")
    assert set(ds.traces["split"].to_pylist()) == {"attack"}
    assert len(ds) == 2


def test_bad_inputs_are_one_sentence(tmp_path):
    bad = tmp_path / "Training_Data_Master"
    bad.mkdir()
    (bad / "UTD-1.txt").write_text("6 5 open 3\n")
    with pytest.raises(InputFormatError, match="not a list of system-call numbers"):
        read_adfa(tmp_path)
    trunc = tmp_path / "cut.zip"
    trunc.write_bytes(ZIP.read_bytes()[:5000] if ZIP.exists() else b"PK\x03\x04junk")
    with pytest.raises(InputFormatError):
        read_adfa(trunc)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFormatError, match="no ADFA-LD traces"):
        read_adfa(empty)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x/readme.txt", "hello")
    with pytest.raises(InputFormatError, match="cannot tell the format"):
        sniff_format(z)
    with pytest.raises(InputFormatError):
        read_adfa(z)


def test_repacked_zip_with_macos_forks(tmp_path):
    z = tmp_path / "ADFA-LD.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ADFA-LD/Training_Data_Master/UTD-0001.txt", "6 5 192 265 ")
        zf.writestr("__MACOSX/ADFA-LD/Training_Data_Master/._UTD-0001.txt", b"\x00\x05\x16\x07binary")
        zf.writestr("ADFA-LD/ADFA-LD+Syscall+List.txt", "1 exit\n")
    ds = read_format(z)
    assert len(ds) == 1
    assert ds.events["syscall"].to_pylist() == ["close", "open", "mmap2", "clock_gettime"]
