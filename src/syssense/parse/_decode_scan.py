"""Compiled column decoder: strace argument lists -> the JSON text of :func:`decode_args_json`.

:func:`decode_rows` walks an Arrow string column (offsets + data bytes) and writes, for each
row, exactly the JSON text the Python decoder (``decode.decode_args_json``, the
specification) produces. It follows ``decode._decode`` step by step: the ``_NEEDS_FULL``
probe, then the flat path (``decode._flat``: integers in every base, ``NULL``, strings with
C escapes and ``...`` truncation, names, flag sets, descriptors with ``-y`` paths, one-level
structs), else a subset of ``decode._Parser`` (arrays, ``~[...]``, structs holding arrays,
comments after values, calls with plain arguments, the ``_Raw`` text of expressions). The
moment a row holds anything else (control or non-ASCII bytes, floats, nested calls, numbers
wider than 60 bits, repeated struct keys, ...) the row is flagged ``fallback`` and the caller
decodes it with the Python decoder.

:func:`jsonl_rows` joins per-column JSON texts into JSON Lines (``parse --format jsonl``).
If numba cannot be imported, :data:`AVAILABLE` is False and callers use Python/Arrow.
"""

from __future__ import annotations

import numpy as np

from ._nb import AVAILABLE, _hexdigit, _hexval, _isalpha_, _isdigit, _ishex, _isword, njit  # noqa: F401 - AVAILABLE is part of this module's API


@njit(cache=True, nogil=True)
def _put_uint(out, op, v):
    """Write a non-negative int64 in decimal."""
    if v == 0:
        out[op] = 48
        return op + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    k = op + n - 1
    while v > 0:
        out[k] = 48 + v % 10
        v //= 10
        k -= 1
    return op + n


_LITS = [b'{"string": ', b', "truncated": true}', b'{"fd": ', b', "path": ',
         b'{"fd": "AT_FDCWD", "path": ', b"null", b'{"...": true}', b'"...": true', b'{"fd": "',
         b'{"not": ', b'{"value": ', b', "comment": "',
         b'{"call": "', b'", "args": [']
_LIT = np.frombuffer(b"".join(_LITS), np.uint8).copy()
_LIT_AT = np.cumsum([0] + [len(x) for x in _LITS]).astype(np.int64)


@njit(cache=True, nogil=True)
def _put_lit(out, op, k):
    """Write the fixed JSON piece number ``k`` of ``_LITS``."""
    a = _LIT_AT[k]
    b = _LIT_AT[k + 1]
    for t in range(a, b):
        out[op] = _LIT[t]
        op += 1
    return op


@njit(cache=True, nogil=True)
def _str_end(d, i, e):
    """``d[i] == '"'``: the index after the closing quote of ``"(?:[^"\\\\]|\\\\.)*"``, or -1."""
    j = i + 1
    while j < e:
        c = d[j]
        if c == 34:
            return j + 1
        if c == 92:
            if j + 1 >= e:
                return -1
            j += 2
        else:
            j += 1
    return -1


@njit(cache=True, nogil=True)
def _utf8_len(t, j, n):
    """Length of the valid UTF-8 sequence starting at ``t[j]`` (>= 0x80), else 0."""
    c = t[j]
    if 0xC2 <= c <= 0xDF:
        if j + 1 < n and 0x80 <= t[j + 1] <= 0xBF:
            return 2
        return 0
    if 0xE0 <= c <= 0xEF:
        if j + 2 >= n:
            return 0
        c1 = t[j + 1]
        lo = 0xA0 if c == 0xE0 else 0x80
        hi = 0x9F if c == 0xED else 0xBF
        if lo <= c1 <= hi and 0x80 <= t[j + 2] <= 0xBF:
            return 3
        return 0
    if 0xF0 <= c <= 0xF4:
        if j + 3 >= n:
            return 0
        c1 = t[j + 1]
        lo = 0x90 if c == 0xF0 else 0x80
        hi = 0x8F if c == 0xF4 else 0xBF
        if lo <= c1 <= hi and 0x80 <= t[j + 2] <= 0xBF and 0x80 <= t[j + 3] <= 0xBF:
            return 4
        return 0
    return 0


@njit(cache=True, nogil=True, inline="always")
def _c_escape(d, i, b):
    """``d[i] == '\\'`` and ``i + 1 < b``: (the byte of the C escape there, the index after it),
    as ``decode.unescape`` resolves it: ``\\x`` with 1-2 hex digits (else a plain ``x``), 1-3
    octal digits (mod 256), ``\\n \\t \\r \\v \\f \\a \\b \\e``; any other escaped
    character (``\\" \\\\ \\' \\?`` and unknown ones) stands for itself."""
    e = d[i + 1]
    if e == 120:  # \x with 1-2 hex digits, else a plain "x"
        if i + 2 < b and _ishex(d[i + 2]):
            v = _hexval(d[i + 2])
            k = i + 3
            if k < b and _ishex(d[k]):
                v = v * 16 + _hexval(d[k])
                k += 1
            return v, k
        return 120, i + 2
    if 48 <= e <= 55:  # 1-3 octal digits
        v = e - 48
        k = i + 2
        if k < b and 48 <= d[k] <= 55:
            v = v * 8 + d[k] - 48
            k += 1
            if k < b and 48 <= d[k] <= 55:
                v = v * 8 + d[k] - 48
                k += 1
        return v & 255, k
    if e == 110:
        return 10, i + 2
    if e == 116:
        return 9, i + 2
    if e == 114:
        return 13, i + 2
    if e == 118:
        return 11, i + 2
    if e == 102:
        return 12, i + 2
    if e == 97:
        return 7, i + 2
    if e == 98:
        return 8, i + 2
    if e == 101:
        return 27, i + 2
    return e, i + 2


