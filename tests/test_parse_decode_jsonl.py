"""`syssense parse --format jsonl` built column-wise gives the same bytes as the per-row writer."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import syssense
from syssense.cli import parse_cmds
from syssense.parse import _decode_scan, decode

DATA = Path(__file__).parent / "data" / "strace"
needs_numba = pytest.mark.skipif(not _decode_scan.AVAILABLE, reason="numba is not importable")


def reference_jsonl(events: pa.Table) -> bytes:
    """The per-row writer (the specification)."""
    return "".join(parse_cmds.jsonl_lines_rowwise(events)).encode("utf-8")


@pytest.fixture(params=["compiled", "compiled-2-threads", "arrow"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param.startswith("compiled"):
        if not _decode_scan.AVAILABLE:
            pytest.skip("numba is not importable")
        monkeypatch.setattr(decode, "COLUMN_MIN_ROWS", 0)
        monkeypatch.setattr(decode, "SPLIT_MIN_ROWS", 2 if "threads" in request.param else 1 << 40)
    else:
        monkeypatch.setattr(_decode_scan, "AVAILABLE", False)
    return request.param


def _same(events: pa.Table, tmp_path: Path) -> None:
    out = tmp_path / "ev.jsonl"
    parse_cmds.write_events_jsonl(events, out)
    got, want = out.read_bytes(), reference_jsonl(events)
    if got != want:
        for i, (g, w) in enumerate(zip(got.split(b"\n"), want.split(b"\n"), strict=False)):
            assert g == w, f"line {i}"
    assert got == want


def test_fixtures_same_bytes(tmp_path: Path, mode: str) -> None:
    tables = [syssense.parse_strace(p).events for p in sorted(DATA.glob("*.log"))]
    _same(pa.concat_tables(tables, promote_options="permissive"), tmp_path)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_live_log_same_bytes(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "t.log"
    prog = ("import os, signal, subprocess; signal.signal(signal.SIGUSR1, lambda *a: None); "
            "os.kill(os.getpid(), signal.SIGUSR1); open('/tmp/caf\u00e9\\n', 'a').close(); "
            "os.unlink('/tmp/caf\u00e9\\n'); subprocess.run(['true'])")
    subprocess.run(["strace", "-f", "-ttt", "-T", "-yy", "-o", str(log), sys.executable, "-c", prog],
                   check=True, capture_output=True, timeout=60)
    ev = syssense.parse_strace(log).events
    assert "signal" in ev.column("kind").to_pylist()
    _same(ev, tmp_path)


def test_odd_values_same_bytes(tmp_path: Path, mode: str) -> None:
    n = 6
    ev = pa.table({
        "seq": pa.array(range(n), pa.int64()),
        "ts": pa.array([1763929934.123456, 1.2e-05, None, 1e16, 1234567890123456.0, -0.0]),
        "duration": pa.array([math.inf, -math.inf, math.nan, 0.1 + 0.2, 5e-324, 1e22]),
        "kind": pa.array(["syscall", "signal", "syscall", None, "exit", "syscall"]).dictionary_encode(),
        "args": pa.array(['"caf\\303\\251", 3</tmp/\u00e9>', "{si_signo=SIGUSR1, x=\"\u00e9\x7f\"}", None,
                          "1, 2", "\t\x01\"\\", ""]),
        "note": pa.array(["a\nb\x00", None, "\u2028\x7f", '"q"', "\\", ""]),
        "unfinished": pa.array([True, False, None, None, True, False]),
        "empty": pa.array([None] * n, pa.string()),
    })
    _same(ev, tmp_path)
    _same(ev.slice(2, 3), tmp_path)  # offsets of sliced columns


@needs_numba
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=50))
def test_float_text_matches_python_repr(values: list[float]) -> None:
    import tempfile

    decode.COLUMN_MIN_ROWS, old = 0, decode.COLUMN_MIN_ROWS
    try:
        ev = pa.table({"ts": pa.array(values, pa.float64()), "kind": pa.array(["exit"] * len(values))})
        with tempfile.TemporaryDirectory() as d:
            _same(ev, Path(d))
    finally:
        decode.COLUMN_MIN_ROWS = old


def test_cli_jsonl_matches_reference(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from syssense.cli import cli

    log = DATA / "07b_yy_sockets_pipes_dev_pidfd.log"
    out = tmp_path / "x.jsonl"
    r = CliRunner().invoke(cli, ["parse", str(log), "-o", str(out)])
    assert r.exit_code == 0, r.output
    import re

    drop_id = re.compile(rb'^\{"trace_id": "[^"]*", ', re.M)  # each parse names its trace anew
    want = reference_jsonl(syssense.parse_strace(log).events)
    assert want.count(b"\n") > 10
    assert drop_id.sub(b"{", out.read_bytes()) == drop_id.sub(b"{", want)
