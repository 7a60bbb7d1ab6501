"""Typed decoding of strace argument text, on demand (DESIGN.md "The tables").

The events table keeps arguments as the raw text strace printed; :func:`decode_args`
turns one argument list into JSON values, the record posix-omni-parser gave its users
but with real types instead of placeholders:

=================================  ==============================================
strace prints                      decoded as
=================================  ==============================================
``42``, ``-1``, ``0x1f``, ``0755``  int (hex and C octal resolved)
``"a\\n\\x41"``                       ``"a\\nA"`` (C escapes resolved)
``"abc"...``                         ``{"string": "abc", "truncated": true}``
``O_RDONLY|O_CLOEXEC``                ``["O_RDONLY", "O_CLOEXEC"]`` (flag set)
``AT_FDCWD``, ``SIG_SETMASK``         ``"AT_FDCWD"`` (a named constant)
``NULL``                              ``null``
``{st_mode=S_IFREG|0644, ...}``       ``{"st_mode": ["S_IFREG", 420], "...": true}``
``[1, 2]``, ``[INT TERM]``            ``[1, 2]``, ``["INT", "TERM"]``
``~[KILL STOP]``                      ``{"not": ["KILL", "STOP"]}``
``3</etc/passwd>``                    ``{"fd": 3, "path": "/etc/passwd"}``
``0x7ffc /* 39 vars */``              ``{"value": 140720308486140, "comment": "39 vars"}``
``[128 => 16]``                       ``[{"in": 128, "out": 16}]``
``@"name"``                           ``{"abstract": "name"}`` (abstract socket)
``makedev(0x88, 0)``                  ``{"call": "makedev", "args": [136, 0]}``
``...``                               ``{"...": true}`` (strace elided the rest)
anything else (``a && b == 0``)       the text itself, as a string
=================================  ==============================================

Bytes that are not UTF-8 stay visible as ``\\xNN`` escapes. Decoding never raises: text
that does not parse comes back as strings.

:func:`decode_args_column` does the same for a whole Arrow column at once (the JSON text of
every row); large columns go through a compiled transpiler (``_decode_scan``) that falls
back to this module's decoder for any row it is not sure of.
"""

from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["decode_args", "decode_args_column", "decode_args_json", "decode_value", "unescape"]

_PATH = r"(?:[^>\[]|\[[^\]]*\])*"
_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\]|\\.)*")(?P<trunc>\.\.\.)?'
    r"|(?P<comment>/\*.*?\*/)"
    r"|(?P<special><\.\.\. [^>]*>)"
    r"|(?P<ell>\.\.\.)"
    r"|(?P<arrow>=>)"
    r"|(?P<num>-?0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?)(?:<(?!<)(?P<npath>" + _PATH + r")>)?"
    r"|(?P<ident>[A-Za-z_][\w.]*)(?:<(?!<)(?P<ipath>" + _PATH + r")>)?"
    r"|(?P<ws>\s+)"
    r"|(?P<punct>&&|\|\||==|!=|<<|>>|<=|>=|[{}\[\](),=|~@&!*+<>:?/%^-])"
    r"|(?P<bad>.)",
    re.S,
)
_ESC = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)
_SIMPLE_ESC = {"n": b"\n", "t": b"\t", "r": b"\r", "v": b"\v", "f": b"\f", "a": b"\a",
               "b": b"\b", "e": b"\x1b", '"': b'"', "\\": b"\\", "'": b"'", "?": b"?"}
_CLOSE = {"{": "}", "[": "]", "(": ")"}
_ELLIPSIS = {"...": True}
_STR_BLANK = re.compile(r'"(?:[^"\\]|\\.)*"|<[^<>\[\]]*>|<[a-zA-Z]*:\[[^\]]*\]>')


def unescape(body: str) -> str:
    """Resolve C escapes of a strace string body (without quotes)."""
    if "\\" not in body:
        return body
    out = bytearray()
    pos = 0
    for m in _ESC.finditer(body):
        out += body[pos : m.start()].encode("utf-8")
        e = m.group(1)
        if e[0] == "x" and len(e) > 1:
            out.append(int(e[1:], 16))
        elif e[0] in "01234567":
            out.append(int(e, 8) & 0xFF)
        else:
            out += _SIMPLE_ESC.get(e, e.encode("utf-8"))
        pos = m.end()
    out += body[pos:].encode("utf-8")
    return out.decode("utf-8", "backslashreplace")