@njit(cache=True, nogil=True, inline="always")
def _put_ascii(out, op, c):
    """One ASCII character inside a JSON string (json.dumps escapes)."""
    if c == 34 or c == 92:
        out[op] = 92
        out[op + 1] = c
        return op + 2
    if c >= 32:
        out[op] = c
        return op + 1
    out[op] = 92
    if c == 10:
        out[op + 1] = 110
        return op + 2
    if c == 13:
        out[op + 1] = 114
        return op + 2
    if c == 9:
        out[op + 1] = 116
        return op + 2
    if c == 8:
        out[op + 1] = 98
        return op + 2
    if c == 12:
        out[op + 1] = 102
        return op + 2
    out[op + 1] = 117
    out[op + 2] = 48
    out[op + 3] = 48
    out[op + 4] = _hexdigit(c >> 4)
    out[op + 5] = _hexdigit(c & 15)
    return op + 6


@njit(cache=True, nogil=True)
def _put_text_bytes(d, a, b, out, op, tmp):
    """``json.dumps(unescape(d[a:b]), ensure_ascii=False)`` (``decode.unescape``: C escapes
    resolved to bytes, decoded as UTF-8 with ``\\xNN`` for bytes that are not)."""
    n = 0
    i = a
    while i < b:
        c = d[i]
        if c == 92 and i + 1 < b:
            tmp[n], i = _c_escape(d, i, b)
        else:
            tmp[n] = c
            i += 1
        n += 1
    out[op] = 34
    op += 1
    j = 0
    while j < n:
        c = tmp[j]
        if c < 128:
            op = _put_ascii(out, op, c)
            j += 1
        else:
            m = _utf8_len(tmp, j, n)
            if m == 0:  # backslashreplace: "\xNN", its backslash escaped by JSON
                out[op] = 92
                out[op + 1] = 92
                out[op + 2] = 120
                out[op + 3] = _hexdigit(c >> 4)
                out[op + 4] = _hexdigit(c & 15)
                op += 5
                j += 1
            else:
                for k in range(m):
                    out[op + k] = tmp[j + k]
                op += m
                j += m
    out[op] = 34
    return op + 1


@njit(cache=True, nogil=True)
def _put_text(d, a, b, out, op, tmp):
    """``json.dumps(unescape(d[a:b]), ensure_ascii=False)``: one pass while every resolved
    byte is ASCII, else :func:`_put_text_bytes` (UTF-8 checks need the resolved bytes)."""
    op0 = op
    out[op] = 34
    op += 1
    i = a
    while i < b:
        c = d[i]
        if c != 92:
            if c == 34:
                out[op] = 92
                out[op + 1] = 34
                op += 2
            else:
                out[op] = c
                op += 1
            i += 1
            continue
        if i + 1 >= b:  # a lone trailing backslash stays
            out[op] = 92
            out[op + 1] = 92
            op += 2
            i += 1
            continue
        v, i = _c_escape(d, i, b)
        if v >= 128:
            return _put_text_bytes(d, a, b, out, op0, tmp)
        op = _put_ascii(out, op, v)
    out[op] = 34
    return op + 1


@njit(cache=True, nogil=True)
def _put_int(d, a, b, out, op):
    """``decode._int(d[a:b])`` for ``-?0x[0-9a-fA-F]+`` or ``-?\\d+``; -1 when too large."""
    neg = d[a] == 45
    s = a + 1 if neg else a
    if b - s > 64:
        return -1
    if b - s > 2 and d[s] == 48 and d[s + 1] == 120:  # hex
        k = s + 2
        while k < b and d[k] == 48:
            k += 1
        if b - k > 15:
            return -1
        v = 0
        while k < b:
            v = v * 16 + _hexval(d[k])
            k += 1
    else:
        octal = b - s > 1 and d[s] == 48
        if octal:
            for k in range(s, b):
                if d[k] >= 56:
                    octal = False
                    break
        k = s
        while k < b and d[k] == 48:
            k += 1
        if octal:
            if b - k > 20:
                return -1
            v = 0
            while k < b:
                v = v * 8 + d[k] - 48
                k += 1
        else:  # decimal: the digits without leading zeros
            if k == b:
                out[op] = 48
                return op + 1
            if neg:
                out[op] = 45
                op += 1
            for t in range(k, b):
                out[op] = d[t]
                op += 1
            return op
    if neg and v != 0:
        out[op] = 45
        op += 1
    return _put_uint(out, op, v)


@njit(cache=True, nogil=True, inline="always")
def _sep(d, j, e):
    """After an item ending at ``j``: the next item's start (``, ``), ``e`` at the end, -1 else."""
    if j == e:
        return e
    if j + 1 < e and d[j] == 44 and d[j + 1] == 32:
        return j + 2
    return -1


@njit(cache=True, nogil=True)
def _path_end(d, i, e):
    """``d[i] == '<'``: the index of the closing ``>`` of ``<([^<>\\[\\]]*|[a-zA-Z]*:\\[[^\\]]*\\])>``, or -1."""
    j = i + 1
    while j < e:
        c = d[j]
        if c == 62:
            return j
        if c == 60 or c == 91 or c == 93:
            break
        j += 1
    # second form: letters ":[" ... "]" ">"
    j = i + 1
    while j < e and ((65 <= d[j] <= 90) or (97 <= d[j] <= 122)):
        j += 1
    if j + 1 < e and d[j] == 58 and d[j + 1] == 91:
        j += 2
        while j < e and d[j] != 93:
            j += 1
        if j + 1 < e and d[j + 1] == 62:
            return j + 1
    return -1


