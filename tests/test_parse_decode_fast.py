"""The compiled column decoder (decode_args_column) equals the Python decoder (decode_args_json)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import syssense
from syssense.parse import _decode_scan, decode
from syssense.parse.decode import decode_args_column, decode_args_json

DATA = Path(__file__).parent / "data" / "strace"
needs_numba = pytest.mark.skipif(not _decode_scan.AVAILABLE, reason="numba is not importable")
needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


@pytest.fixture(autouse=True)
def _always_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "COLUMN_MIN_ROWS", 0)


def _check(values: list[str | None] | pa.Array) -> dict[str, int]:
    """Column decoder == Python decoder on every row; returns the stats."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.string())
    stats: dict[str, int] = {}
    got = decode_args_column(arr, stats=stats).to_pylist()
    texts = arr.to_pylist()
    assert len(got) == len(texts)
    for text, g in zip(texts, got, strict=True):
        want = None if text is None else decode_args_json(text)
        assert g == want, f"{text!r}: compiled {g!r} != python {want!r}"
    return stats


EDGE = [
    "", "   ", "NULL", "0", "-0", "00", "-00", "09", "0755", "-0755", "0x0", "-0x10", "0x7fffffffffffffff",
    "0xffffffffffffffff", "123456789012345678901234567890", "1.5", "1.", "-", "-x", "0x", "0xg",
    'AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC', "A|0x10|0755|09|0", "A|NULL", "A|", "|A", "A||B",
    "A|B C", "A B", "A-1", "A=B", "8192*1024", "a+b, c",
    '"a\\n\\t\\x41\\101\\0\\"q\\\\"', '"\\351\\351"', '"\\303\\251"', '"\\777\\x\\xz\\q\\e\\a\\?"',
    '"\\x1\\x7f\\37\\177\\200"', '"abc"...', '""...', '"abc"..., 5', '"abc" ...', '"unterminated', '"a\\',
    "3</etc/passwd>, AT_FDCWD</tmp/w>", "3<>", "3<a\"b>", "3</a\\76b>", "3</a\\>", "010</x>", "-1</x>",
    "0x10</x>", "FOO</x>", "AT_FDCWD<x", "3<pipe:[57035]>", "3<TCP:[127.0.0.1:42->127.0.0.1:80]>",
    "3<UNIX-STREAM:[1->2]>", "3</a<b>", "3</a[b]>", "3<a>b",
    "{st_mode=S_IFREG|0644, st_size=44016, ...}", "{}", "{ }", "{...}", "{..., ...}", "{1}", "{1, 2, ...}",
    "{a=1, a=2}", "{_1=5, 7}", "{_x=5, 7}", "{a=...}", "{a=1, }", "{a=NULL, b=A|NULL}", '{a="x}y", b=2}',
    "{fd=3</a}b>}", "{a={b=1}}", "{a=[1, 2], b=~[KILL STOP], c=[]}", "{a=[1 2 3]}", "{a=8192*1024, b=1}",
    "{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}", "{a==b}", "{a=>b}", "{a.b=1}", "{a = 1}",
    "SIG_SETMASK, [], ~[KILL STOP RTMIN RT_1], 8", "[INT TERM], [{fd=3, events=POLLIN}]", "[1, ]", "[, 1]",
    "[1 2|3]", "[A|B C]", "[[1]]", "[...]", "[1, ...]", "~[]", "~ [1]", "[1]x",
    '"/bin/sh", ["sh", "-c"], 0x7ffd5a4ff0d0 /* 39 vars */', "NULL, 8192, 0x3 /* PROT_READ|PROT_WRITE */",
    "/* c */", "1 /* a */ /* b */", "1 /*  x \"y\\z  */", "1 /* unterminated", "1 /**/", "1 /*/ 2",
    '{sa_family=AF_UNIX, sun_path=@"sock"}, [110 => 2]', "{st_rdev=makedev(0x88, 0)}",
    '["a", "b"...]', '["python3", "-c", "x"...], ...', "...", "..., 1", "....",
    "-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL", "FUTEX_OP_SET<<28|0<<12",
    "<... resuming interrupted read ...>", "child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, child_tidptr=0x7f",
    "{a=1 /* c */, b=[2] /* d */, ... /* e */, f=A|B /* g */}", "{a=1 /* c */ /* d */}", "{a=1 2}", "{... x}",
    "{st_dev=0xfe00 /* makedev(0xfe, 0) */, st_mode=0100644 /* S_IFREG|0644 */}", "{a=x+1 /* c */}", "{a=1/* c */}",
    "{st_rdev=makedev(0x88, 0)}, makedev(1, 2)|A, [f() g(1)]", "f(1, )", "f(,1)", "f(1.5)", "f(3</x>)", "f(a.b)",
    "f(g(1))", "f (1)", "f(\"x\"..., NULL)", "f(1", "f(1, 2", "{a=f(1)}, f()",
    "-1, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGPIPE}], 0, NULL", "[a && b, c]", "{a=x || y, b=1}", "a != b, 1",
    "x-1 && y", "f(1, 2) && g(h(1)), 2", "[A B && C]", "{a && b)}", "(a) && b", "a && (b", "a && b)", "!x", "a & b [",
    "a + 1.5", 'a && "s"', "a.b && c", "x < y && z", "1 && 2 /* c */", "a && f(1, (2, 3)) , b", "a &&  b  ,c",
    "a && b(]", "x=1, y=f(2) + 3*4",
    "1,2", "1 , 2", "1,  2", "1, , 2", "x.y", "a(b)", " 1, 2 ", "\t1", "1\n", "caf\u00e9", '"caf\u00e9"', "3</caf\u00e9>",
]


