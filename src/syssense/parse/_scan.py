"""Compiled byte scanner for the strace fast path (numba; one pass per line).

:func:`scan_block` classifies every line of a block (complete call, ``<unfinished ...>``,
``<... resumed>``, or "other": left to the line grammar) and extracts the core fields as
integers and byte spans into preallocated NumPy arrays. It accepts exactly the lines the
fast path's regular expressions accepted (head ``[pid] [ts] name(`` / ``<... name
resumed>``; tail ``) = ret[<path>] [E.. (msg)] [(notes)...] [<dur>]``) and sends every
other line to the line grammar, so both paths still share one definition of the format.

:func:`gather` builds an Arrow string column (int32 offsets + bytes) from spans. The
assembly kernels below it intern names (:func:`intern_rows`), find ``-y`` decodings as spans
(:func:`fd_spans`), pair unfinished and resumed halves block by block (:class:`HalfPairer`)
and write every output column once (:func:`gather_rows`, :func:`gather_fd_json`,
:func:`take_place`). If numba cannot be imported, :data:`AVAILABLE` is False and the
caller keeps the NumPy/RE2 path.
"""

from __future__ import annotations

import threading

import numpy as np

from ._nb import AVAILABLE, _isdigit, _ishex, _isword, njit

try:  # pragma: no cover - exercised by the fallback test through AVAILABLE
    from numba.core import cgutils
    from numba.core import types as _nbt
    from numba.extending import intrinsic

    @intrinsic
    def _memcpy(typingctx, dst, doff, src, soff, n):  # noqa: ARG001 - numba's signature
        """``dst[doff:doff+n] = src[soff:soff+n]`` as one LLVM memcpy (no per-byte loop)."""
        sig = _nbt.void(dst, doff, src, soff, n)

        def codegen(context, builder, signature, args):
            d, do, sr, so, m = args
            dptr = builder.gep(context.make_array(signature.args[0])(context, builder, d).data, [do])
            sptr = builder.gep(context.make_array(signature.args[2])(context, builder, sr).data, [so])
            cgutils.raw_memcpy(builder, dptr, sptr, m, 1)
            return context.get_dummy_value()

        return sig, codegen
except Exception:  # numba missing or broken: the RE2 path is used instead
    AVAILABLE = False

    def _memcpy(dst, doff, src, soff, n):  # type: ignore[no-redef]
        dst[doff : doff + n] = src[soff : soff + n]


KIND_SLOW, KIND_CALL, KIND_UNF, KIND_RES = 0, 1, 2, 3
PID_NONE, PID_PLAIN, PID_BRACKET = 0, 1, 2
TS_NONE, TS_NUM = 0, 1

_UNF = np.frombuffer(b" <unfinished ...>", np.uint8).copy()
_RESUMED = np.frombuffer(b" resumed>", np.uint8).copy()


_POW10 = np.array([10.0**k for k in range(23)])  # exact doubles


@njit(cache=True, nogil=True, inline="always")
def _fixed(v, nd, k, pow10):
    """``v / 10**k`` (the value of ``nd`` digits, ``k`` of them after the point) as the
    correctly rounded double (both exact, so IEEE division rounds the true quotient once),
    or NaN when the digits do not fit 2**53 exactly (then Arrow's cast of the text is used)."""
    if nd > 18 or v > 9007199254740992 or k > 22:
        return np.nan
    return v / pow10[k]


@njit(cache=True, nogil=True, inline="always")
def _decimal(buf, i, e):
    """``DIGITS.DIGITS`` from ``buf[i]``: (value of all the digits, digits before the point,
    digits after it, end); the digit counts are 0 when the text is not of that form."""
    j = i
    v = 0
    while j < e and _isdigit(buf[j]):
        v = v * 10 + (buf[j] - 48)
        j += 1
    ni = j - i
    if ni == 0 or j >= e or buf[j] != 46:
        return v, 0, 0, j
    j += 1
    d = j
    while j < e and _isdigit(buf[j]):
        v = v * 10 + (buf[j] - 48)
        j += 1
    return v, ni, j - d, j


@njit(cache=True, nogil=True)
def _count_lines(buf):
    n = 0
    for k in range(len(buf)):
        if buf[k] == 10:
            n += 1
    return n