@njit(cache=True, nogil=True)
def _item(d, i, e, out, op, tmp):
    """One item of ``decode._ITEM_ALTS`` at ``d[i]`` followed by ``, `` or the end ``e``.

    Returns (next item start or ``e``, new output position); next = -1 for "not sure".
    """
    c = d[i]
    if c == 34:  # "string" or "string"...
        j = _str_end(d, i, e)
        if j < 0:
            return -1, op
        if j + 3 <= e and d[j] == 46 and d[j + 1] == 46 and d[j + 2] == 46:
            nx = _sep(d, j + 3, e)
            if nx < 0:
                return -1, op
            op = _put_lit(out, op, 0)  # {"string":
            op = _put_text(d, i + 1, j - 1, out, op, tmp)
            op = _put_lit(out, op, 1)  # , "truncated": true}
            return nx, op
        nx = _sep(d, j, e)
        if nx < 0:
            return -1, op
        return nx, _put_text(d, i + 1, j - 1, out, op, tmp)
    if c == 45 or _isdigit(c):
        s = i + 1 if c == 45 else i
        j = s
        while j < e and _isdigit(d[j]):
            j += 1
        if j == s:
            return -1, op
        if j < e and d[j] == 60:  # fd<path>
            pe = _path_end(d, j, e)
            if pe < 0:
                return -1, op
            nx = _sep(d, pe + 1, e)
            if nx < 0:
                return -1, op
            op = _put_lit(out, op, 2)  # {"fd":
            op = _put_int(d, i, j, out, op)
            if op < 0:
                return -1, op
            op = _put_lit(out, op, 3)  # , "path":
            op = _put_text(d, j + 1, pe, out, op, tmp)
            out[op] = 125
            return nx, op + 1
        if j == s + 1 and d[s] == 48 and j + 1 < e and d[j] == 120 and _ishex(d[j + 1]):
            j += 1
            while j < e and _ishex(d[j]):
                j += 1
        nx = _sep(d, j, e)
        if nx < 0:
            return -1, op
        op = _put_int(d, i, j, out, op)
        if op < 0:
            return -1, op
        return nx, op
    if _isalpha_(c):
        j = i + 1
        while j < e and _isword(d[j]):
            j += 1
        if j < e and d[j] == 124:  # flag set A|B|0x10|8
            op0 = op
            out[op] = 91
            out[op + 1] = 34
            op += 2
            for t in range(i, j):
                out[op] = d[t]
                op += 1
            out[op] = 34
            op += 1
            while j < e and d[j] == 124:
                k = j + 1
                if k >= e:
                    return -1, op0
                c2 = d[k]
                out[op] = 44
                out[op + 1] = 32
                op += 2
                if _isalpha_(c2):
                    m = k + 1
                    while m < e and _isword(d[m]):
                        m += 1
                    out[op] = 34
                    op += 1
                    for t in range(k, m):
                        out[op] = d[t]
                        op += 1
                    out[op] = 34
                    op += 1
                elif _isdigit(c2):
                    m = k + 1
                    if c2 == 48 and m + 1 < e and d[m] == 120 and _ishex(d[m + 1]):
                        m += 1
                        while m < e and _ishex(d[m]):
                            m += 1
                    else:
                        while m < e and _isdigit(d[m]):
                            m += 1
                    op = _put_int(d, k, m, out, op)
                    if op < 0:
                        return -1, op0
                else:
                    return -1, op0
                j = m
            nx = _sep(d, j, e)
            if nx < 0:
                return -1, op0
            out[op] = 93
            return nx, op + 1
        if j < e and d[j] == 60:  # AT_FDCWD<path>
            if j - i != 8 or not (d[i] == 65 and d[i + 1] == 84 and d[i + 2] == 95 and d[i + 3] == 70
                                  and d[i + 4] == 68 and d[i + 5] == 67 and d[i + 6] == 87 and d[i + 7] == 68):
                return -1, op
            pe = _path_end(d, j, e)
            if pe < 0:
                return -1, op
            nx = _sep(d, pe + 1, e)
            if nx < 0:
                return -1, op
            op = _put_lit(out, op, 4)  # {"fd": "AT_FDCWD", "path":
            op = _put_text(d, j + 1, pe, out, op, tmp)
            out[op] = 125
            return nx, op + 1
        nx = _sep(d, j, e)
        if nx < 0:
            return -1, op
        if j - i == 4 and d[i] == 78 and d[i + 1] == 85 and d[i + 2] == 76 and d[i + 3] == 76:
            return nx, _put_lit(out, op, 5)  # null
        out[op] = 34
        op += 1
        for t in range(i, j):
            out[op] = d[t]
            op += 1
        out[op] = 34
        return nx, op + 1
    return -1, op