@needs_numba
def test_edge_cases_equal_python() -> None:
    stats = _check(EDGE + [None, "1"])
    assert stats["fallback"] < len(EDGE) // 2  # most of them really went through the compiled code


@needs_numba
def test_common_shapes_are_compiled_not_fallback() -> None:
    common = ['3</etc/passwd>, "abc"..., 4096', "AT_FDCWD, \"/x\", O_RDONLY|O_CLOEXEC", "{st_mode=S_IFREG|0644, ...}",
              "SIGINT, {sa_handler=SIG_DFL, sa_mask=~[RTMIN RT_1], sa_flags=SA_RESTORER}, NULL, 8",
              '"/bin/ls", ["ls", "-la"], 0x7ff /* 3 vars */', "[3<pipe:[1]>, 4<pipe:[1]>], 0", "child_stack=NULL, flags=A|B"]
    stats = _check(common)
    assert stats == {"rows": len(common), "fallback": 0}


@needs_numba
def test_nulls_chunks_slices_large_strings() -> None:
    vals = ["1, 2", None, '"x"', None, "[1]"]
    _check(pa.chunked_array([pa.array(vals[:2], pa.string()), pa.array(vals[2:], pa.string())]))
    _check(pa.array(vals * 3, pa.string()).slice(4, 9))
    _check(pa.array(vals, pa.large_string()))
    assert decode_args_column(pa.array([None, None], pa.string())).to_pylist() == [None, None]
    assert decode_args_column(pa.array([], pa.string())).to_pylist() == []


@needs_numba
def test_output_buffer_grows() -> None:
    # rows whose JSON is several times longer than their text, many of them: the first
    # output buffer cannot hold them all, so the decoder must grow it and continue
    big = ['""..., ""..., 3<>, {...}, A|B|C|D|E|F'] * 5000 + ["x" * 100_000]
    assert _check(big)["fallback"] == 0


@needs_numba
@pytest.mark.parametrize("threads", [1, 2])
def test_split_over_threads_same_result(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    monkeypatch.setattr(decode, "THREADS", threads)
    monkeypatch.setattr(decode, "SPLIT_MIN_ROWS", 2)
    _check(EDGE + [None] * 3 + EDGE[::-1])
    _check(['""..., 3<>, {...}'] * 3000 + ["x" * 50_000] + ["1"] * 10)  # both halves grow their buffers
    _check(["1"])


@pytest.mark.parametrize("log", sorted(DATA.glob("*.log")), ids=lambda p: p.name)
@needs_numba
def test_fixture_args_equal_python(log: Path) -> None:
    ev = syssense.parse_strace(log).events
    _check(ev.column("args"))


def _strace(tmp_path: Path, flags: list[str], cmd: list[str]) -> pa.ChunkedArray:
    out = tmp_path / "t.log"
    subprocess.run(["strace", *flags, "-o", str(out), *cmd], check=True, capture_output=True, timeout=60)
    return syssense.parse_strace(out).events.column("args")


PROG = r"""
import os, socket, subprocess, tempfile
d = tempfile.mkdtemp()
p = os.path.join(d, "f\tw\xe9ird \"name\"")
with open(p, "wb") as f:
    f.write(bytes(range(256)) * 4)
with open(p, "rb") as f:
    f.read()
r, w = os.pipe(); os.write(w, b"\x00\xff\n\"\\"); os.read(r, 10)
a, b = socket.socketpair(); a.send(b"hi\x01"); b.recv(10)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); c = socket.create_connection(s.getsockname())
t, _ = s.accept(); c.sendall(b"x" * 100); t.recv(100)
try:
    os.stat("/nonexistent/\x01")
except OSError:
    pass
subprocess.run(["true"])
"""


@needs_numba
@needs_strace
@pytest.mark.parametrize(("flags", "cmd", "share"), [
    (["-f"], ["ls", "-la", "/etc"], 0.2),
    (["-f", "-y"], [sys.executable, "-c", PROG], 0.2),
    (["-f", "-yy", "-s", "64"], [sys.executable, "-c", PROG], 0.2),
    # -X verbose puts comments inside structs and after fds: mostly left to Python
    (["-f", "-yy", "-v", "-X", "verbose"], ["ls", "-la", "/proc/self/"], 0.9),
], ids=["ls", "python-y", "python-yy", "ls-yy-v-Xverbose"])
def test_live_strace_args_equal_python(tmp_path: Path, flags: list[str], cmd: list[str], share: float) -> None:
    args = _strace(tmp_path, flags, cmd)
    stats = _check(args)
    assert stats["rows"] > 50
    assert stats["fallback"] < stats["rows"] * share  # the compiled code did its share of the work


def test_without_numba_everything_goes_through_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_decode_scan, "AVAILABLE", False)
    stats = _check(EDGE + [None])
    assert stats["fallback"] == len(EDGE)