def _int(text: str) -> int | float:
    neg = text.startswith("-")
    t = text[1:] if neg else text
    if t.startswith("0x"):
        v: int | float = int(t, 16)
    elif "." in t:
        v = float(t)
    elif len(t) > 1 and t.startswith("0") and t.isdigit() and "8" not in t and "9" not in t:
        v = int(t, 8)
    else:
        v = int(t)
    return -v if neg else v


_KIND_OF = {"trunc": "str", "npath": "num", "ipath": "ident"}


def _k(t: re.Match[str]) -> str | None:
    """The token kind (a token with a sub-group reports that as its lastgroup)."""
    g = t.lastgroup
    return _KIND_OF.get(g, g)  # type: ignore[arg-type]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = [m for m in _TOKEN.finditer(text) if m.lastgroup != "ws"]
        self.i = 0
        if any(m.lastgroup == "bad" for m in self.toks):
            raise ValueError("untokenizable")

    def peek(self) -> re.Match[str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse_list(self, close: str | None) -> list[Any]:
        """Comma-separated values up to ``close`` (consumed) or the end."""
        items: list[Any] = []
        while True:
            t = self.peek()
            if t is None:
                if close is not None:
                    raise ValueError("unclosed")
                return items
            if t.lastgroup == "punct" and t.group() == close:
                self.i += 1
                return items
            if t.lastgroup == "punct" and t.group() == ",":
                self.i += 1
                continue
            before = self.i
            items.extend(self.parse_value(close, in_array=close == "]"))
            if self.i == before:  # a stray closing bracket
                raise ValueError("unbalanced")

    def _primary(self, close: str | None) -> Any:
        t = self.toks[self.i]
        kind = _k(t)
        self.i += 1
        if kind == "str":
            s = unescape(t.group("str")[1:-1])
            if t.group("trunc"):
                return {"string": s, "truncated": True}
            return s
        if kind == "num":
            v = _int(t.group("num"))
            if t.group("npath") is not None:
                return {"fd": v, "path": unescape(t.group("npath"))}
            return v
        if kind == "ident":
            name = t.group("ident")
            if t.group("ipath") is not None:
                return {"fd": name, "path": unescape(t.group("ipath"))}
            nxt = self.peek()
            if nxt is not None and nxt.group() == "(" and nxt.start() == t.end():
                self.i += 1
                return {"call": name, "args": self.parse_list(")")}
            if name == "NULL":
                return None
            return name
        if kind == "ell":
            return _ELLIPSIS
        if kind == "special":
            return t.group()
        if kind == "punct":
            p = t.group()
            if p == "{":
                return self._struct(self.parse_list_pairs("}"))
            if p == "[":
                return self.parse_list("]")
            if p == "(":
                inner = self.parse_list(")")
                return inner[0] if len(inner) == 1 else inner
            if p == "~":
                nxt = self.peek()
                if nxt is not None and nxt.group() == "[":
                    self.i += 1
                    return {"not": self.parse_list("]")}
            if p == "@":
                nxt = self.peek()
                if nxt is not None and _k(nxt) == "str":
                    v = self._primary(close)
                    return {"abstract": v}
            raise _Raw()
        if kind == "comment":  # pragma: no cover - handled by caller
            return None
        raise _Raw()

    def parse_list_pairs(self, close: str) -> list[tuple[str | None, Any]]:
        items: list[tuple[str | None, Any]] = []
        while True:
            t = self.peek()
            if t is None:
                raise ValueError("unclosed")
            if t.lastgroup == "punct" and t.group() == close:
                self.i += 1
                return items
            if t.lastgroup == "punct" and t.group() == ",":
                self.i += 1
                continue
            key = None
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
            if _k(t) == "ident" and nxt is not None and nxt.group() == "=" and t.group("ipath") is None:
                key = t.group("ident")
                self.i += 2
            before = self.i
            for v in self.parse_value(close, in_array=False):
                items.append((key, v))
                key = None
            if self.i == before:
                raise ValueError("unbalanced")

    @staticmethod
    def _struct(pairs: list[tuple[str | None, Any]]) -> Any:
        if pairs and all(k is None for k, _ in pairs):
            if len(pairs) == 1 and pairs[0][1] is not _ELLIPSIS:
                return {"_0": pairs[0][1]}
            return {("..." if v is _ELLIPSIS else f"_{i}"): (True if v is _ELLIPSIS else v)
                    for i, (_, v) in enumerate(pairs)}
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(pairs):
            if v is _ELLIPSIS and k is None:
                out["..."] = True
            else:
                out[k if k is not None else f"_{i}"] = v
        return out

    def parse_value(self, close: str | None, in_array: bool) -> list[Any]:
        """One comma-delimited element; several for space-separated sets (``[INT TERM]``)."""
        start = self.i
        items: list[Any] = []
        flags = False
        comment = None
        try:
            while True:
                t = self.peek()
                if t is None:
                    break
                g = t.group()
                if t.lastgroup == "punct" and (g == "," or g == close or g in ")]}"):
                    break
                if t.lastgroup == "comment":
                    comment = g[2:-2].strip()
                    self.i += 1
                    continue
                if t.lastgroup == "arrow":
                    self.i += 1
                    out = self.parse_value(close, in_array)
                    cur = items[-1] if items else None
                    items = [{"in": cur, "out": out[0] if len(out) == 1 else out}]
                    break
                if t.lastgroup == "punct" and g == "|":
                    flags = True
                    self.i += 1
                    continue
                items.append(self._primary(close))
        except _Raw:
            return [self._raw_from(start, close)]
        if flags:
            value: Any = items
        elif len(items) == 1:
            value = items[0]
        elif not items:
            value = None
        elif in_array:
            return items
        else:
            value = self._raw_text(start)
        if comment is not None:
            value = {"value": value, "comment": comment}
        return [value]

    def _raw_text(self, start: int) -> str:
        end = self.toks[self.i - 1].end() if self.i > start else self.toks[start].start()
        return self.text[self.toks[start].start() : end].strip()

    def _raw_from(self, start: int, close: str | None) -> str:
        """Skip to the end of this element (balanced) and return its text."""
        depth = 0
        self.i = start
        while self.i < len(self.toks):
            t = self.toks[self.i]
            g = t.group()
            if t.lastgroup == "punct":
                if g in "{[(" and len(g) == 1:
                    depth += 1
                elif g in "}])" and len(g) == 1:
                    if depth == 0:
                        break
                    depth -= 1
                elif g == "," and depth == 0:
                    break
            self.i += 1
        return self._raw_text(start)


class _Raw(Exception):
    """Not a shape we type: keep the element's text."""


@lru_cache(maxsize=1 << 16)
def decode_args_json(args_text: str | None) -> str:
    """:func:`decode_args` as JSON text (cached: repeated argument lists are common)."""
    return json.dumps(_decode(args_text), ensure_ascii=False)


#: one item of a flat argument list (no brackets, comments or expressions), and its separator
_ITEM_ALTS = (
    r'(?P<s>"(?:[^"\\]|\\.)*")(?P<t>\.\.\.)?'
    r"|(?P<fd>-?\d+|AT_FDCWD)<(?P<p>[^<>\[\]]*|[a-zA-Z]*:\[[^\]]*\])>"
    r"|(?P<n>-?0x[0-9a-fA-F]+|-?\d+)"
    r"|(?P<f>[A-Za-z_][\w]*(?:\|(?:[A-Za-z_]\w*|0x[0-9a-fA-F]+|\d+))+)"
    r"|(?P<i>[A-Za-z_]\w*)"
)
_FLAT_ITEM = re.compile(
    r"(?:" + _ITEM_ALTS + r'|\{(?P<st>(?:[^{}"\[\]()]|"(?:[^"\\]|\\.)*")*)\})(?:, |$)'
)
_STRUCT_ITEM = re.compile(r"(?:(?P<k>[A-Za-z_]\w*)=)?(?:" + _ITEM_ALTS + r"|(?P<e>\.\.\.))(?:, |$)")
_NEEDS_FULL = re.compile(r"[\[\]()/~@*&]|=>")


def _value(m: re.Match[str]) -> Any:
    g = m.lastgroup
    if g == "s" or g == "t":
        body = m.group("s")[1:-1]
        v: Any = unescape(body) if "\\" in body else body
        return {"string": v, "truncated": True} if g == "t" else v
    if g == "n":
        t = m.group("n")
        return int(t) if t.isdigit() and (t[0] != "0" or len(t) == 1) else _int(t)
    if g == "i":
        v = m.group("i")
        return None if v == "NULL" else v
    if g == "f":
        return [_int(x) if x[0].isdigit() else x for x in m.group("f").split("|")]
    fd = m.group("fd")
    return {"fd": _int(fd) if fd != "AT_FDCWD" else fd, "path": unescape(m.group("p"))}


def _flat_struct(inner: str) -> Any:
    pairs: list[tuple[str | None, Any]] = []
    pos, n = 0, len(inner)
    while pos < n:
        m = _STRUCT_ITEM.match(inner, pos)
        if m is None or m.end() == pos:
            return None
        v = _ELLIPSIS if m.lastgroup == "e" else _value(m)
        pairs.append((m.group("k"), v))
        pos = m.end()
    if not pairs:
        return {}
    return _Parser._struct(pairs)


def _flat(text: str) -> list[Any] | None:
    """The fast path: numbers, names, flag sets, strings, descriptors, one-level structs."""
    out: list[Any] = []
    pos = 0
    n = len(text)
    match = _FLAT_ITEM.match
    while pos < n:
        m = match(text, pos)
        if m is None or m.end() == pos:
            return None
        if m.lastgroup == "st":
            v = _flat_struct(m.group("st"))
            if v is None:
                return None
        else:
            v = _value(m)
        out.append(v)
        pos = m.end()
    return out


def _decode(args_text: str | None) -> list[Any]:
    if args_text is None:
        return []
    text = args_text.strip()
    if not text:
        return []
    probe = _STR_BLANK.sub('""', text) if ('"' in text or "<" in text) else text
    if _NEEDS_FULL.search(probe) is None:
        flat = _flat(text)
        if flat is not None:
            return flat
    try:
        p = _Parser(text)
        out = p.parse_list(None)
        if p.i != len(p.toks):
            raise ValueError("trailing")
        return out
    except (ValueError, IndexError, RecursionError):
        return [text]


def decode_args(args_text: str | None) -> list[Any]:
    """Typed JSON values of one strace argument list (see the module table)."""
    return json.loads(decode_args_json(args_text))


def decode_value(text: str) -> Any:
    """One value (a return annotation, a signal's siginfo) decoded like an argument."""
    out = decode_args(text)
    return out[0] if len(out) == 1 else out


#: columns shorter than this use the Python decoder unless numba is already loaded
#: (importing numba and loading the compiled decoder costs ~0.5-1 s in a fresh process)
COLUMN_MIN_ROWS = 50_000


def _column_python(arr: pa.Array) -> pa.Array:
    return pa.array([None if a is None else decode_args_json(a) for a in arr.to_pylist()], pa.string())


def _use_compiled(n: int) -> bool:
    if n < COLUMN_MIN_ROWS and "numba" not in sys.modules:
        return False
    from . import _decode_scan

    return _decode_scan.AVAILABLE


#: compiled column work is split over two threads (``nogil``) for columns of at least
#: SPLIT_MIN_ROWS rows; THREADS = 1 keeps it in the calling thread
THREADS = 2
SPLIT_MIN_ROWS = 32_768


def run_split(fn: Any, cut: list[int]) -> list[Any]:
    """``fn(cut[i], cut[i + 1])`` for each part, the first in this thread and the others in
    their own threads (the compiled kernels release the GIL); results in order."""
    import threading

    res: list[Any] = [None] * (len(cut) - 1)
    errs: list[BaseException] = []

    def work(i: int) -> None:
        try:
            res[i] = fn(cut[i], cut[i + 1])
        except BaseException as e:  # pragma: no cover - re-raised below
            errs.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, len(cut) - 1)]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
    if errs:
        raise errs[0]
    return res