@njit(cache=True, nogil=True)
def _struct(d, i, e, out, op, tmp, ks, kl):
    """``{...}`` at ``d[i]`` (``decode._flat_struct``); returns (next item start, op) or -1."""
    # the extent: up to the first "}" outside strings; "{[]()" or an open string: not flat
    j = i + 1
    while j < e:
        c = d[j]
        if c == 125:
            break
        if c == 34:
            j = _str_end(d, j, e)
            if j < 0:
                return -1, op
            continue
        if c == 123 or c == 91 or c == 93 or c == 40 or c == 41:
            return -1, op
        j += 1
    if j >= e:
        return -1, op
    ce = j
    nx = _sep(d, ce + 1, e)
    if nx < 0:
        return -1, op
    out[op] = 123
    op += 1
    p = i + 1
    idx = 0
    nkeys = 0
    ells = 0
    while p < ce:
        if idx > 0:
            out[op] = 44
            out[op + 1] = 32
            op += 2
        keyed = False
        if _isalpha_(d[p]):
            k = p + 1
            while k < ce and _isword(d[k]):
                k += 1
            if k < ce and d[k] == 61:
                keyed = True
                if d[p] == 95:  # "_12" could collide with a positional key
                    allnum = k > p + 1
                    for t in range(p + 1, k):
                        if not _isdigit(d[t]):
                            allnum = False
                    if allnum:
                        return -1, op
                if nkeys >= ks.shape[0]:
                    return -1, op
                for t in range(nkeys):  # a repeated key: dict semantics, leave it to Python
                    if kl[t] == k - p:
                        same = True
                        for u in range(k - p):
                            if d[ks[t] + u] != d[p + u]:
                                same = False
                                break
                        if same:
                            return -1, op
                ks[nkeys] = p
                kl[nkeys] = k - p
                nkeys += 1
                out[op] = 34
                op += 1
                for t in range(p, k):
                    out[op] = d[t]
                    op += 1
                out[op] = 34
                out[op + 1] = 58
                out[op + 2] = 32
                op += 3
                p = k + 1
                if p >= ce:
                    return -1, op
        if p + 3 <= ce and d[p] == 46 and d[p + 1] == 46 and d[p + 2] == 46:
            q = _sep(d, p + 3, ce)
            if q < 0:
                return -1, op
            if keyed:
                op = _put_lit(out, op, 6)  # {"...": true}
            else:
                ells += 1
                if ells > 1:
                    return -1, op
                op = _put_lit(out, op, 7)  # "...": true
            p = q
        else:
            if not keyed:
                out[op] = 34
                out[op + 1] = 95
                op = _put_uint(out, op + 2, idx)
                out[op] = 34
                out[op + 1] = 58
                out[op + 2] = 32
                op += 3
            if d[p] == 123:
                return -1, op
            q, op = _item(d, p, ce, out, op, tmp)
            if q < 0:
                return -1, op
            p = q
        idx += 1
    out[op] = 125
    return nx, op + 1


# ---------------------------------------------------------------------------------------
# The full parser's subset (``decode._Parser``): rows whose text needs it (brackets,
# comments: the ``_NEEDS_FULL`` probe) or that the flat path rejects (``k=v`` elements).


@njit(cache=True, nogil=True)
def _probe(d, a, b):
    """``decode._NEEDS_FULL.search(decode._STR_BLANK.sub('""', text))`` is not None."""
    i = a
    while i < b:
        c = d[i]
        if c == 34:
            j = _str_end(d, i, b)
            if j > 0:
                i = j
                continue
        elif c == 60:
            j = i + 1
            while j < b and d[j] != 60 and d[j] != 62 and d[j] != 91 and d[j] != 93:
                j += 1
            if j < b and d[j] == 62:
                i = j + 1
                continue
            j = i + 1
            while j < b and ((65 <= d[j] <= 90) or (97 <= d[j] <= 122)):
                j += 1
            if j + 1 < b and d[j] == 58 and d[j + 1] == 91:
                j += 2
                while j < b and d[j] != 93:
                    j += 1
                if j + 1 < b and d[j + 1] == 62:
                    i = j + 2
                    continue
        elif (c == 91 or c == 93 or c == 40 or c == 41 or c == 47 or c == 126 or c == 64 or c == 42
              or c == 38 or (c == 61 and i + 1 < b and d[i + 1] == 62)):
            return True
        i += 1
    return False


@njit(cache=True, nogil=True, inline="always")
def _prim_start(c):
    return c == 34 or c == 45 or c == 46 or _isdigit(c) or _isalpha_(c)


@njit(cache=True, nogil=True)
def _leaf(d, i, e, out, op, tmp):
    """A number, a name or a string (what ``makedev(0x88, 0)`` and ``WIFEXITED(s)`` hold);
    (end, op) or -1."""
    c = d[i]
    if c == 34:
        j = _str_end(d, i, e)
        if j < 0:
            return -1, op
        if j + 3 <= e and d[j] == 46 and d[j + 1] == 46 and d[j + 2] == 46:
            op = _put_lit(out, op, 0)
            op = _put_text(d, i + 1, j - 1, out, op, tmp)
            return j + 3, _put_lit(out, op, 1)
        return j, _put_text(d, i + 1, j - 1, out, op, tmp)
    if c == 45 or _isdigit(c):
        s = i + 1 if c == 45 else i
        if s >= e or not _isdigit(d[s]):
            return -1, op
        if d[s] == 48 and s + 2 < e and d[s + 1] == 120 and _ishex(d[s + 2]):
            j = s + 2
            while j < e and _ishex(d[j]):
                j += 1
        else:
            j = s
            while j < e and _isdigit(d[j]):
                j += 1
        op = _put_int(d, i, j, out, op)
        if op < 0:
            return -1, op
        return j, op
    if _isalpha_(c):
        j = i + 1
        while j < e and _isword(d[j]):
            j += 1
        if j - i == 4 and d[i] == 78 and d[i + 1] == 85 and d[i + 2] == 76 and d[i + 3] == 76:
            return j, _put_lit(out, op, 5)
        out[op] = 34
        op += 1
        for t in range(i, j):
            out[op] = d[t]
            op += 1
        out[op] = 34
        return j, op + 1
    return -1, op


@njit(cache=True, nogil=True)
def _fcall(d, i, j, e, out, op, tmp):
    """``name(a, b)`` (name at ``d[i:j]``, ``d[j] == '('``) as ``{"call": name, "args": [...]}``
    when every argument is a number, a name or a string; (end, op) or -1."""
    op = _put_lit(out, op, 12)  # {"call": "
    for t in range(i, j):
        out[op] = d[t]
        op += 1
    op = _put_lit(out, op, 13)  # ", "args": [
    p = j + 1
    if p < e and d[p] == 41:
        out[op] = 93
        out[op + 1] = 125
        return p + 1, op + 2
    while p < e:
        q, op = _leaf(d, p, e, out, op, tmp)
        if q < 0 or q >= e:
            return -1, op
        if d[q] == 41:
            out[op] = 93
            out[op + 1] = 125
            return q + 1, op + 2
        if not (q + 2 < e and d[q] == 44 and d[q + 1] == 32 and d[q + 2] != 41):
            return -1, op
        out[op] = 44
        out[op + 1] = 32
        op += 2
        p = q + 2
    return -1, op