@njit(cache=True, nogil=True)
def _scan(buf, pid_mode, ts_mode, unf, resumed, pow10, n, start, end, sp, num):  # noqa: C901 - one pass
    """Scan ``n`` lines; ``start``, ``end``, ``sp``, ``num`` are caller's buffers of at least
    ``n`` rows (reused across blocks: no fresh pages for each block)."""
    nbuf = len(buf)
    kind = np.zeros(n, np.int8)
    pid = np.zeros(n, np.int64)
    pid_ok = np.zeros(n, np.bool_)
    ret = np.zeros(n, np.int64)
    ret_ok = np.zeros(n, np.bool_)
    start = start[:n]
    end = end[:n]
    # spans: ts, name, args, rpath, errno, notes, dur  (a == -1: absent)
    sp = sp[:n]
    sp[:] = -1
    num = num[:n]  # ts, duration as doubles (NaN: absent or use the text)
    num[:] = np.nan
    ulen = len(unf)
    nls = np.empty(n, np.int64)  # newline positions first: a tight loop, then line by line
    li = 0
    for k in range(nbuf):
        if buf[k] == 10:
            nls[li] = k
            li += 1
    for line in range(n):
        e = nls[line]
        ls = nls[line - 1] + 1 if line > 0 else 0
        start[line] = ls
        end[line] = e
        i = ls
        # ---- pid prefix
        if pid_mode == 1:
            j = i
            v = 0
            while j < e and _isdigit(buf[j]):
                v = v * 10 + (buf[j] - 48)
                j += 1
            if j == i or j - i > 18 or j >= e or buf[j] != 32:
                continue
            while j < e and buf[j] == 32:
                j += 1
            pid[line] = v
            pid_ok[line] = True
            i = j
        elif pid_mode == 2 and i < e and buf[i] == 91:
            if i + 4 >= e or buf[i + 1] != 112 or buf[i + 2] != 105 or buf[i + 3] != 100 or buf[i + 4] != 32:
                continue
            j = i + 4
            while j < e and buf[j] == 32:
                j += 1
            d = j
            v = 0
            while j < e and _isdigit(buf[j]):
                v = v * 10 + (buf[j] - 48)
                j += 1
            if j == d or j - d > 18 or j + 1 >= e or buf[j] != 93 or buf[j + 1] != 32:
                continue
            j += 1
            while j < e and buf[j] == 32:
                j += 1
            pid[line] = v
            pid_ok[line] = True
            i = j
        # ---- timestamp
        if ts_mode == 1:
            v, ni, nf, j = _decimal(buf, i, e)
            if nf == 0 or j >= e or buf[j] != 32:
                continue
            sp[line, 0] = i
            sp[line, 1] = j
            num[line, 0] = _fixed(v, ni + nf, nf, pow10)
            while j < e and buf[j] == 32:
                j += 1
            i = j
        if i >= e:
            continue
        # ---- name( or <... name resumed>
        c = buf[i]
        is_res = False
        if (65 <= c <= 90) or (97 <= c <= 122) or c == 95:
            j = i + 1
            while j < e and _isword(buf[j]):
                j += 1
            if j >= e or buf[j] != 40:
                continue
            sp[line, 2] = i
            sp[line, 3] = j
            argstart = j + 1
        elif c == 60 and i + 5 < e and buf[i + 1] == 46 and buf[i + 2] == 46 and buf[i + 3] == 46 and buf[i + 4] == 32:
            j = i + 5
            c = buf[j]
            if not ((65 <= c <= 90) or (97 <= c <= 122) or c == 95):
                continue
            na = j
            j += 1
            while j < e and _isword(buf[j]):
                j += 1
            nb = j
            if j + len(resumed) > e:
                continue
            okr = True
            for t in range(len(resumed)):
                if buf[j + t] != resumed[t]:
                    okr = False
                    break
            if not okr:
                continue
            sp[line, 2] = na
            sp[line, 3] = nb
            g = j + len(resumed) - 1  # the '>'
            argstart = g + 1
            if g + 1 < e and buf[g + 1] == 32:
                argstart += 1
            is_res = True
        else:
            continue
        # ---- unfinished
        if not is_res and e - ls > ulen:
            okf = True
            for t in range(ulen):
                if buf[e - ulen + t] != unf[t]:
                    okf = False
                    break
            if okf:
                sp[line, 4] = argstart
                sp[line, 5] = e - ulen
                kind[line] = 2
                continue
        # ---- tail: the last " = " at or after argstart, the last ')' before it
        q = -1
        j = e - 1
        while j >= argstart:
            if buf[j] == 61 and j > 0 and buf[j - 1] == 32 and buf[j + 1] == 32:
                q = j
                break
            j -= 1
        if q < 0:
            continue
        cp = -1
        j = q - 1
        while j >= argstart - 1:
            if buf[j] == 41:
                cp = j
                break
            j -= 1
        if cp < 0:
            continue
        j = cp + 1
        while j < e and buf[j] == 32:
            j += 1
        if j + 1 >= e or buf[j] != 61 or buf[j + 1] != 32:
            continue
        j += 2
        if j >= e:
            continue
        # ret
        is_num = False
        if buf[j] == 63:
            j += 1
        elif buf[j] == 48 and j + 2 < e and buf[j + 1] == 120 and _ishex(buf[j + 2]):
            j += 2
            u = np.uint64(0)
            while j < e and _ishex(buf[j]):
                h = buf[j]
                if h <= 57:
                    dv = h - 48
                elif h <= 70:
                    dv = h - 55
                else:
                    dv = h - 87
                u = (u << np.uint64(4)) | np.uint64(dv)
                j += 1
            ret[line] = np.int64(u)
            ret_ok[line] = True
            is_num = True
        else:
            neg = False
            if buf[j] == 45:
                neg = True
                j += 1
            d = j
            v = 0
            while j < e and _isdigit(buf[j]):
                v = v * 10 + (buf[j] - 48)
                j += 1
            if j == d or j - d > 18:
                continue
            ret[line] = -v if neg else v
            ret_ok[line] = True
            is_num = True
        # ret path: <( <[^<>\n]*> | [^>\[\n] | \[[^\]\n]*\] )*>
        if is_num and j < e and buf[j] == 60:
            j += 1
            pa_ = j
            bad = False
            while True:
                if j >= e:
                    bad = True
                    break
                c = buf[j]
                if c == 62:
                    break
                if c == 60:
                    t = j + 1
                    while t < e and buf[t] != 60 and buf[t] != 62:
                        t += 1
                    if t < e and buf[t] == 62:
                        j = t + 1
                    else:
                        j += 1
                elif c == 91:
                    t = j + 1
                    while t < e and buf[t] != 93:
                        t += 1
                    if t >= e:
                        bad = True
                        break
                    j = t + 1
                else:
                    j += 1
            if bad:
                continue
            if j > pa_:
                sp[line, 6] = pa_
                sp[line, 7] = j
            j += 1
        # errno
        if j + 1 < e and buf[j] == 32 and buf[j + 1] == 69:
            t = j + 2
            while t < e and ((65 <= buf[t] <= 90) or _isdigit(buf[t]) or buf[t] == 95 or buf[t] == 63):
                t += 1
            if t == j + 2 or t + 1 >= e or buf[t] != 32 or buf[t + 1] != 40:
                continue
            ea = j + 1
            eb = t
            t += 2
            while t < e and buf[t] != 40 and buf[t] != 41:
                t += 1
            if t >= e or buf[t] != 41:
                continue
            sp[line, 8] = ea
            sp[line, 9] = eb
            j = t + 1
        # notes: ( " (" ( [^()] | \([^()]*\) )* ")" )*
        na = j
        bad = False
        while j + 1 < e and buf[j] == 32 and buf[j + 1] == 40:
            t = j + 2
            closed = False
            while t < e:
                c = buf[t]
                if c == 41:
                    closed = True
                    break
                if c == 40:
                    t += 1
                    while t < e and buf[t] != 40 and buf[t] != 41:
                        t += 1
                    if t >= e or buf[t] != 41:
                        break
                t += 1
            if not closed:
                bad = True
                break
            j = t + 1
        if bad:
            continue
        if j > na:
            sp[line, 10] = na + 1
            sp[line, 11] = j
        # duration
        if j + 1 < e and buf[j] == 32 and buf[j + 1] == 60:
            d = j + 2
            v, ni, nf, t = _decimal(buf, d, e)
            if nf == 0 or t >= e or buf[t] != 62:
                continue
            sp[line, 12] = d
            sp[line, 13] = t
            num[line, 1] = _fixed(v, ni + nf, nf, pow10)
            j = t + 1
        if j != e:
            continue
        sp[line, 4] = argstart if argstart <= cp else cp
        sp[line, 5] = cp
        kind[line] = 3 if is_res else 1
    return kind, start, end, pid, pid_ok, sp, ret, ret_ok, num


