"""The compiled (numba) scanner of the strace fast path: classification, fields, the
RE2 fallback when numba is missing, and -yy nested return paths."""

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
needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed")
needs_numba = pytest.mark.skipif(not _scan.AVAILABLE, reason="numba is not importable")

LOG = (
    b"101 1700000000.000001 openat(AT_FDCWD</tmp>, \"/dev/null\", O_RDWR) = 3</dev/null<char 1:3>> <0.000010>\n"
    b"101 1700000000.000002 read(3</dev/null<char 1:3>>, \"\", 10) = 0 <0.000003>\n"
    b"102 1700000000.000003 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3, 0) = 0xffffffffffffffff <0.000004>\n"
    b"102 1700000000.000004 openat(AT_FDCWD, \"/nope\", O_RDONLY) = -1 ENOENT (No such file or directory) <0.000005>\n"
    b"101 1700000000.000005 wait4(-1 <unfinished ...>\n"
    b"102 1700000000.000006 fcntl(3</a>, F_GETFD) = 0x1 (flags FD_CLOEXEC) <0.000001>\n"
    b"101 1700000000.000007 <... wait4 resumed>, NULL, 0, NULL) = ? ERESTARTSYS (To be restarted) <0.000100>\n"
    b"102 1700000000.000008 --- SIGCHLD {si_signo=SIGCHLD} ---\n"
    b"102 1700000000.000009 close(3) = 0 <unavailable>\n"
    b"102 1700000000.000010 +++ exited with 0 +++\n"
)


def _field(buf: np.ndarray, sp: np.ndarray, i: int, k: int) -> str | None:
    a, b = sp[i, 2 * k], sp[i, 2 * k + 1]
    return None if a < 0 else bytes(buf[a:b]).decode()


@needs_numba
def test_scanner_classifies_and_extracts() -> None:
    buf = np.frombuffer(LOG, np.uint8)
    kind, start, end, pid, pid_ok, sp, ret, ret_ok, num = _scan.scan_block(buf, _scan.PID_PLAIN, _scan.TS_NUM)
    assert kind.tolist() == [1, 1, 1, 1, 2, 1, 3, 0, 0, 0]  # <unavailable> and messages: line grammar
    assert pid[:7].tolist() == [101, 101, 102, 102, 101, 102, 101] and pid_ok[:7].all()
    assert _field(buf, sp, 0, 0) == "1700000000.000001"
    assert _field(buf, sp, 0, 1) == "openat"
    assert _field(buf, sp, 0, 3) == "/dev/null<char 1:3>"  # the -yy nest stays in the path
    assert ret[0] == 3 and ret_ok[0]
    # times and durations as the correctly rounded doubles of their text
    assert num[0, 0] == float("1700000000.000001") and num[0, 1] == float("0.000010")
    assert num[6, 0] == float("1700000000.000007") and num[6, 1] == float("0.000100")
    assert np.isnan(num[4, 1])  # no duration on an unfinished half
    nsbuf = np.frombuffer(b"1 1700000000.123456789 getpid() = 1\n", np.uint8)
    assert np.isnan(_scan.scan_block(nsbuf, _scan.PID_PLAIN, _scan.TS_NUM)[8][0, 0])  # beyond 2**53: text cast
    assert _field(buf, sp, 1, 2) == '3</dev/null<char 1:3>>, "", 10'
    assert ret[2] == -1 and ret_ok[2]  # hex wraps like the kernel's int64
    assert _field(buf, sp, 3, 4) == "ENOENT" and ret[3] == -1
    assert _field(buf, sp, 4, 2) == "-1" and _field(buf, sp, 4, 1) == "wait4"
    assert _field(buf, sp, 5, 5) == "(flags FD_CLOEXEC)" and _field(buf, sp, 5, 6) == "0.000001"
    assert not ret_ok[6] and _field(buf, sp, 6, 4) == "ERESTARTSYS" and _field(buf, sp, 6, 2) == ", NULL, 0, NULL"
    assert bytes(buf[start[9]:end[9]]) == b"102 1700000000.000010 +++ exited with 0 +++"