@njit(cache=True, nogil=True)
def _fprim(d, i, e, out, op, tmp):
    """One primary token of ``decode._TOKEN`` (string, number, name, fd<path>, ``...``) as
    ``_Parser._primary`` decodes it; returns (end of token, op), end -1 when unsure."""
    c = d[i]
    if c == 34:
        j = _str_end(d, i, e)
        if j < 0:
            return -1, op
        if j + 3 <= e and d[j] == 46 and d[j + 1] == 46 and d[j + 2] == 46:
            op = _put_lit(out, op, 0)
            op = _put_text(d, i + 1, j - 1, out, op, tmp)
            return j + 3, _put_lit(out, op, 1)
        return j, _put_text(d, i + 1, j - 1, out, op, tmp)
    if c == 46:
        if i + 2 < e and d[i + 1] == 46 and d[i + 2] == 46:
            return i + 3, _put_lit(out, op, 6)
        return -1, op
    if c == 45 or _isdigit(c):
        s = i + 1 if c == 45 else i
        if s >= e or not _isdigit(d[s]):
            return -1, op
        if d[s] == 48 and s + 2 < e and d[s + 1] == 120 and _ishex(d[s + 2]):
            j = s + 2
            while j < e and _ishex(d[j]):
                j += 1
        else:
            j = s
            while j < e and _isdigit(d[j]):
                j += 1
            if j + 1 < e and d[j] == 46 and _isdigit(d[j + 1]):  # a float: not typed here
                return -1, op
        if j < e and d[j] == 60:
            pe = _path_end(d, j, e)
            if pe < 0:
                return -1, op
            op = _put_lit(out, op, 2)
            op = _put_int(d, i, j, out, op)
            if op < 0:
                return -1, op
            op = _put_lit(out, op, 3)
            op = _put_text(d, j + 1, pe, out, op, tmp)
            out[op] = 125
            return pe + 1, op + 1
        op = _put_int(d, i, j, out, op)
        if op < 0:
            return -1, op
        return j, op
    if _isalpha_(c):
        j = i + 1
        while j < e and _isword(d[j]):
            j += 1
        if j < e and d[j] == 46:  # dotted names: not here
            return -1, op
        if j < e and d[j] == 40:
            return _fcall(d, i, j, e, out, op, tmp)
        if j < e and d[j] == 60:
            pe = _path_end(d, j, e)
            if pe < 0:
                return -1, op
            op = _put_lit(out, op, 8)  # {"fd": "
            for t in range(i, j):
                out[op] = d[t]
                op += 1
            out[op] = 34
            op = _put_lit(out, op + 1, 3)
            op = _put_text(d, j + 1, pe, out, op, tmp)
            out[op] = 125
            return pe + 1, op + 1
        if j - i == 4 and d[i] == 78 and d[i + 1] == 85 and d[i + 2] == 76 and d[i + 3] == 76:
            return j, _put_lit(out, op, 5)
        out[op] = 34
        op += 1
        for t in range(i, j):
            out[op] = d[t]
            op += 1
        out[op] = 34
        return j, op + 1
    return -1, op


@njit(cache=True, nogil=True)
def _fgroup(d, i, e, out, op, tmp, in_array):
    """``_Parser.parse_value`` over primaries joined by ``|`` (a flag list) or, in arrays, by
    single spaces (several elements); returns (end, op), end -1 when unsure."""
    op0 = op
    out[op] = 91  # "[" kept only for a flag list
    j, op = _fprim(d, i, e, out, op + 1, tmp)
    if j < 0:
        return -1, op0
    if j < e and d[j] == 124:
        while j < e and d[j] == 124:
            if j + 1 >= e or not _prim_start(d[j + 1]):
                return -1, op0
            out[op] = 44
            out[op + 1] = 32
            j, op = _fprim(d, j + 1, e, out, op + 2, tmp)
            if j < 0:
                return -1, op0
        if j < e and d[j] == 32 and j + 1 < e and d[j + 1] != 47:
            return -1, op0
        out[op] = 93
        return j, op + 1
    for t in range(op0 + 1, op):  # not a flag list: drop the "["
        out[t - 1] = out[t]
    op -= 1
    if in_array:
        while j + 1 < e and d[j] == 32 and _prim_start(d[j + 1]):
            out[op] = 44
            out[op + 1] = 32
            j, op = _fprim(d, j + 1, e, out, op + 2, tmp)
            if j < 0 or (j < e and d[j] == 124):
                return -1, op0
    return j, op


