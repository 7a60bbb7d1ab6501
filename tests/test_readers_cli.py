"""``syssense import``: sniffed and named formats, the dataset directory, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syssense.cli import cli, main
from syssense.dataset import read_dataset

DATA = Path(__file__).parent / "data" / "readers"


def _run(args, capsys):
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_sniffed_adfa_folder_roundtrips(tmp_path):
    out = tmp_path / "ds"
    res = CliRunner().invoke(cli, ["import", str(DATA / "adfa-mini"), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["format"] == "adfa-ld" and summary["traces"] == 5
    ds = read_dataset(out)
    assert len(ds) == 5
    assert ds.events.num_rows == summary["events"] == 819 + 137 + 1950 + 279 + 108
    assert set(ds.traces["split"].to_pylist()) == {"training", "validation", "attack"}
    assert "mmap2" in set(ds.events["syscall"].to_pylist())


def test_import_named_format_and_append_refuses_duplicates(tmp_path, capsys):
    out = tmp_path / "ds"
    code, _, _ = _run(["import", "unm", str(DATA / "unm-mini"), "-o", str(out)], capsys)
    assert code == 0
    assert len(read_dataset(out)) == 4
    code, _, err = _run(["import", "unm", str(DATA / "unm-mini"), "-o", str(out)], capsys)
    assert code == 2 and "already holds a dataset" in err
    code, _, err = _run(["import", "unm", str(DATA / "unm-mini"), "-o", str(out), "--append"], capsys)
    assert code == 2 and "already in" in err
    assert len(read_dataset(out)) == 4  # nothing half written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "nosuchformat", "{p}", "-o", "{o}"], "unknown format 'nosuchformat'"),
        (["import", "{missing}", "-o", "{o}"], "does not exist"),
        (["import", "{binary}", "-o", "{o}"], "cannot tell the format"),
        (["import", "adfa-ld", "{binary}", "-o", "{o}"], "not a readable zip"),
        (["import", "-o", "{o}"], "give a PATH"),
        (["import", "generic", "{p}", "--split", "attack", "-o", "{o}"], "--split applies to ADFA-LD only"),
    ],
)
def test_bad_input_is_one_sentence_exit_2(tmp_path, capsys, args, message):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    words = tmp_path / "p.txt"
    words.write_text("open read close\n")
    subs = {"{p}": str(words), "{o}": str(tmp_path / "out"), "{missing}": str(tmp_path / "nope"), "{binary}": str(binary)}
    code, out, err = _run([subs.get(a, a) for a in args], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "traces").exists()


def test_import_strace_log_sniffed(tmp_path, capsys):
    log = Path("/work/shared/strace-forms/01_plain.txt")
    if not log.exists():
        pytest.skip("strace forms not present")
    code, out, err = _run(["import", str(log), "-o", str(tmp_path / "s"), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["format"] == "strace" and summary["events"] > 0
    assert len(read_dataset(tmp_path / "s")) == summary["traces"]