def scan_block(buf: np.ndarray, pid_mode: int, ts_mode: int) -> tuple[np.ndarray, ...]:
    """Scan a block of whole lines (uint8, each ending in a newline).

    Returns (kind, start, end, pid, pid_ok, spans[n, 14], ret, ret_ok, num[n, 2]); span
    pairs are ts, name, args, ret_path, errno, note, duration (``-1`` where absent); ``num``
    holds ts and duration as doubles where their digits fit exactly (else NaN).
    """
    n = _count_lines(buf)
    return _scan(buf, pid_mode, ts_mode, _UNF, _RESUMED, _POW10, n, np.empty(n, np.int64), np.empty(n, np.int64),
                 np.empty((n, 14), np.int64), np.empty((n, 2)))


_SCRATCH = threading.local()


def scan_block_reusing(buf: np.ndarray, pid_mode: int, ts_mode: int) -> tuple[np.ndarray, ...]:
    """:func:`scan_block` with this thread's scratch buffers for ``start``, ``end``,
    ``spans`` and ``num``: those four come back as views that the thread's next call
    overwrites (copy what must outlive it); the other arrays are the caller's."""
    n = _count_lines(buf)
    cap = getattr(_SCRATCH, "cap", -1)
    if cap < n:
        cap = max(n + n // 4, 1024)
        _SCRATCH.cap = cap
        _SCRATCH.bufs = (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty((cap, 14), np.int64),
                         np.empty((cap, 2)))
    return _scan(buf, pid_mode, ts_mode, _UNF, _RESUMED, _POW10, n, *_SCRATCH.bufs)


@njit(cache=True, nogil=True)
def _gather(buf, a, b):
    n = len(a)
    offs = np.empty(n + 1, np.int32)
    tot = 0
    offs[0] = 0
    for k in range(n):
        if a[k] >= 0:
            tot += b[k] - a[k]
        offs[k + 1] = tot
    data = np.empty(tot, np.uint8)
    p = 0
    for k in range(n):
        if a[k] >= 0:
            m = b[k] - a[k]
            data[p : p + m] = buf[a[k] : b[k]]
            p += m
    return offs, data


def gather(buf: np.ndarray, a: np.ndarray, b: np.ndarray, nullable: bool = True):
    """An Arrow string array of ``buf[a[i]:b[i]]`` (null where ``a[i] < 0``)."""
    import pyarrow as pa

    n = len(a)
    offs, data = _gather(buf, a, b)
    if offs[-1] >= 2**31 - 1:  # pragma: no cover - blocks are a few MB
        raise ValueError("block too large")
    valid = a >= 0
    if nullable and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.StringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(data), bitmap, n - int(valid.sum()))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(data))


