"""The compiled assembly of the strace fast path: pairing halves in one pass, gathering
every column once, the one-buffer block reader; always against the line grammar."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from syssense.parse import _fast, _scan
from syssense.parse._fast import parse_stream

STRACE = shutil.which("strace")
DATA = Path(__file__).parent / "data" / "strace"
pytestmark = pytest.mark.skipif(not _scan.AVAILABLE, reason="numba is not importable")


@pytest.fixture(autouse=True)
def _scan_small_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small logs take the compiled path too (by default only logs >= 4 MB do)."""
    monkeypatch.setattr(_fast, "SCAN_MIN_BYTES", 0)


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict], list[dict]]:
    """(compiled path, line grammar) tables of ``data``; fails unless the compiled assembly ran."""
    used = []
    real = _fast._assemble_scan
    monkeypatch.setattr(_fast, "_assemble_scan", lambda *a: used.append(1) or real(*a))
    fast, _ = parse_stream(io.BytesIO(data), "x.log", fast=True)
    assert used == [1], "the compiled assembly did not run"
    slow, _ = parse_stream(io.BytesIO(data), "x.log", fast=False)
    return fast.to_pylist(), slow.to_pylist()


def _ref_pairs(kind: np.ndarray, key: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The pairing by sorting halves on (pid, line) and joining neighbours (the old way)."""
    out = np.full(len(kind), -1, np.int64)
    halves = np.flatnonzero((kind == 2) | (kind == 3))
    order = halves[np.lexsort((halves, key[halves]))]
    for x, y in zip(order[:-1], order[1:], strict=True):
        if kind[x] == 2 and kind[y] == 3 and key[x] == key[y] and code[x] == code[y]:
            out[x], out[y] = y, x
    return out


def test_pair_halves_interleaved_pids_names_and_leftovers() -> None:
    # rows in line order: kind 1 complete, 2 unfinished, 3 resumed
    kind = np.array([2, 2, 1, 3, 2, 3, 3, 2, 3, 3], np.int8)
    key = np.array([7, 8, 7, 8, 7, 7, 7, 9, 9, 5], np.int64)
    code = np.array([0, 1, 2, 1, 0, 0, 0, 3, 4, 0], np.int32)
    got = _scan.pair_halves(kind, key, code)
    # pid 8: rows 1-3; pid 7: row 0 is left alone (row 4 starts again), 4-5 pair, row 6 has
    # no start; pid 9: different names do not pair; row 9: resumed in a pid never started
    assert got.tolist() == [-1, 3, -1, 1, 5, 4, -1, -1, -1, -1]
    assert (got == _ref_pairs(kind, key, code)).all()


def test_pair_halves_equals_the_sorting_pairing_on_random_rows() -> None:
    rng = np.random.default_rng(3)
    for n, npid in ((50, 3), (5000, 40), (20000, 3000)):  # 3000 pids: the table grows
        kind = rng.choice(np.array([1, 2, 3], np.int8), n, p=[0.2, 0.4, 0.4])
        key = rng.integers(0, npid, n).astype(np.int64) * 7919 - 1
        code = rng.integers(0, 3, n).astype(np.int32)
        got = _scan.pair_halves(kind, key, code)
        assert (got == _ref_pairs(kind, key, code)).all()
        assert ((got >= 0) == ((kind != 1) & (got >= 0))).all()


def test_pairing_fed_block_by_block_equals_pairing_at_once() -> None:
    """The pairing state (pid -> last half) carries across blocks and grows with live pids."""
    rng = np.random.default_rng(11)
    n = 30000
    kind = rng.choice(np.array([1, 2, 3], np.int8), n, p=[0.2, 0.4, 0.4])
    pid = rng.integers(0, 4000, n).astype(np.int64)
    ok = rng.random(n) > 0.01  # a few lines without a pid: their own key
    code = rng.integers(0, 3, n).astype(np.int32)
    partner = np.full(n, -1, np.int64)
    pairer = _scan.HalfPairer()
    for lo in range(0, n, 700):
        pairer.feed(kind, pid, ok, code, partner, lo, min(n, lo + 700))
    assert len(pairer.tval) > 1024  # grew while holding live entries
    assert (partner == _ref_pairs(kind, np.where(ok, pid, -1), code)).all()


def test_intern_codes_in_first_appearance_order() -> None:
    buf = np.frombuffer(b"readwriteread_x", np.uint8)
    a = np.array([0, 4, -1, 9, 0], np.int64)
    b = np.array([4, 9, -1, 15, 4], np.int64)
    codes, names = _scan.intern(buf, a, b)
    assert codes.tolist() == [0, 1, -1, 2, 0]
    assert names == [b"read", b"write", b"read_x"]


def test_gather_rows_joins_spans_and_places_other_strings() -> None:
    buf = np.frombuffer(b"xxABCdefGHIJ", np.uint8)
    base = np.array([0, 8], np.int64)  # two "blocks": bytes 0-7 and 8-11
    blk = np.array([0, 0, 1], np.int32)
    a = np.array([2, 5, 0], np.int32)
    b = np.array([5, 8, 4], np.int32)
    p = np.array([0, 2, 1], np.int64)
    s = np.array([1, -1, -1], np.int64)
    pos = np.array([0, 2, 4], np.int64)
    other = (np.array([0, -1], np.int64), np.array([2, 0], np.int64),
             np.frombuffer(b"zz", np.uint8), np.array([1, 3], np.int64))
    col = _scan.gather_rows(buf, base, blk, a, b, p, s, pos, 5, other)
    assert col.to_pylist() == ["ABCdef", "zz", "GHIJ", None, "def"]
    a2 = a.copy()
    a2[2] = -1  # an absent span: null
    assert _scan.gather_rows(buf, base, blk, a2, b, np.array([2, 0], np.int64)).to_pylist() == [None, "ABC"]


def test_fd_json_written_from_spans_equals_the_line_grammar() -> None:
    from syssense.parse._stream import fd_paths_json

    texts = ['3</tmp/q\\"uote>, "x", 1', "AT_FDCWD</a b>, 0", "5<pipe:[12]>", "x", '1</back\\\\slash>']
    raw = "".join(texts).encode()
    b = np.cumsum([len(t.encode()) for t in texts]).astype(np.int32)
    a = np.concatenate([[0], b[:-1]]).astype(np.int32)
    buf = np.frombuffer(raw, np.uint8)
    code, fa, lt, gt = _scan.fd_spans(buf, a, b)
    rows = np.arange(len(texts), dtype=np.int64)
    got = _scan.gather_fd_json(buf, np.zeros(1, np.int64), np.zeros(len(texts), np.int32), fa, lt, gt,
                               rows).to_pylist()
    assert got == [fd_paths_json(t) for t in texts]
    assert got[4] is not None and got[4].count("\\") == 4  # the path's two backslashes, escaped


def test_string_chunks_split_at_the_limit() -> None:
    offs = np.array([0, 3, 3, 7, 9], np.int64)
    valid = np.array([True, False, True, True])
    data = np.frombuffer(b"abcdefghi", np.uint8)
    whole = _scan.string_chunks(offs, valid, data)
    parts = _scan.string_chunks(offs, valid, data, limit=4)
    assert whole.num_chunks == 1 and parts.num_chunks > 1
    assert whole.to_pylist() == parts.to_pylist() == ["abc", None, "defg", "hi"]


HALVES = (
    b"100 1700000000.000001 read(3</a>,  <unfinished ...>\n"
    b"101 1700000000.000002 wait4(-1 <unfinished ...>\n"
    b"100 1700000000.000003 <... read resumed>\"x\", 1) = 1 <0.000002>\n"
    b"102 1700000000.000004 getpid() = 102 <0.000001>\n"
    b"101 1700000000.000005 <... wait4 resumed>, NULL, 0, NULL) = 102 <0.000004>\n"
    b"102 1700000000.000006 write(1</dev/null>, \"<b>\", 3 <unfinished ...>\n"
    b"103 1700000000.000007 <... close resumed>) = 0 <0.000001>\n"
    b"102 1700000000.000008 <... write resumed>) = 3 <0.000001>\n"
    b"104 1700000000.000009 nanosleep({tv_sec=1, tv_nsec=0},  <unfinished ...>\n"
    b"101 1700000000.000010 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=102} ---\n"
    b"100 1700000000.000011 dup2(4<pipe:[1]>,  <unfinished ...>\n"
    b"100 1700000000.000012 <... dup2 resumed>1</x>) = 1</x> <0.000002>\n"
    b"102 1700000000.000013 pipe2([3<pipe:[9]>, 4<pipe:[9]>], 0) = 0 <0.000003>\n"
)


def test_halves_interleaved_never_resumed_and_resumed_without_start(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(HALVES, monkeypatch)
    assert fast == slow
    calls = {(e["pid"], e["syscall"]): e for e in fast if e["kind"] == "syscall"}
    assert calls[(100, "read")]["args"] == '3</a>, "x", 1' and calls[(100, "read")]["ret"] == 1
    assert calls[(101, "wait4")]["line"] == 2 and calls[(101, "wait4")]["ret"] == 102
    assert calls[(104, "nanosleep")]["unfinished"] is True  # never resumed: one event, marked
    assert calls[(103, "close")]["note"].startswith("resumed without start")
    # descriptors decoded in both halves: recomputed on the joined text
    assert calls[(100, "dup2")]["fd_paths"] == '{"4": "pipe:[1]", "1": "/x"}'
    # several decodings in one argument list: the line grammar's JSON
    assert calls[(102, "pipe2")]["fd_paths"] == '{"3": "pipe:[9]", "4": "pipe:[9]"}'
    assert [e["seq"] for e in fast] == list(range(len(fast)))
    assert [e["line"] for e in fast] == sorted(e["line"] for e in fast)


def test_execve_superseded_resumes_in_another_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both((DATA / "20_thread_execve_superseded.log").read_bytes(), monkeypatch)
    assert fast == slow
    ex = [e for e in fast if e["syscall"] == "execve"]
    assert len(ex) == 1 and ex[0]["ret"] == 0 and "resumed in pid" in (ex[0]["note"] or "")


def test_rows_already_in_order_and_a_last_line_without_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    log = b"".join(b"7 1700000000.%06d getpid() = 7 <0.000001>\n" % i for i in range(200)) + b"7 1700000001.0 getppid() = 1"
    fast, slow = _both(log, monkeypatch)
    assert fast == slow and len(fast) == 201 and fast[-1]["syscall"] == "getppid"


def test_halves_split_across_many_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast, "BLOCK", 64)  # every line or two is its own block
    fast, slow = _both(HALVES * 3, monkeypatch)
    assert fast == slow


def test_a_block_with_invalid_utf8_keeps_every_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast, "BLOCK", 128)
    log = HALVES + b'100 1700000000.5 write(1</x>, "\xff\xfe bad", 5) = 5 <0.000001>\n' + HALVES
    fast, slow = _both(log, monkeypatch)
    assert fast == slow
    assert any("\ufffd" in (e["args"] or "") for e in fast)


def test_arena_grows_for_a_stream_of_unknown_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast, "BLOCK", 256)
    data = HALVES * 40
    first = data[:256]
    arena = _fast._Arena(io.BytesIO(data[256:]), first)
    arena.buf = np.empty(300, np.uint8)  # as if the size guess was far too small
    arena.buf[:256] = np.frombuffer(first, np.uint8)
    got = []
    while (blk := arena.next_block()) is not None:
        view, at = blk
        assert bytes(view).endswith(b"\n")
        got.append(bytes(view))
        assert bytes(arena.buf[at : at + len(view)]) == bytes(view)
    assert b"".join(got) == data and len(arena.buf) > 300


@pytest.mark.skipif(STRACE is None, reason="strace is not installed")
def test_live_multi_process_log_in_small_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "busy.log"
    subprocess.run([STRACE, "-f", "-ttt", "-T", "-y", "-o", str(out), "sh", "-c",
                    "find /usr/share/doc -maxdepth 2 -type f 2>/dev/null | head -200 "
                    "| xargs -P 2 -n 10 cat > /dev/null"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    data = out.read_bytes()
    assert b"resumed>" in data  # two busy processes: halves to join
    monkeypatch.setattr(_fast, "BLOCK", 4096)
    fast, slow = _both(data, monkeypatch)
    assert fast == slow


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_compressed_streams_through_the_arena(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """Compressed input has no usable file size (zstd's reader has no fileno at all)."""
    from syssense.parse.strace import open_log

    data = HALVES * 20
    path = tmp_path / ("x.log" + suffix)
    if suffix == ".gz":
        import gzip

        path.write_bytes(gzip.compress(data))
    else:
        zstandard = pytest.importorskip("zstandard")
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    monkeypatch.setattr(_fast, "BLOCK", 512)
    with open_log(path) as fh:
        fast, _ = parse_stream(fh, path.name, fast=True)
    slow, _ = parse_stream(io.BytesIO(data), "x.log", fast=False)
    assert fast.to_pylist() == slow.to_pylist()


def test_many_lines_left_to_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks where the grammar takes many lines keep only the scanner's rows (compacted)."""
    sig = b"101 1700000000.000010 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=102} ---\n"
    log = b"".join(line + b"\n" + sig for line in HALVES.split(b"\n")[:-1])
    fast, slow = _both(log, monkeypatch)
    assert fast == slow
    assert sum(e["kind"] == "signal" for e in fast) == 14


def test_row_store_grows_past_its_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _fast._RowStore
    sizes = []

    class Small(real):  # type: ignore[misc, valid-type]
        def __init__(self, cap: int) -> None:
            super().__init__(0)  # far below the estimate: 1024 rows
            sizes.append(self)

    monkeypatch.setattr(_fast, "_RowStore", Small)
    monkeypatch.setattr(_fast, "BLOCK", 2048)
    fast, slow = _both(HALVES * 120, monkeypatch)
    assert fast == slow
    assert len(sizes) == 1 and sizes[0].cap > 1024