def _decode_part(dsc: Any, offs: np.ndarray, data: np.ndarray, valid: np.ndarray, r0: int, r1: int,
                 oofs: np.ndarray, fb: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows r0..r1 into their own output buffer (``oofs`` relative to it)."""
    out = np.empty(int(2 * (offs[r1] - offs[r0]) + 24 * (r1 - r0) + 4096), np.uint8)
    tmp = np.empty(int(lens[r0:r1].max()) + 16, np.uint8)
    ks = np.empty(64, np.int64)
    kl = np.empty(64, np.int64)
    r, op = r0, 0
    while r < r1:
        r, op = dsc.decode_rows(offs, data, valid, r, r1, out, oofs, op, fb, tmp, ks, kl)
        if r < r1:  # the next row may not fit: grow the output buffer
            bigger = np.empty(max(2 * out.shape[0], op + 8 * int(lens[r]) + 4096), np.uint8)
            bigger[:op] = out[:op]
            out = bigger
    return out, op


def _column_compiled(arr: pa.Array) -> tuple[pa.Array, int]:
    """The compiled transpiler over one string array; fallback rows by the Python decoder."""
    from . import _decode_scan as dsc

    n = len(arr)
    bufs = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offs = np.frombuffer(bufs[1], width, n + 1, arr.offset * np.dtype(width).itemsize).astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(1, np.uint8)
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
    else:
        valid = np.ones(n, np.bool_)
    lens = np.diff(offs)
    oofs = np.empty(n + 1, np.int64)
    oofs[0] = 0
    fb = np.zeros(n, np.uint8)
    cut = [0, n]
    if THREADS > 1 and n >= SPLIT_MIN_ROWS:  # two halves of about equal bytes, one per thread
        mid = int(np.searchsorted(offs, (int(offs[0]) + int(offs[-1])) // 2))
        if 0 < mid < n:
            cut = [0, mid, n]
    parts = run_split(lambda r0, r1: _decode_part(dsc, offs, data, valid, r0, r1, oofs, fb, lens), cut)
    if len(parts) == 1:
        out, op = parts[0]
    else:  # the second half's offsets continue after the first half's text
        (out_a, op_a), (out_b, op_b) = parts
        oofs[cut[1] + 1:] += op_a
        out = np.concatenate([out_a[:op_a], out_b[:op_b]])
        op = op_a + op_b
    if op < 2**31:
        typ, oo = pa.string(), oofs.astype(np.int32)
    else:  # pragma: no cover - needs > 2 GB of JSON
        typ, oo = pa.large_string(), oofs
    vbuf = pa.py_buffer(np.packbits(valid, bitorder="little")) if arr.null_count else None
    res = pa.Array.from_buffers(typ, n, [vbuf, pa.py_buffer(oo), pa.py_buffer(out[:op])], arr.null_count)
    idx = np.flatnonzero(fb)
    if len(idx):
        texts = arr.take(pa.array(idx)).to_pylist()
        reps = pa.array([decode_args_json(t) for t in texts], typ)
        res = pc.replace_with_mask(res, pa.array(fb.view(np.bool_)), reps)
    return res, len(idx)


def decode_args_column(arr: pa.Array | pa.ChunkedArray, *, stats: dict[str, int] | None = None) -> pa.Array:
    """:func:`decode_args_json` of every value of an ``args`` column, as a string array
    (null where ``args`` is null).

    Large columns go through a compiled transpiler (numba; ``_decode_scan``) that writes
    the same JSON text as the Python decoder for its flat shapes and hands every row it is
    not sure of to :func:`decode_args_json`; without numba, or for short columns, every
    row goes through :func:`decode_args_json`. ``stats`` (if given) receives ``rows`` and
    ``fallback`` (rows decoded in Python).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    n = len(arr)
    if n and _use_compiled(n):
        res, nfb = _column_compiled(arr)
    else:
        res, nfb = _column_python(arr), n - arr.null_count
    if stats is not None:
        stats["rows"] = n
        stats["fallback"] = nfb
    return res