@njit(cache=True, nogil=True)
def _fd_one(buf, a, b):
    """For one argument text: (code, fd start, '<', '>'); code 0 none, 1 one decoding, 2 hard."""
    lt = -1
    n_lt = 0
    outside = 0  # '<' outside string literals (the line grammar blanks those first)
    t = a
    while t < b:
        c = buf[t]
        if c == 34:
            t += 1
            while t < b and buf[t] != 34:
                if buf[t] == 92:
                    t += 1
                elif buf[t] == 60:
                    n_lt += 1
                t += 1
            if t >= b:
                return 2, 0, 0, 0  # unterminated literal: the line grammar decides
            t += 1
            continue
        if c == 60:
            n_lt += 1
            outside += 1
            lt = t
        t += 1
    if outside == 0:  # none, or all inside literals: no decoding (as the line grammar finds)
        return 0, 0, 0, 0
    if outside > 1:
        return 2, 0, 0, 0
    quoted = n_lt > outside  # other '<' only inside literals (e.g. write(1</x>, "<a>", 3))
    return _fd_decode(buf, a, b, lt, quoted)


@njit(cache=True, nogil=True)
def _fd_decode(buf, a, b, lt, quoted):
    """The decoding around the one ``'<'`` at ``lt``: (code, fd start, '<', '>') as :func:`_fd_one`."""
    fd_a = lt
    steps = 0
    while steps < 10 and fd_a - 1 >= a and 48 <= buf[fd_a - 1] <= 57:
        fd_a -= 1
        steps += 1
    digits = fd_a < lt
    if not digits and lt - a >= 8:
        at = True
        for t in range(8):
            if buf[lt - 8 + t] != _ATFDCWD[t]:
                at = False
                break
        if at:
            fd_a -= 8
    before = buf[fd_a - 1] if fd_a > a else 32
    if fd_a >= lt or not (before == 32 or before == 40 or before == 91 or before == 123):
        return 2, 0, 0, 0
    # the path ends at the first '>' outside [...] groups (the line grammar's PATH_PAT)
    gt = -1
    t = lt + 1
    while t < b:
        c = buf[t]
        if c == 62:
            gt = t
            break
        if quoted and c == 34:  # the path would run into a literal: the line grammar decides
            return 2, 0, 0, 0
        if c == 91:
            u = t + 1
            while u < b and buf[u] != 93:
                if quoted and buf[u] == 34:
                    return 2, 0, 0, 0
                u += 1
            if u >= b:  # an unclosed '[': the line grammar decides
                return 2, 0, 0, 0
            t = u
        t += 1
    if gt < 0:
        return 2, 0, 0, 0
    return 1, fd_a, lt, gt


_ATFDCWD = np.frombuffer(b"AT_FDCWD", np.uint8).copy()


@njit(cache=True, nogil=True)
def _fd_fast(buf, a, b):
    """:func:`_fd_one`'s answer without walking string literals in the common case: one
    ``'<'`` in the whole text, before any ``'"'``, and a path that ends before any ``'"'``
    (then blanking literals, as the line grammar does, cannot change the decoding)."""
    cnt = 0
    for t in range(a, b):
        cnt += buf[t] == 60
    if cnt == 0:
        return 0, 0, 0, 0
    if cnt == 1:
        lt = a
        while buf[lt] != 60:
            lt += 1
        clean = True
        for t in range(a, lt):
            if buf[t] == 34:
                clean = False
                break
        if clean:
            c, x, y, z = _fd_decode(buf, a, b, lt, True)
            if c == 1:
                return c, x, y, z
    return _fd_one(buf, a, b)


