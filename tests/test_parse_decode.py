"""Typed decoding of strace argument text (decode_args)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syssense import decode_args
from syssense.parse.decode import decode_value, unescape

CASES = [
    ("", []),
    ("NULL", [None]),
    ("3, -1, 0x1f, 0755, 0", [3, -1, 31, 493, 0]),
    ('AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC', ["AT_FDCWD", "/etc/ld.so.cache", ["O_RDONLY", "O_CLOEXEC"]]),
    ('"0123456789abcdefghijklmnopqrstuv"..., 43', [{"string": "0123456789abcdefghijklmnopqrstuv", "truncated": True}, 43]),
    ('"a\\n\\t\\x41\\101\\0\\"q\\\\"', ['a\n\tAA\x00"q\\']),
    ("3</etc/passwd>, AT_FDCWD</tmp/w>", [{"fd": 3, "path": "/etc/passwd"}, {"fd": "AT_FDCWD", "path": "/tmp/w"}]),
    ("3<TCP:[127.0.0.1:42->127.0.0.1:80]>", [{"fd": 3, "path": "TCP:[127.0.0.1:42->127.0.0.1:80]"}]),
    ("3</tmp/a\\76b>", [{"fd": 3, "path": "/tmp/a>b"}]),
    ("{st_mode=S_IFREG|0644, st_size=44016, ...}", [{"st_mode": ["S_IFREG", 420], "st_size": 44016, "...": True}]),
    ("SIG_SETMASK, [], ~[KILL STOP RTMIN RT_1], 8", ["SIG_SETMASK", [], {"not": ["KILL", "STOP", "RTMIN", "RT_1"]}, 8]),
    ("[INT TERM], [{fd=3, events=POLLIN}]", [["INT", "TERM"], [{"fd": 3, "events": "POLLIN"}]]),
    ('"/bin/sh", ["sh", "-c"], 0x7ffd5a4ff0d0 /* 39 vars */',
     ["/bin/sh", ["sh", "-c"], {"value": 0x7FFD5A4FF0D0, "comment": "39 vars"}]),
    ("NULL, 8192, 0x3 /* PROT_READ|PROT_WRITE */", [None, 8192, {"value": 3, "comment": "PROT_READ|PROT_WRITE"}]),
    ('{sa_family=AF_UNIX, sun_path=@"sock"}, [110 => 2]',
     [{"sa_family": "AF_UNIX", "sun_path": {"abstract": "sock"}}, [{"in": 110, "out": 2}]]),
    ("{st_rdev=makedev(0x88, 0)}", [{"st_rdev": {"call": "makedev", "args": [136, 0]}}]),
    ("[\"a\", \"b\"...]", [["a", {"string": "b", "truncated": True}]]),
    ('["python3", "-c", "x"...], ...', [["python3", "-c", {"string": "x", "truncated": True}], {"...": True}]),
    ("-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL", [-1, [{"_0": "WIFEXITED(s) && WEXITSTATUS(s) == 0"}], 0, None]),
    ("FUTEX_OP_SET<<28|0<<12", ["FUTEX_OP_SET<<28|0<<12"]),
    ("<... resuming interrupted read ...>", ["<... resuming interrupted read ...>"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_decode_examples(text: str, expected: list) -> None:
    assert decode_args(text) == expected
    json.dumps(decode_args(text))  # always JSON


def test_non_utf8_bytes_stay_visible() -> None:
    assert unescape("\\351\\351") == "\\xe9\\xe9"
    assert unescape("\\303\\251") == "é"


def test_decode_value_and_no_sharing() -> None:
    assert decode_value("1 (in [3])") == "1 (in [3])" or isinstance(decode_value("1 (in [3])"), list)
    a = decode_args("[1, 2]")
    a[0].append(3)
    assert decode_args("[1, 2]") == [[1, 2]]  # cached results are not shared


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_decoder_never_raises(text: str) -> None:
    out = decode_args(text)
    assert isinstance(out, list)
    json.dumps(out)