@njit(cache=True, nogil=True)
def _raw_expr(d, i, e, out, op, tmp):
    """``_Parser``'s ``_Raw`` path for an element at ``d[i]``: names, numbers and calls with
    plain arguments up to an operator ``_primary`` gives up on (``&& || == != = & ! + * % ^ -``),
    then ``_raw_from``'s extent (to ``,`` or a closing bracket at depth 0). Returns (end of
    the text, where the element stops) or (-1, -1) when unsure. ``out[op:]`` is scratch."""
    p = i
    trig = False
    while p < e:
        c = d[p]
        if c == 32:
            p += 1
        elif _isalpha_(c):
            j = p + 1
            while j < e and _isword(d[j]):
                j += 1
            if j < e and (d[j] == 46 or d[j] == 60):
                return -1, -1
            if j < e and d[j] == 40:
                j, _ = _fcall(d, p, j, e, out, op, tmp)
                if j < 0:
                    return -1, -1
            p = j
        elif _isdigit(c) or (c == 45 and p + 1 < e and _isdigit(d[p + 1])):
            s = p + 1 if c == 45 else p
            if d[s] == 48 and s + 2 < e and d[s + 1] == 120 and _ishex(d[s + 2]):
                j = s + 2
                while j < e and _ishex(d[j]):
                    j += 1
            else:
                j = s
                while j < e and _isdigit(d[j]):
                    j += 1
            if j < e and (d[j] == 46 or d[j] == 60):
                return -1, -1
            p = j
        elif c == 124:
            if p + 1 < e and d[p + 1] == 124:
                trig = True
                break
            p += 1
        elif c == 61:
            if p + 1 < e and d[p + 1] == 62:  # "=>" is parsed, not given up on
                return -1, -1
            trig = True
            break
        elif c == 38 or c == 33 or c == 43 or c == 42 or c == 37 or c == 94 or c == 45:
            trig = True
            break
        else:
            return -1, -1
    if not trig:
        return -1, -1
    depth = 0
    p = i
    last = i
    while p < e:
        c = d[p]
        if c == 40:
            depth += 1
        elif c == 41 or c == 93 or c == 125:
            if depth == 0:
                break
            if c != 41:
                return -1, -1
            depth -= 1
        elif c == 44:
            if depth == 0:
                break
        elif not (_isword(c) or c == 32 or c == 38 or c == 124 or c == 61 or c == 33 or c == 43 or c == 42
                  or c == 37 or c == 94 or c == 45):
            return -1, -1
        if c != 32:
            last = p + 1
        p += 1
    return last, p


@njit(cache=True, nogil=True)
def _put_raw(d, i, j, out, op):
    out[op] = 34
    op += 1
    for t in range(i, j):
        out[op] = d[t]
        op += 1
    out[op] = 34
    return op + 1


@njit(cache=True, nogil=True)
def _farray(d, i, e, out, op, tmp, ks, kl, allow_struct):
    """``[...]`` (``_Parser.parse_list("]")``) of primaries, flag lists, space-separated
    sets and (if allowed) structs; returns (end, op) or -1."""
    out[op] = 91
    op += 1
    p = i + 1
    if p < e and d[p] == 93:
        out[op] = 93
        return p + 1, op + 1
    while p < e:
        c = d[p]
        if c == 123 and allow_struct:
            p, op = _fstruct(d, p, e, out, op, tmp, ks, kl)
        elif _prim_start(c):
            v0 = op
            q, op = _fgroup(d, p, e, out, op, tmp, True)
            if q < 0 or not (q < e and (d[q] == 93 or d[q] == 44)):
                te, q = _raw_expr(d, p, e, out, v0, tmp)
                if te < 0:
                    return -1, op
                op = _put_raw(d, p, te, out, v0)
            p = q
        else:
            return -1, op
        if p < 0:
            return -1, op
        if p < e and d[p] == 93:
            out[op] = 93
            return p + 1, op + 1
        if p + 2 < e and d[p] == 44 and d[p + 1] == 32 and d[p + 2] != 93:
            out[op] = 44
            out[op + 1] = 32
            op += 2
            p += 2
        else:
            return -1, op
    return -1, op


@njit(cache=True, nogil=True)
def _fstruct(d, i, e, out, op, tmp, ks, kl):
    """``{...}`` as ``_Parser._struct(parse_list_pairs("}"))``: keyed or positional values
    (primaries, flag lists, ``...``, arrays, ``~[...]``, raw ``a*b`` text); (end, op) or -1."""
    out[op] = 123
    op += 1
    p = i + 1
    idx = 0
    nkeys = 0
    ells = 0
    while p < e:
        if d[p] == 125:
            out[op] = 125
            return p + 1, op + 1
        if idx > 0:
            out[op] = 44
            out[op + 1] = 32
            op += 2
        keyed = False
        if _isalpha_(d[p]):
            k = p + 1
            while k < e and _isword(d[k]):
                k += 1
            m = k
            while m < e and d[m] == 32:
                m += 1
            if m > k and m + 1 < e and d[m] == 61 and d[m + 1] != 61 and d[m + 1] != 62:
                return -1, op  # "a = 1": a key for Python too; not written here
            if k + 1 < e and d[k] == 61 and d[k + 1] != 61 and d[k + 1] != 62:
                keyed = True
                if d[p] == 95:
                    allnum = k > p + 1
                    for t in range(p + 1, k):
                        if not _isdigit(d[t]):
                            allnum = False
                    if allnum:
                        return -1, op
                if nkeys >= ks.shape[0]:
                    return -1, op
                for t in range(nkeys):
                    if kl[t] == k - p:
                        same = True
                        for u in range(k - p):
                            if d[ks[t] + u] != d[p + u]:
                                same = False
                                break
                        if same:
                            return -1, op
                ks[nkeys] = p
                kl[nkeys] = k - p
                nkeys += 1
                op = _put_raw(d, p, k, out, op)
                out[op] = 58
                out[op + 1] = 32
                op += 2
                p = k + 1
        c = d[p]
        if c == 46 and p + 3 < e and d[p + 1] == 46 and d[p + 2] == 46 and (d[p + 3] == 44 or d[p + 3] == 125):
            if keyed:
                op = _put_lit(out, op, 6)
            else:
                ells += 1
                if ells > 1:
                    return -1, op
                op = _put_lit(out, op, 7)
            p += 3
        else:
            if not keyed:
                out[op] = 34
                out[op + 1] = 95
                op = _put_uint(out, op + 2, idx)
                out[op] = 34
                out[op + 1] = 58
                out[op + 2] = 32
                op += 3
            v0 = op
            if c == 91:
                p, op = _farray(d, p, e, out, op, tmp, ks, kl, False)
            elif c == 126 and p + 1 < e and d[p + 1] == 91:
                op = _put_lit(out, op, 9)  # {"not":
                p, op = _farray(d, p + 1, e, out, op, tmp, ks, kl, False)
                out[op] = 125
                op += 1
            elif _prim_start(c):
                q, op = _fgroup(d, p, e, out, op, tmp, False)
                if q < 0 or not (q < e and (d[q] == 125 or d[q] == 44 or (d[q] == 32 and q + 1 < e and d[q + 1] == 47))):
                    te, q = _raw_expr(d, p, e, out, v0, tmp)
                    if te < 0:
                        return -1, op
                    op = _put_raw(d, p, te, out, v0)
                p = q
            else:
                return -1, op
            if p < 0:
                return -1, op
            if p + 3 < e and d[p] == 32 and d[p + 1] == 47 and d[p + 2] == 42:  # " /* comment */"
                p, op = _comment(d, p, e, out, v0, op)
                if p < 0:
                    return -1, op
        idx += 1
        if p < e and d[p] == 125:
            continue
        if p + 1 < e and d[p] == 44 and d[p + 1] == 32:
            p += 2
        else:
            return -1, op
    return -1, op