@njit(cache=True, nogil=True, inline="always")
def _fd_json_len(buf, f, lt, gt):
    """Length of ``{"FD": "PATH"}`` for the decoding ``buf[f:lt]<buf[lt+1:gt]>`` (one more
    byte for each ``\\`` or ``"`` of the path, escaped)."""
    m = 8 + (lt - f) + (gt - lt - 1)
    for t in range(lt + 1, gt):
        c = buf[t]
        m += (c == 92) | (c == 34)
    return m


@njit(cache=True, nogil=True)
def _put_fd_json(data, p, end, buf, f, lt, gt):
    """Write ``{"FD": "PATH"}`` of the decoding ``buf[f:lt]<buf[lt+1:gt]>`` at ``data[p:end]``
    (``end - p`` from :func:`_fd_json_len`)."""
    data[p] = 123
    data[p + 1] = 34
    p += 2
    m = np.int64(lt - f)
    _memcpy(data, p, buf, f, m)
    p += m
    data[p] = 34
    data[p + 1] = 58
    data[p + 2] = 32
    data[p + 3] = 34
    p += 4
    m = np.int64(gt - lt - 1)
    if end - p == m + 2:  # no character to escape: one copy
        _memcpy(data, p, buf, lt + 1, m)
        p += m
    else:
        for t in range(lt + 1, gt):
            c = buf[t]
            if c == 92 or c == 34:
                data[p] = 92
                p += 1
            data[p] = c
            p += 1
    data[p] = 34
    data[p + 1] = 125


@njit(cache=True, nogil=True)
def _fd_spans(buf, a, b):
    """Per argument span: (code, fd start, '<', '>') as :func:`_fd_one` (int32; code 0 none,
    1 one decoding, 2 for the line grammar); the JSON is written later from these spans."""
    n = len(a)
    code = np.zeros(n, np.int8)
    fa = np.full(n, -1, np.int32)
    lt = np.zeros(n, np.int32)
    gt = np.zeros(n, np.int32)
    for k in range(n):
        if a[k] < 0:
            continue
        c, x, y, z = _fd_fast(buf, a[k], b[k])
        code[k] = c
        if c == 1:
            fa[k] = x
            lt[k] = y
            gt[k] = z
    return code, fa, lt, gt


@njit(cache=True, nogil=True)
def _fd_paths(buf, a, b):
    """(code, int32 offsets, bytes) of the ``fd_paths`` JSON texts of argument spans."""
    code, fa, lt, gt = _fd_spans(buf, a, b)
    n = len(a)
    offs = np.zeros(n + 1, np.int32)
    tot = 0
    for k in range(n):
        if code[k] == 1:
            tot += _fd_json_len(buf, fa[k], lt[k], gt[k])
        offs[k + 1] = tot
    data = np.empty(tot, np.uint8)
    for k in range(n):
        if code[k] == 1:
            _put_fd_json(data, np.int64(offs[k]), np.int64(offs[k + 1]), buf,
                         np.int64(fa[k]), np.int64(lt[k]), np.int64(gt[k]))
    return code, offs, data


def fd_paths(buf: np.ndarray, a: np.ndarray, b: np.ndarray):
    """The ``fd_paths`` JSON texts of argument spans: (Arrow strings, rows needing the line grammar).

    One ``-y`` decoding (``3</etc/passwd>``, ``AT_FDCWD</tmp>``) is settled here exactly as
    the NumPy version did; argument lists with several ``<`` (or an odd shape) are returned
    as "hard" rows for :func:`._stream.fd_paths_json`.
    """
    import pyarrow as pa

    n = len(a)
    code, offs, data = _fd_paths(buf, a, b)
    valid = code == 1
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(data), bitmap, n - int(valid.sum()))
    return arr, np.flatnonzero(code == 2)


# --------------------------------------------------------------------------- assembly
# The kernels below let the fast path build its events table without per-block Arrow
# tables: blocks keep their bytes and per-row integers/spans; names are interned per
# block; halves are paired in one pass; every string column is copied once, in output
# order, straight from the blocks' bytes.

_FNV0 = np.uint64(14695981039346656037)
_FNV1 = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def _intern(buf, a, b):
    """Codes 0.. for the distinct byte strings ``buf[a[i]:b[i]]`` (-1 where ``a[i] < 0``),
    in order of first appearance, with the span of each code's first occurrence."""
    n = len(a)
    size = 64
    while size < 2 * n + 2:
        size *= 2
    mask = size - 1
    slots = np.full(size, -1, np.int64)
    codes = np.full(n, -1, np.int32)
    ra = np.empty(n, np.int64)
    rb = np.empty(n, np.int64)
    hs = np.empty(n, np.uint64)
    m = 0
    for k in range(n):
        x = a[k]
        if x < 0:
            continue
        y = b[k]
        h = _FNV0
        for t in range(x, y):
            h = (h ^ np.uint64(buf[t])) * _FNV1
        slot = np.int64(h & np.uint64(mask))
        while True:
            c = slots[slot]
            if c < 0:
                slots[slot] = m
                ra[m] = x
                rb[m] = y
                hs[m] = h
                codes[k] = m
                m += 1
                break
            if hs[c] == h and rb[c] - ra[c] == y - x:
                same = True
                o = ra[c] - x
                for t in range(x, y):
                    if buf[t] != buf[t + o]:
                        same = False
                        break
                if same:
                    codes[k] = c
                    break
            slot = (slot + 1) & mask
    return codes, ra[:m].copy(), rb[:m].copy()


