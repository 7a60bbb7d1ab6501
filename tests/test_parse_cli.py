"""``syssense parse``: output formats, bad input (one sentence, exit 2, nothing written)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from syssense.cli import cli, main
from syssense.dataset import read_dataset

DATA = Path(__file__).parent / "data" / "strace"
LOG = DATA / "32_y_path_escaping_hazards.log"


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_parse_parquet_and_traces_beside(tmp_path: Path) -> None:
    out = tmp_path / "ev.parquet"
    r = CliRunner().invoke(cli, ["parse", str(LOG), "-o", str(out)])
    assert r.exit_code == 0, r.output
    ev = pq.read_table(out)
    tr = pq.read_table(tmp_path / "ev.traces.parquet")
    assert {"trace_id", "seq", "pid", "ts", "syscall", "args", "ret", "errno", "duration", "kind"} <= set(ev.column_names)
    assert ev.num_rows == 8 and tr.num_rows == 1
    assert read_dataset(out).events.num_rows == 8


def test_parse_csv_and_dataset_dir(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["parse", str(LOG), "-o", str(tmp_path / "ev.csv"), "--set", "category=normal"])
    assert r.exit_code == 0, r.output
    t = pacsv.read_csv(tmp_path / "ev.csv")
    assert t.num_rows == 8 and t.column("syscall").to_pylist()[:2] == ["openat", "close"]
    tr = pacsv.read_csv(tmp_path / "ev.traces.csv")
    assert tr.column("category").to_pylist() == ["normal"]
    r = CliRunner().invoke(cli, ["parse", str(LOG), "-o", str(tmp_path / "ds") + "/"])
    assert r.exit_code == 0, r.output
    assert read_dataset(tmp_path / "ds").events.num_rows == 8


def test_parse_jsonl_has_typed_args(tmp_path: Path) -> None:
    out = tmp_path / "ev.jsonl"
    r = CliRunner().invoke(cli, ["parse", str(LOG), "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 8
    assert rows[0]["args"] == [{"fd": "AT_FDCWD", "path": "/tmp/work"}, 'weird/q"uote', ["O_RDONLY", "O_CLOEXEC"]]
    assert rows[0]["ret"] == 3 and rows[0]["kind"] == "syscall"
    assert rows[0]["args_text"].startswith("AT_FDCWD</tmp/work>")
    assert (tmp_path / "ev.traces.jsonl").exists()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.log", b"", "is empty"),
        ("binary.log", b"\x00\x01\x02ELF\x00" * 50, "binary"),
        ("notes.txt", b"dear diary\nnothing to see\n", "does not look like a strace log"),
    ],
)
def test_bad_input_one_sentence_exit_2_no_output(tmp_path: Path, capsys, name: str, content: bytes, words: str) -> None:
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "out.parquet"
    code, _, err = run(["parse", str(tmp_path / name), "-o", str(out)], capsys)
    assert code == 2
    assert words in err and "strace" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [tmp_path / name]


def test_mixed_directory_is_refused(tmp_path: Path, capsys) -> None:
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(LOG, d / "a.log")
    (d / "b.txt").write_text("hello\n")
    code, _, err = run(["parse", str(d), "-o", str(tmp_path / "o.parquet")], capsys)
    assert code == 2 and "not strace logs" in err and "b.txt" in err
    assert not (tmp_path / "o.parquet").exists()


def test_strict_flag(tmp_path: Path, capsys) -> None:
    p = tmp_path / "x.log"
    p.write_text("close(3) = 0\ngarbage here\n")
    code, _, err = run(["parse", str(p), "-o", str(tmp_path / "o.parquet"), "--strict"], capsys)
    assert code == 2 and "line 2" in err
    assert not (tmp_path / "o.parquet").exists()


def test_console_script_runs(tmp_path: Path) -> None:
    exe = shutil.which("syssense") or str(Path(__import__("sys").executable).with_name("syssense"))
    r = subprocess.run([exe, "parse", str(LOG), "-o", str(tmp_path / "o.parquet")], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