@njit(cache=True, nogil=True)
def _comment(d, p, e, out, v0, op):
    """`` /* text */`` at ``d[p]`` after a value written at ``out[v0:op]``: the value becomes
    ``{"value": ..., "comment": "text"}`` (``_Parser.parse_value``); (end, op) or -1."""
    q = p + 3
    while q + 1 < e and not (d[q] == 42 and d[q + 1] == 47):
        q += 1
    if q + 1 >= e:
        return -1, op
    cs = p + 3
    ce = q
    while cs < ce and d[cs] == 32:
        cs += 1
    while ce > cs and d[ce - 1] == 32:
        ce -= 1
    n = op - v0
    for t in range(n - 1, -1, -1):  # make room for {"value":
        out[v0 + 10 + t] = out[v0 + t]
    _put_lit(out, v0, 10)
    op = _put_lit(out, v0 + 10 + n, 11)  # , "comment": "
    for t in range(cs, ce):
        op = _put_ascii(out, op, d[t])
    out[op] = 34
    out[op + 1] = 125
    return q + 2, op + 2


@njit(cache=True, nogil=True)
def _full(d, a, b, out, op, tmp, ks, kl):
    """A whole argument list as ``_Parser(text).parse_list(None)``; returns op or -1."""
    out[op] = 91
    op += 1
    p = a
    first = True
    while p < b:
        if not first:
            out[op] = 44
            out[op + 1] = 32
            op += 2
        first = False
        v0 = op
        c = d[p]
        if c == 123:
            p, op = _fstruct(d, p, b, out, op, tmp, ks, kl)
        elif c == 91:
            p, op = _farray(d, p, b, out, op, tmp, ks, kl, True)
        elif c == 126 and p + 1 < b and d[p + 1] == 91:
            op = _put_lit(out, op, 9)
            p, op = _farray(d, p + 1, b, out, op, tmp, ks, kl, True)
            out[op] = 125
            op += 1
        elif _prim_start(c):
            q, op = _fgroup(d, p, b, out, op, tmp, False)
            if q < 0 or not (q == b or d[q] == 44 or (d[q] == 32 and q + 1 < b and d[q + 1] == 47)):
                te, q = _raw_expr(d, p, b, out, v0, tmp)
                if te < 0:
                    return -1
                op = _put_raw(d, p, te, out, v0)
            p = q
        else:
            return -1
        if p < 0:
            return -1
        if p + 3 < b and d[p] == 32 and d[p + 1] == 47 and d[p + 2] == 42:  # " /* comment */"
            p, op = _comment(d, p, b, out, v0, op)
            if p < 0:
                return -1
        if p == b:
            break
        if p + 2 < b and d[p] == 44 and d[p + 1] == 32:
            p += 2
        else:
            return -1
    out[op] = 93
    return op + 1



@njit(cache=True, nogil=True)
def decode_rows(offs, d, valid, r0, r1, out, oofs, op, fb, tmp, ks, kl):
    """Rows ``r0 <= r < r1`` of the column: JSON text into ``out`` from ``op`` (``oofs[r + 1]``
    = end of row r; null and fallback rows are empty, fallback rows get ``fb[r] = 1``).

    Stops early when ``out`` may not hold the next row; returns (next row, op).
    """
    cap = out.shape[0]
    r = r0
    while r < r1:
        a = offs[r]
        b = offs[r + 1]
        if op + 8 * (b - a) + 64 > cap:
            break
        if not valid[r]:
            oofs[r + 1] = op
            r += 1
            continue
        ok = True
        for t in range(a, b):
            c = d[t]
            if c < 32 or c > 126:
                ok = False
                break
        while a < b and d[a] == 32:
            a += 1
        while b > a and d[b - 1] == 32:
            b -= 1
        start = op
        full = ok and _probe(d, a, b)
        if ok and not full:
            out[op] = 91
            op += 1
            p = a
            first = True
            while p < b:
                if not first:
                    out[op] = 44
                    out[op + 1] = 32
                    op += 2
                first = False
                if d[p] == 123:
                    p, op = _struct(d, p, b, out, op, tmp, ks, kl)
                else:
                    p, op = _item(d, p, b, out, op, tmp)
                if p < 0 or op < 0:
                    ok = False
                    break
            if ok:
                out[op] = 93
                op += 1
            else:  # the flat path failed: Python goes on to the full parser, and so do we
                op = start
                full = True
                ok = True
        if ok and full:
            op = _full(d, a, b, out, start, tmp, ks, kl)
            ok = op >= 0
        if not ok:
            fb[r] = 1
            op = start
        oofs[r + 1] = op
        r += 1
    return r, op