@needs_numba
def test_scanner_bracket_pids_and_odd_lines() -> None:
    log = (b"[pid  7] 1.5 getpid() = 7\n"
           b"getppid() = 1\n"
           b"[pid 7 x] 1.5 getpid() = 7\n"
           b"1.5 9bad() = 1\n"
           b"[pid 8] 2.5 write(1, \"a)b = c\", 7) = 7 extra\n")
    buf = np.frombuffer(log, np.uint8)
    kind, _, _, pid, pid_ok, sp, ret, _, _ = _scan.scan_block(buf, _scan.PID_BRACKET, _scan.TS_NONE)
    assert kind.tolist() == [0, 1, 0, 0, 0]  # ts present where the shape has none: slow
    kind, _, _, pid, pid_ok, sp, ret, _, _ = _scan.scan_block(buf, _scan.PID_BRACKET, _scan.TS_NUM)
    assert kind.tolist() == [1, 0, 0, 0, 0]
    assert pid[0] == 7 and pid_ok[0] and ret[0] == 7


@pytest.fixture(autouse=True)
def _scan_small_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """These logs are tiny: let the scanner take them (by default only logs >= 4 MB)."""
    monkeypatch.setattr(_fast, "SCAN_MIN_BYTES", 0)


def _parse(data: bytes, fast: bool):
    return parse_stream(io.BytesIO(data), "x.log", fast=fast)


def test_nested_device_return_path_in_both_paths() -> None:
    """``= 3</dev/null<char 1:3>>`` (-yy) is a parsed return with its path, not unparsed."""
    for fast in (True, False):
        table, row = _parse(LOG, fast)
        ev = table.to_pylist()
        assert row["n_unparsed"] == 0
        first = ev[0]
        assert first["syscall"] == "openat" and first["ret"] == 3
        assert first["ret_path"] == "/dev/null<char 1:3>"
        assert first["duration"] == pytest.approx(0.00001)


def test_fallback_without_numba_gives_the_same_table(monkeypatch: pytest.MonkeyPatch) -> None:
    with_scan, _ = _parse(LOG, True)
    monkeypatch.setattr(_scan, "AVAILABLE", False)
    assert _fast._scan_modes(r"^(?P<pid>\d+) +(?P<num>\d+\.\d+) +") is None
    without, _ = _parse(LOG, True)
    line_grammar, _ = _parse(LOG, False)
    assert with_scan.to_pylist() == without.to_pylist() == line_grammar.to_pylist()