def test_short_columns_skip_numba_unless_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "COLUMN_MIN_ROWS", 1000)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    stats = _check(["1, 2"] * 10)
    assert stats["fallback"] == 10


TOKENS = ["NULL", "AT_FDCWD", "O_RDONLY", "A", "_1", "x", "0", "-1", "42", "0x1f", "-0x10", "0755", "09", "00",
          '"a"', '"a\\nb"', '"\\351\\303\\251"', '"\\0\\x\\1"', '"q\\"', '"', "...", "|", ", ", ",", " ", "=", "==",
          "{", "}", "[", "]", "~[", "(", ")", "<", ">", "</p>", "<pipe:[5]>", "<TCP:[1->2]>", "/* c */", " /* 3 vars */",
          "*", "+", "=>", "@", "&&", ".", "\\", "\u00e9", "\t", "k=", "st_mode=", "_0="]


@needs_numba
@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=14).map("".join), st.text(max_size=30)),
                min_size=1, max_size=40))
def test_random_token_strings_equal_python(texts: list[str]) -> None:
    _check(texts)


LEAVES = st.sampled_from(["NULL", "AT_FDCWD", "O_RDONLY", "SIG_DFL", "_2", "0", "-1", "4096", "0x7ffc", "-0x1", "0644",
                          "089", '"/etc/passwd"', '"a\\tb\\351"', '"x"...', '""', "3</etc/passwd>", "-100</tmp>",
                          "AT_FDCWD</x y>", "4<pipe:[9]>", "5<TCP:[1.2.3.4:5->6.7.8.9:10]>", "FOO</a>", "...",
                          "8192*1024", "1.5", "makedev(0x88, 0)", "f()", "WIFEXITED(s)", "f(1,2)", "f(1, )",
                          'g("x"..., NULL, -1)', "f(a.b)", "f(g(1))", "f (1)", "WIFEXITED(s) && WEXITSTATUS(s) == 0",
                          "a || b", "x-y", "a != 1", "f(1, 2) + 3", "A B && C", "a => b", "1 - 2", "(a) && b"])
SEPS = st.sampled_from([", ", ", ", ", ", ",", " ", "|", " , "])


def _join(parts: list[str], sep: str) -> str:
    return sep.join(parts)


VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map("|".join),
        st.tuples(st.lists(inner, max_size=4), SEPS).map(lambda t: "[" + _join(*t) + "]"),
        st.tuples(st.lists(inner, max_size=3), SEPS).map(lambda t: "~[" + _join(*t) + "]"),
        st.lists(st.tuples(st.sampled_from(["", "a=", "st_mode=", "_0=", "a=", "k2="]), inner), max_size=4).map(
            lambda kv: "{" + ", ".join(k + v for k, v in kv) + "}"),
        st.tuples(inner, st.sampled_from([" /* 3 vars */", " /*x*/", " /* a \"b\" */"])).map("".join),
        st.lists(st.tuples(st.sampled_from(["", "k=", "k = ", "k =", "k.x=", "k== "]), inner,
                           st.sampled_from(["", " /* c */", " && x", " ", "|y"])), max_size=3).map(
            lambda kvc: "{" + ", ".join(k + v + c for k, v, c in kvc) + "}"),
        st.tuples(st.sampled_from(["flags=", "child_stack="]), inner).map("".join),
    ),
    max_leaves=12,
)


@needs_numba
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(VALUES, max_size=6), SEPS).map(lambda t: _join(*t)), min_size=1, max_size=40))
def test_random_structured_lists_equal_python(texts: list[str]) -> None:
    _check(texts)