# ---------------------------------------------------------------------------------------
# JSON Lines assembly (``syssense parse --format jsonl``): one line per row from column texts.

KIND_JSON, KIND_STR, KIND_FLOAT = 0, 1, 2


@njit(cache=True, nogil=True)
def _put_float(d, a, b, out, op, dg):
    """Arrow's shortest text of a double (``1.2e-5``, ``0.000012``, ``1e+16``, ``-0``) as
    Python's ``repr`` writes it (exponent when the decimal point is < -4 or > 16 places)."""
    neg = d[a] == 45
    i = a + 1 if neg else a
    if i < b and (d[i] == 105 or d[i] == 110):  # inf / nan: json.dumps' spelling
        if d[i] == 110:
            for c in (78, 97, 78):
                out[op] = c
                op += 1
            return op
        if neg:
            out[op] = 45
            op += 1
        for c in (73, 110, 102, 105, 110, 105, 116, 121):
            out[op] = c
            op += 1
        return op
    nd = 0
    intlen = -1
    while i < b and (_isdigit(d[i]) or d[i] == 46):
        if d[i] == 46:
            intlen = nd
        elif nd < 40:
            dg[nd] = d[i]
            nd += 1
        i += 1
    if intlen < 0:
        intlen = nd
    ex = 0
    if i < b and (d[i] == 101 or d[i] == 69):
        i += 1
        eneg = False
        if i < b and (d[i] == 45 or d[i] == 43):
            eneg = d[i] == 45
            i += 1
        while i < b:
            ex = ex * 10 + d[i] - 48
            i += 1
        if eneg:
            ex = -ex
    lo = 0
    while lo < nd and dg[lo] == 48:
        lo += 1
    hi = nd
    while hi > lo and dg[hi - 1] == 48:
        hi -= 1
    if neg:
        out[op] = 45
        op += 1
    if lo == hi:
        out[op] = 48
        out[op + 1] = 46
        out[op + 2] = 48
        return op + 3
    decpt = intlen - lo + ex  # value = 0.D * 10**decpt
    n = hi - lo
    if decpt <= -4 or decpt > 16:
        out[op] = dg[lo]
        op += 1
        if n > 1:
            out[op] = 46
            op += 1
            for t in range(lo + 1, hi):
                out[op] = dg[t]
                op += 1
        out[op] = 101
        e = decpt - 1
        if e < 0:
            out[op + 1] = 45
            e = -e
        else:
            out[op + 1] = 43
        op += 2
        if e < 10:
            out[op] = 48
            op += 1
        return _put_uint(out, op, e)
    if decpt <= 0:
        out[op] = 48
        out[op + 1] = 46
        op += 2
        for _ in range(-decpt):
            out[op] = 48
            op += 1
        for t in range(lo, hi):
            out[op] = dg[t]
            op += 1
        return op
    if decpt >= n:
        for t in range(lo, hi):
            out[op] = dg[t]
            op += 1
        for _ in range(decpt - n):
            out[op] = 48
            op += 1
        out[op] = 46
        out[op + 1] = 48
        return op + 2
    for t in range(lo, lo + decpt):
        out[op] = dg[t]
        op += 1
    out[op] = 46
    op += 1
    for t in range(lo + decpt, hi):
        out[op] = dg[t]
        op += 1
    return op


@njit(cache=True, nogil=True)
def jsonl_rows(r0, n, offs, datas, valid, kinds, keys, key_at, out, oofs, op):
    """Rows ``r0 <= r < n`` as JSON lines ``{"k": v, ...}\\n`` into ``out`` from ``op``: for
    each column c with ``valid[c, r]`` its key text then its value (``KIND_JSON``: copied;
    ``KIND_STR``: a JSON string of UTF-8 text, as ``json.dumps(ensure_ascii=False)``;
    ``KIND_FLOAT``: Arrow's float text as Python's ``repr``). Stops when the next row may
    not fit; returns (next row, op)."""
    cap = out.shape[0]
    ncol = kinds.shape[0]
    dg = np.empty(40, np.uint8)
    r = r0
    while r < n:
        need = 4
        for c in range(ncol):
            if valid[c, r]:
                ln = offs[c, r + 1] - offs[c, r]
                need += key_at[c + 1] - key_at[c] + 2 + (6 * ln + 2 if kinds[c] == KIND_STR else ln + 8)
        if op + need > cap:
            break
        out[op] = 123
        op += 1
        first = True
        for c in range(ncol):
            if not valid[c, r]:
                continue
            if not first:
                out[op] = 44
                out[op + 1] = 32
                op += 2
            first = False
            for t in range(key_at[c], key_at[c + 1]):
                out[op] = keys[t]
                op += 1
            d = datas
            a = offs[c, r]
            b = offs[c, r + 1]
            k = kinds[c]
            if k == KIND_JSON:
                out[op:op + b - a] = d[a:b]
                op += b - a
            elif k == KIND_STR:
                out[op] = 34
                op += 1
                t = a
                while t < b:  # runs that need no escape are copied whole (bytes >= 0x80 too)
                    u = t
                    while u < b and d[u] >= 32 and d[u] != 34 and d[u] != 92:
                        u += 1
                    out[op:op + u - t] = d[t:u]
                    op += u - t
                    if u < b:
                        op = _put_ascii(out, op, d[u])
                        u += 1
                    t = u
                out[op] = 34
                op += 1
            else:
                op = _put_float(d, a, b, out, op, dg)
        out[op] = 125
        out[op + 1] = 10
        op += 2
        oofs[r + 1] = op
        r += 1
    return r, op