def intern(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    """(codes, names): ``buf[a[i]:b[i]] == names[codes[i]]``; code -1 where ``a[i] < 0``."""
    codes, ra, rb = _intern(buf, a, b)
    return codes, [bytes(buf[x:y]) for x, y in zip(ra.tolist(), rb.tolist(), strict=True)]


@njit(cache=True, nogil=True, inline="always")
def _slot(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@njit(cache=True, nogil=True)
def _pair_range(kind, pid, pid_ok, code, partner, lo, hi, tkey, tval, used):
    """Pair the halves of rows ``lo:hi`` (line order), continuing from the state ``tkey``,
    ``tval`` (an open-addressing table pid -> last half row; the caller keeps it at most
    half full) and ``used`` (its live entries, returned updated).

    A resumed row (kind 3) belongs to the last half seen for its pid (-1 when the line
    has none) when that half is an unfinished call (kind 2) of the same name (code): both
    get the other's row in ``partner``. Same result as sorting the halves by (pid, line)
    and pairing neighbours.
    """
    mask = len(tkey) - 1
    for i in range(lo, hi):
        k = kind[i]
        if k != 2 and k != 3:
            continue
        pk = pid[i] if pid_ok[i] else -1
        sl = _slot(pk, mask)
        while tval[sl] >= 0 and tkey[sl] != pk:
            sl = (sl + 1) & mask
        j = tval[sl]
        if k == 3 and j >= 0 and kind[j] == 2 and code[j] == code[i]:
            partner[j] = i
            partner[i] = j
        if j < 0:
            used += 1
            tkey[sl] = pk
        tval[sl] = i
    return used


@njit(cache=True, nogil=True)
def _pair_rehash(tkey, tval, size):
    """The table's live entries in a table of ``size`` slots."""
    mask = size - 1
    tkey2 = np.zeros(size, np.int64)
    tval2 = np.full(size, -1, np.int64)
    for t in range(len(tkey)):
        if tval[t] >= 0:
            s2 = _slot(tkey[t], mask)
            while tval2[s2] >= 0:
                s2 = (s2 + 1) & mask
            tkey2[s2] = tkey[t]
            tval2[s2] = tval[t]
    return tkey2, tval2


class HalfPairer:
    """Incremental :func:`_pair_range`: feed rows block by block (``partner`` is filled in
    place; pass the current arrays each time, they may have been reallocated)."""

    def __init__(self) -> None:
        self.tkey = np.zeros(1024, np.int64)
        self.tval = np.full(1024, -1, np.int64)
        self.used = 0

    def feed(self, kind, pid, pid_ok, code, partner, lo: int, hi: int) -> None:
        # room for every half of the range being a new pid (the table stays at most half full)
        need = 2 * (self.used + int(np.count_nonzero(kind[lo:hi] >= 2)))
        if need > len(self.tval):
            size = len(self.tval)
            while size < need:
                size *= 2
            self.tkey, self.tval = _pair_rehash(self.tkey, self.tval, size)
        self.used = _pair_range(kind, pid, pid_ok, code, partner, lo, hi, self.tkey, self.tval, self.used)


def pair_halves(kind: np.ndarray, key: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Partner row of each unfinished/resumed half (-1: none); ``key`` is the pid (-1: none)."""
    partner = np.full(len(kind), -1, np.int64)
    HalfPairer().feed(kind, key, np.ones(len(kind), np.bool_), code, partner, 0, len(kind))
    return partner


_EMPTY_I64 = np.zeros(0, np.int64)
_EMPTY_U8 = np.zeros(0, np.uint8)


@njit(cache=True, nogil=True)
def _other_lens(o_a, o_b, o_pos, offs, valid):
    """The lengths and validity of the other strings (string ``k`` at ``o_pos[k]``, null where
    ``o_a[k] < 0``) into ``offs[1:]``/``valid``, then the lengths summed into offsets."""
    for k in range(len(o_pos)):
        o = o_pos[k]
        if o_a[k] >= 0:
            offs[o + 1] = o_b[k] - o_a[k]
            valid[o] = True
        else:
            offs[o + 1] = 0
            valid[o] = False
    for i in range(len(valid)):
        offs[i + 1] += offs[i]


@njit(cache=True, nogil=True)
def _other_copy(o_a, o_b, o_data, o_pos, offs, data):
    """Copy the other strings (``o_data[o_a[k]:o_b[k]]``) to their places in ``data``."""
    for k in range(len(o_pos)):
        if o_a[k] >= 0:
            _memcpy(data, offs[o_pos[k]], o_data, o_a[k], o_b[k] - o_a[k])


def _string_column(n_out, other, lens, lens_args, copy, copy_args):
    """An Arrow string column of ``n_out`` rows: ``lens(*lens_args, offs, valid)`` writes the
    lengths and validity of its rows, ``copy(*copy_args, offs, data)`` their bytes; ``other``:
    ``(a, b, data, positions)`` of strings from elsewhere placed at ``positions`` (or None)."""
    if other is None:
        other = (_EMPTY_I64, _EMPTY_I64, _EMPTY_U8, _EMPTY_I64)
    o_a, o_b, o_data, o_pos = (x if x.dtype == np.uint8 else x.astype(np.int64, copy=False) for x in other)
    # output buffers from NumPy (which asks the kernel for huge pages: first-touch page
    # faults dominate a fresh multi-MB buffer on some VMs), filled by compiled loops
    offs = np.empty(n_out + 1, np.int64)
    offs[0] = 0
    valid = np.empty(n_out, np.bool_)
    lens(*lens_args, offs, valid)
    _other_lens(o_a, o_b, o_pos, offs, valid)
    data = np.empty(offs[n_out], np.uint8)
    copy(*copy_args, offs, data)
    _other_copy(o_a, o_b, o_data, o_pos, offs, data)
    return string_chunks(offs, valid, data)


@njit(cache=True, nogil=True)
def _gather_lens(a, b, p, s, pos, offs, valid):
    """Lengths (``offs[1:]``) and validity of the rows :func:`_gather_copy` fills: output
    string ``pos[i]`` = ``span(p[i]) + span(s[i])`` (a span is absent where ``p[i]``/``s[i]``
    or its ``a`` is negative; null when both are absent)."""
    has_s = len(s) > 0
    has_pos = len(pos) > 0
    for i in range(len(p)):
        o = pos[i] if has_pos else i
        r = p[i]
        m = 0
        v = False
        if r >= 0 and a[r] >= 0:
            m += b[r] - a[r]
            v = True
        if has_s:
            r2 = s[i]
            if r2 >= 0 and a[r2] >= 0:
                m += b[r2] - a[r2]
                v = True
        offs[o + 1] = m
        valid[o] = v


@njit(cache=True, nogil=True)
def _gather_copy(buf, base, blk, a, b, p, s, pos, offs, data):
    """Copy the spans (``buf[base[blk[r]] + a[r] : base[blk[r]] + b[r]]``) into ``data``."""
    has_s = len(s) > 0
    has_pos = len(pos) > 0
    for i in range(len(p)):
        o = pos[i] if has_pos else i
        q = offs[o]
        r = p[i]
        if r >= 0 and a[r] >= 0:
            m = np.int64(b[r] - a[r])
            _memcpy(data, q, buf, base[blk[r]] + a[r], m)
            q += m
        if has_s:
            r2 = s[i]
            if r2 >= 0 and a[r2] >= 0:
                m = np.int64(b[r2] - a[r2])
                _memcpy(data, q, buf, base[blk[r2]] + a[r2], m)


def gather_rows(buf, base, blk, a, b, p, s=None, pos=None, n_out=None, other=None):
    """An Arrow string column of row spans (see :func:`_gather_lens`), in output order.

    Row ``r``'s span is ``buf[base[blk[r]] + a[r] : base[blk[r]] + b[r]]`` (one buffer
    holding every block, ``base`` the blocks' offsets in it). ``other``: ``(a, b, data,
    positions)`` of strings from elsewhere placed at ``positions``. Returns a ChunkedArray
    of ``pa.string()`` (several chunks only when the text exceeds 2 GB).
    """
    n_out = len(p) if n_out is None else n_out
    s = _EMPTY_I64 if s is None else s
    pos = _EMPTY_I64 if pos is None else pos
    return _string_column(n_out, other, _gather_lens, (a, b, p, s, pos),
                          _gather_copy, (buf, base, blk, a, b, p, s, pos))


def string_chunks(offs: np.ndarray, valid: np.ndarray, data: np.ndarray, limit: int = 2**31 - 1):
    """``pa.string()`` ChunkedArray from int64 offsets, validity and bytes (chunked at 2 GB)."""
    import pyarrow as pa

    n = len(valid)
    chunks = []
    i = 0
    dbuf = pa.py_buffer(data)
    while i < n or not chunks:
        j = int(np.searchsorted(offs, offs[i] + limit, side="right")) - 1
        j = max(min(j, n), i + 1) if n else 0
        o = (offs[i : j + 1] - offs[i]).astype(np.int32)
        v = valid[i:j]
        m = j - i
        nulls = m - int(np.count_nonzero(v))
        bitmap = pa.py_buffer(np.packbits(v, bitorder="little")) if nulls else None
        chunks.append(pa.StringArray.from_buffers(
            m, pa.py_buffer(o), dbuf.slice(int(offs[i]), int(offs[j] - offs[i])), bitmap, nulls))
        i = j
    return pa.chunked_array(chunks, pa.string())


def fd_spans(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """(code, fd start, '<', '>') of each argument span (see :func:`_fd_spans`)."""
    return _fd_spans(buf, a, b)


@njit(cache=True, nogil=True)
def _fd_json_lens(buf, base, blk, fa, lt, gt, q, pos, offs, valid):
    """Lengths and validity of ``{"FD": "PATH"}`` (``\\`` and ``"`` escaped) for row ``q[i]``
    at ``pos[i]`` (null where ``q[i] < 0`` or the row has no decoding)."""
    has_pos = len(pos) > 0
    for i in range(len(q)):
        o = pos[i] if has_pos else i
        r = q[i]
        m = 0
        v = r >= 0 and fa[r] >= 0
        if v:
            x = base[blk[r]]
            m = _fd_json_len(buf, x + fa[r], x + lt[r], x + gt[r])
        offs[o + 1] = m
        valid[o] = v


@njit(cache=True, nogil=True)
def _fd_json_copy(buf, base, blk, fa, lt, gt, q, pos, offs, data):
    has_pos = len(pos) > 0
    for i in range(len(q)):
        r = q[i]
        if r < 0 or fa[r] < 0:
            continue
        o = pos[i] if has_pos else i
        x = base[blk[r]]
        _put_fd_json(data, offs[o], offs[o + 1], buf, x + fa[r], x + lt[r], x + gt[r])


def gather_fd_json(buf, base, blk, fa, lt, gt, q, pos=None, n_out=None, other=None):
    """The ``fd_paths`` column written from decoding spans (see :func:`_fd_json_lens`)."""
    n_out = len(q) if n_out is None else n_out
    pos = _EMPTY_I64 if pos is None else pos
    args = (buf, base, blk, fa, lt, gt, q, pos)
    return _string_column(n_out, other, _fd_json_lens, args, _fd_json_copy, args)


@njit(cache=True, nogil=True)
def _take_place(src, ok, idx, pos, out, valid):
    """``out[pos[i]] = src[idx[i]]``, ``valid[pos[i]] = ok[idx[i]]`` (all valid when ``ok``
    is empty; ``pos`` empty: position ``i``), in one pass."""
    has_pos = len(pos) > 0
    has_ok = len(ok) > 0
    for i in range(len(idx)):
        o = pos[i] if has_pos else i
        r = idx[i]
        out[o] = src[r]
        valid[o] = ok[r] if has_ok else True


_EMPTY_BOOL = np.zeros(0, np.bool_)


def take_place(src: np.ndarray, ok: np.ndarray | None, idx: np.ndarray, pos: np.ndarray | None,
               out: np.ndarray, valid: np.ndarray) -> None:
    """One-pass gather of a fixed-width column and its validity into output positions."""
    _take_place(src, _EMPTY_BOOL if ok is None else ok, idx, _EMPTY_I64 if pos is None else pos, out, valid)


@njit(cache=True, nogil=True)
def _row_spans(sp, kind):
    """int32 (a, b) pairs of the argument, return-path and note spans of the scanner's
    rows (``a = -1`` on lines it left to the line grammar), in one pass."""
    n = len(kind)
    out = np.empty((6, n), np.int32)
    for i in range(n):
        fast = kind[i] != 0
        out[0, i] = sp[i, 4] if fast else -1
        out[1, i] = sp[i, 5]
        out[2, i] = sp[i, 6] if fast else -1
        out[3, i] = sp[i, 7]
        out[4, i] = sp[i, 10] if fast else -1
        out[5, i] = sp[i, 11]
    return out


@njit(cache=True, nogil=True)
def _intern_rows(buf, sp, kind, ca, cb):
    """:func:`_intern` over span columns ``ca``/``cb`` of the scanner's rows (kind 0: -1)."""
    n = len(kind)
    a = np.empty(n, np.int64)
    b = np.empty(n, np.int64)
    for i in range(n):
        a[i] = sp[i, ca] if kind[i] != 0 else -1
        b[i] = sp[i, cb]
    return _intern(buf, a, b)


def row_spans(sp: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """(6, n) int32: args a, b; ret_path a, b; note a, b (see :func:`_row_spans`)."""
    return _row_spans(sp, kind)


def intern_rows(buf: np.ndarray, sp: np.ndarray, kind: np.ndarray, ca: int, cb: int) -> tuple[np.ndarray, list[bytes]]:
    """(codes, names) of span columns ``ca``/``cb`` of the scanner's rows (see :func:`intern`)."""
    codes, ra, rb = _intern_rows(buf, sp, kind, ca, cb)
    return codes, [bytes(buf[x:y]) for x, y in zip(ra.tolist(), rb.tolist(), strict=True)]