@needs_strace
def test_live_yy_log_fast_path_equals_line_grammar(tmp_path: Path) -> None:
    out = tmp_path / "yy.log"
    subprocess.run([STRACE, "-f", "-ttt", "-T", "-yy", "-o", str(out), "sh", "-c",
                    "exec 3</dev/null; cat /etc/hostname >/dev/null; ls /nonexistent 2>/dev/null; true"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    data = out.read_bytes()
    fast, frow = _parse(data, True)
    slow, srow = _parse(data, False)
    assert fast.to_pylist() == slow.to_pylist()
    assert frow["n_unparsed"] == srow["n_unparsed"] == 0
    paths = [p for p in fast.column("ret_path").to_pylist() if p]
    assert any("<char 1:3>" in p for p in paths), paths


@needs_numba
def test_fd_paths_settled_by_the_scanner_match_the_line_grammar() -> None:
    from syssense.parse._stream import fd_paths_json

    texts = ['3</etc/passwd>, "x", 4', '"<?xml a=\\"<b>\\"", 131072', 'AT_FDCWD</tmp>, "a<b", 0',
             '1</dev/null<char 1:3>>, "", 0', '"unterminated<', "5<pipe:[123]>", "x", "",
             '3</a>, 4</b>', '(3<x>)', 'foo3</a>']
    raw = "".join(texts).encode()
    b = np.cumsum([len(t.encode()) for t in texts])
    a = np.concatenate([[0], b[:-1]])
    arr, hard = _scan.fd_paths(np.frombuffer(raw, np.uint8), a, b)
    got = arr.to_pylist()
    for i, t in enumerate(texts):
        if i in set(hard.tolist()):
            continue
        assert got[i] == fd_paths_json(t), t
    assert 1 not in hard and got[1] is None  # '<' only inside string literals
    assert 4 in hard  # an unterminated literal is left to the line grammar


@needs_numba
def test_fd_paths_with_angle_brackets_inside_literals_match_the_line_grammar() -> None:
    """One decoding outside literals, '<' inside them (write(1</x>, "<p>", 3)): settled by
    the scanner, equal to the line grammar; random token soups agree wherever settled."""
    from syssense.parse._stream import fd_paths_json

    def run(texts: list[str]) -> tuple[list, set]:
        raw = "".join(texts).encode()
        b = np.cumsum([len(t.encode()) for t in texts])
        a = np.concatenate([[0], b[:-1]])
        arr, hard = _scan.fd_paths(np.frombuffer(raw, np.uint8), a, b)
        return arr.to_pylist(), set(hard.tolist())

    texts = ['1</dev/null>, "<project>\\n  <a>", 528', '"<", 3</x>', 'AT_FDCWD</tmp>, "a<b", 0',
             '3</a"<">, 1', '3</a>b"<">, 1']
    got, hard = run(texts)
    assert 0 not in hard and got[0] == fd_paths_json(texts[0]) == '{"1": "/dev/null"}'
    assert 1 not in hard and got[1] == fd_paths_json(texts[1])
    assert 3 in hard  # the path would run into a literal
    assert 4 not in hard and got[4] == fd_paths_json(texts[4]) == '{"3": "/a"}'
    rng = np.random.default_rng(7)
    tokens = ['3</a>', '1</dev/null>', 'AT_FDCWD</tmp>', '"<x>"', '"a\\"<"', ', ', '4<pipe:[1]>', '"',
              '<', '>', 'x', ' ', '[', ']', '5</p>q>', '{fd=1</y>, events=1}', '"..."', '(', ')']
    soup = ["".join(rng.choice(tokens, rng.integers(1, 8))) for _ in range(3000)]
    got, hard = run(soup)
    settled = [i for i in range(len(soup)) if i not in hard]
    assert len(settled) > 500
    for i in settled:
        assert got[i] == fd_paths_json(soup[i]), soup[i]


@needs_numba
def test_scanner_used_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = _fast._process_block_scan

    def spy(data: bytes, modes: tuple[int, int]):
        calls.append(modes)
        return real(data, modes)

    monkeypatch.setattr(_fast, "_process_block_scan", spy)
    _parse(LOG, True)
    assert calls == [(_scan.PID_PLAIN, _scan.TS_NUM)]
    calls.clear()
    monkeypatch.setattr(_fast, "SCAN_MIN_BYTES", 1 << 22)
    _parse(LOG, True)  # a small log: numba's load would cost more than it saves
    assert calls == []


@needs_numba
def test_scanner_equals_line_grammar_on_every_fixture_and_a_busy_live_log(tmp_path: Path) -> None:
    data_dir = Path(__file__).parent / "data" / "strace"
    logs = sorted(data_dir.glob("*.log"))
    assert logs
    blobs = [p.read_bytes() for p in logs]
    if STRACE is not None:
        out = tmp_path / "busy.log"
        subprocess.run([STRACE, "-f", "-ttt", "-T", "-y", "-o", str(out), "sh", "-c",
                        "find /usr/share/doc -maxdepth 2 -type f 2>/dev/null | head -300 "
                        "| xargs -P 2 -n 20 cat > /dev/null"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        blobs.append(out.read_bytes())
    for blob in blobs:
        fast, frow = _parse(blob, True)
        slow, srow = _parse(blob, False)
        assert fast.to_pylist() == slow.to_pylist()
        for k in ("n_lines", "n_unparsed", "n_events", "exit_status"):
            assert frow[k] == srow[k], k
