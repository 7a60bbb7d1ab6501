"""Column-wise strace parsing: large blocks, compiled scanning, one gather per column.

A log whose prefix shape the compiled scanner covers (``[pid] [-ttt time] name(`` ...) and
that is big enough to pay for loading numba is read into one buffer (:class:`_Arena`) and
parsed in blocks of whole lines by two threads (:func:`_process_block_scan`, compiled,
no GIL): every line is classified (complete call, ``<unfinished ...>``, ``<... resumed>``
or "other") and its fields become numbers and byte spans. The main thread copies each
block's rows into one row store and pairs the halves as they arrive (a resumption belongs
to the last half its pid printed); :func:`_assemble_scan` then builds every column of the
events table once, in start-line order, straight from the log's bytes.

Other shapes (and every log when numba is missing) take the earlier path: the prefix of
every line is pulled out by one small RE2 regex built for the log's shape, the return part
is located with NumPy and parsed by a second regex, blocks become Arrow tables and the
halves are joined with Arrow takes (:func:`_process_block`, :func:`_assemble`).

In both, every line the fast path does not accept (signals, exits, attach/detach, ``-k``
stacks, summary tables, anything odd) goes to the line grammar of :mod:`._stream`, in
order, so both paths share one definition of the format.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputFormatError
from ._stream import PATH_PAT, PREFIX_RE, StraceEvent, StraceStreamParser, fd_paths_json

BLOCK = 4 << 20
WORKERS = 2  # block-parsing threads (Arrow and most NumPy kernels release the GIL)

_DIGIT = np.zeros(256, bool)
_DIGIT[48:58] = True
_ATFD = np.frombuffer(b"AT_FDCWD", np.uint8)
_FD_BEFORE = np.zeros(256, bool)
_FD_BEFORE[[32, 40, 91, 123]] = True
_GT_NEXT = np.zeros(256, bool)
_GT_NEXT[[44, 41, 32, 93, 125]] = True

_TAIL_RX = (
    r"^\) *= (?:(?P<ret>-?\d+|0x[0-9a-fA-F]+)(?:<(?P<rpath>" + PATH_PAT + r")>)?|\?)"
    r"(?: (?P<errno>E[A-Z0-9_?]+) \([^()]*\))?"
    r"(?P<notes>(?: \((?:[^()]|\([^()]*\))*\))*)"
    r"(?: <(?P<dur>\d+\.\d+)>)?$"
)
_FD_RX = r"^(?P<fd>\d+|AT_FDCWD)<(?P<path>" + PATH_PAT + r")>"
_UNF = b" <unfinished ...>"
_HEX = np.full(256, 0, np.uint64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


def _strict_error(name: str, ev: StraceEvent) -> InputFormatError:
    raw = (ev.raw or "")[:80]
    return InputFormatError(f"{name}: line {ev.line} is not strace output: {raw!r}")


# --------------------------------------------------------------------------- shape


def detect_shape(lines: list[str]) -> str | None:
    """The RE2 head regex for this log's prefix shape, or None to parse line by line.

    None for shapes the fast path does not cover (-r relative times, -n, -i, -Y).
    """
    pid = bpid = num = clock = 0
    seen = 0
    for ln in lines:
        m = PREFIX_RE.match(ln)
        if m is None or m.end() == len(ln):
            continue
        body = ln[m.end():]
        if not (body[:1].isalpha() or body[:1] == "_" or body.startswith("<... ")):
            continue
        seen += 1
        if m.group("nr") or m.group("ip") or m.group("comm") or m.group("bcomm"):
            return None
        if m.group("num") is not None:
            if float(m.group("num")) < 1e8:
                return None  # -r: cumulative times need every line in order
            num += 1
        if m.group("hh") is not None:
            clock += 1
        if m.group("pid"):
            pid += 1
        if m.group("bpid"):
            bpid += 1
    if not seen:
        return None
    if pid and not bpid:
        p = r"(?P<pid>\d+) +"
    elif bpid and not pid:
        p = r"(?:\[pid +(?P<pid>\d+)\] +)?"
    elif not pid and not bpid:
        p = ""
    else:
        return None
    if num and not clock:
        t = r"(?P<num>\d+\.\d+) +"
    elif clock and not num:
        t = r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) +"
    elif not num and not clock:
        t = ""
    else:
        return None
    return "^" + p + t + r"(?:(?P<name>[A-Za-z_]\w*)\(|<\.\.\. (?P<rname>[A-Za-z_]\w*) resumed>)"


# --------------------------------------------------------------------------- helpers


def _nz(arr: pa.Array) -> pa.Array:
    """RE2 gives "" for a group that did not take part in the match: make it null."""
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _field(st: pa.Array, name: str) -> pa.Array:
    """A field of an extract_regex result: null where the row or the group did not match."""
    f = st.field(name)
    return pc.if_else(pc.and_(pc.is_valid(st), pc.not_equal(f, "")), f, pa.scalar(None, f.type))


def _slices(data: pa.Buffer, a: np.ndarray, b: np.ndarray) -> pa.Array:
    """Strings ``data[a[i]:b[i]]`` (a, b increasing, a <= b) without a per-row loop."""
    n = len(a)
    if n == 0:
        return pa.array([], pa.string())
    o = np.empty(2 * n + 1, np.int64)
    o[0 : 2 * n : 2] = a
    o[1 : 2 * n : 2] = b
    o[2 * n] = b[-1]
    both = pa.LargeStringArray.from_buffers(2 * n, pa.py_buffer(o), data)
    return pc.cast(both.take(pa.array(np.arange(0, 2 * n, 2))), pa.string())


def _first_at_or_after(pos: np.ndarray, x: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """For each x, the first position >= x and < limit, else -1."""
    if len(pos) == 0:
        return np.full(len(x), -1, np.int64)
    i = np.searchsorted(pos, x)
    v = pos[np.minimum(i, len(pos) - 1)]
    return np.where((i < len(pos)) & (v < limit), v, -1)


def _last_before(pos: np.ndarray, x: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """For each x, the last position < x and >= lower, else -1."""
    if len(pos) == 0:
        return np.full(len(x), -1, np.int64)
    i = np.searchsorted(pos, x) - 1
    v = pos[np.maximum(i, 0)]
    return np.where((i >= 0) & (v >= lower), v, -1)


def parse_ret(text: pa.Array) -> pa.Array:
    """Return-value text (decimal, ``0x`` hex, null) -> int64; hex wraps like the kernel."""
    if len(text) == 0:
        return pa.array([], pa.int64())
    is_hex = pc.fill_null(pc.starts_with(text, "0x"), False)
    dec = pc.if_else(is_hex, pa.scalar(None, pa.string()), text)
    out = pc.cast(dec, pa.int64())
    nhex = pc.sum(is_hex).as_py() or 0
    if not nhex:
        return out
    idx = np.flatnonzero(is_hex.to_numpy(zero_copy_only=False))
    h = pc.utf8_slice_codeunits(text.take(pa.array(idx)), 2)
    h = pc.utf8_lpad(h, 16, "0")
    h = pc.utf8_slice_codeunits(h, -16)  # more than 16 digits cannot happen for 64-bit
    h = pc.cast(h, pa.string())
    if isinstance(h, pa.ChunkedArray):
        h = h.combine_chunks()
    bufs = h.buffers()
    offs = np.frombuffer(bufs[1], np.int32, len(h) + 1, h.offset * 4)
    raw = np.frombuffer(bufs[2], np.uint8)[offs[0] : offs[-1]].reshape(len(h), 16)
    nib = _HEX[raw]
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    vals = np.bitwise_or.reduce(nib << shifts, axis=1).view(np.int64)
    full = out.to_numpy(zero_copy_only=False)
    full = np.where(np.isnan(full), 0, full).astype(np.int64) if full.dtype != np.int64 else full.copy()
    mask = ~np.asarray(pc.is_valid(out))
    full[idx] = vals
    mask[idx] = False
    return pa.array(full, pa.int64(), mask=mask)


def fd_paths_column(args: pa.Array | pa.ChunkedArray, rows: int = 1 << 16) -> pa.Array:
    """The ``fd_paths`` JSON column, computed ``rows`` at a time (bounded temporaries)."""
    n = len(args)
    if n <= rows:
        return _fd_paths_column(args)
    parts = [_fd_paths_column(args.slice(i, rows)) for i in range(0, n, rows)]
    return pa.concat_arrays([pc.cast(p, pa.string()) for p in parts])


def _fd_paths_column(args: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The ``fd_paths`` JSON column for raw argument texts, vectorised.

    The common case, one ``-y`` decoding in the argument list (``3</etc/passwd>``,
    ``AT_FDCWD</tmp>``, ``5<pipe:[123]>`` in any position), is found with NumPy over the
    array's bytes; argument lists with several decodings go through the line grammar's
    :func:`fd_paths_json` one by one.
    """
    if isinstance(args, pa.ChunkedArray):
        args = args.combine_chunks() if args.num_chunks else pa.array([], pa.string())
    if args.type != pa.large_string():
        args = pc.cast(args, pa.large_string())
    n = len(args)
    if n == 0:
        return pa.array([], pa.string())
    bufs = args.buffers()
    offs = np.frombuffer(bufs[1], np.int64, n + 1, args.offset * 8)
    if bufs[2] is None or offs[-1] == offs[0]:
        return pa.nulls(n, pa.string())
    data = np.frombuffer(bufs[2], np.uint8)
    a, b = offs[:-1], offs[1:]
    lts = np.flatnonzero(data == 60)
    n_lt = np.searchsorted(lts, b) - np.searchsorted(lts, a)
    if not n_lt.any():
        return pa.nulls(n, pa.string())
    one = np.flatnonzero(n_lt == 1)
    lt = lts[np.searchsorted(lts, a[one])]  # the row's only '<'
    row_a = a[one]
    # the descriptor: the digits (or AT_FDCWD) just before '<', after a separator
    fd_a = lt.copy()
    going = np.ones(len(lt), bool)
    for _ in range(10):
        cand = fd_a - 1
        step = going & (cand >= row_a)
        step[step] = _DIGIT[data[cand[step]]]
        fd_a[step] -= 1
        going = step
        if not going.any():
            break
    at = (lt - row_a >= 8) & (fd_a == lt)
    if at.any():
        w = np.flatnonzero(at)
        win = data[(lt[w, None] - 8) + np.arange(8)]
        hit = (win == _ATFD).all(axis=1)
        fd_a[w[hit]] -= 8
    before = np.where(fd_a > row_a, data[np.maximum(fd_a - 1, 0)], 32)
    # the path ends at the first '>' followed by ',', ')', ' ', ']', '}' or the row's end
    gts = np.flatnonzero(data == 62)
    nx = data[np.minimum(gts + 1, len(data) - 1)]
    k = np.searchsorted(b, gts + 1)
    at_end = (k < n) & (b[np.minimum(k, n - 1)] == gts + 1)
    gts = gts[_GT_NEXT[nx] | at_end]
    j = np.searchsorted(gts, lt)
    gt = gts[np.minimum(j, len(gts) - 1)] if len(gts) else np.full(len(lt), -1)
    ok = (j < len(gts)) & (gt < b[one]) & (fd_a < lt) & _FD_BEFORE[before] if len(gts) else np.zeros(len(lt), bool)
    pbuf = bufs[2]
    fd = _slices(pbuf, fd_a[ok], lt[ok])
    path = _slices(pbuf, lt[ok] + 1, gt[ok])
    fd_ok = pc.or_(pc.utf8_is_digit(fd), pc.equal(fd, "AT_FDCWD"))
    esc = pc.replace_substring(pc.replace_substring(path, "\\", "\\\\"), '"', '\\"')
    js = pc.binary_join_element_wise('{"', fd, '": "', esc, '"}', "")
    js = pc.if_else(fd_ok, js, pa.scalar(None, pa.string()))
    rows = one[ok]
    fd_ok_np = np.asarray(pc.fill_null(fd_ok, False))
    # rows not settled above: several '<' (or an odd shape): the line grammar's way
    hard = n_lt > 0
    hard[rows[fd_ok_np]] = False
    idx_h = np.flatnonzero(hard)
    texts = args.take(pa.array(idx_h)).to_pylist() if len(idx_h) else []
    extra = pa.array([fd_paths_json(t) for t in texts], pa.string())
    both = pa.concat_arrays([pc.cast(js, pa.string()), extra])
    where = np.full(n, -1, np.int64)
    where[rows] = np.arange(len(rows))
    where[idx_h] = len(rows) + np.arange(len(idx_h))
    return both.take(pa.array(where, mask=where < 0))


# --------------------------------------------------------------------------- a block


_POS_LUT = np.zeros(256, bool)
_POS_LUT[[10, 40, 41, 61, 62]] = True


def _process_block(data: bytes, head_rx: str) -> dict[str, Any]:
    """Parse one block of whole lines (ending in newlines); line numbers are block-local."""
    buf = np.frombuffer(data, np.uint8)
    # one pass over the bytes for every delimiter we need: \n ( ) = >
    idx = np.flatnonzero(_POS_LUT[buf])
    ch = buf[idx]
    nl = idx[ch == 10]
    n = len(nl)
    starts = np.empty(n, np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    ends = nl.astype(np.int64)
    pbuf = pa.py_buffer(data)
    offs = np.empty(n + 1, np.int64)
    offs[:-1] = starts
    offs[-1] = n and ends[-1]
    lines = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offs), pbuf)  # each with its '\n'
    head = pc.extract_regex(lines, head_rx)
    valid = np.asarray(pc.is_valid(head))
    name_raw = head.field("name")
    rname_raw = head.field("rname")
    is_call = valid & (np.asarray(pc.binary_length(name_raw)) > 0)
    is_res = valid & (np.asarray(pc.binary_length(rname_raw)) > 0)
    # -- positions
    lparen = idx[ch == 40]
    rparen = idx[ch == 41]
    eqc = idx[ch == 61]
    eqc = eqc[(eqc > 0) & (eqc + 1 < len(buf))]
    eq = eqc[(buf[eqc - 1] == 32) & (buf[eqc + 1] == 32)]
    gt = idx[ch == 62]
    p = _first_at_or_after(lparen, starts, ends)
    g = _first_at_or_after(gt, starts, ends)
    argstart = np.where(is_res, g + 1, p + 1)
    # pre-5.0 "resumed> )": one optional space after '>'
    sp_after = np.zeros(n, bool)
    okg = is_res & (g >= 0) & (g + 1 < ends)
    sp_after[okg] = buf[g[okg] + 1] == 32
    argstart = argstart + sp_after
    ulen = len(_UNF)
    is_unf = is_call & (ends - starts > ulen) & np.asarray(
        pc.fill_null(pc.ends_with(lines, _UNF.decode() + "\n"), False)
    )
    q = _last_before(eq, ends, argstart)
    cp = _last_before(rparen, np.where(q >= 0, q, 0), argstart - 1)
    tailable = (is_call | is_res) & ~is_unf & (q >= 0) & (cp >= argstart - 1) & (cp >= 0)
    tidx = np.flatnonzero(tailable)
    tails = _slices(pbuf, cp[tidx], ends[tidx])
    tm = pc.extract_regex(tails, _TAIL_RX)
    tok = np.zeros(n, bool)
    tok[tidx] = np.asarray(pc.is_valid(tm))
    fast_c = tok & is_call
    fast_r = tok & is_res
    fast_u = is_unf
    fast = fast_c | fast_r | fast_u
    out: dict[str, Any] = {"n": n}
    # -- slow lines, as text, for the line grammar
    sidx = np.flatnonzero(~fast)
    out["slow"] = (sidx + 1, lines.take(pa.array(sidx)).to_pylist() if len(sidx) else [])
    # -- columns of the fast rows (every such row matched the head regex: no nulls)
    names = [head.type.field(i).name for i in range(head.type.num_fields)]

    def _pid(rows: pa.Array) -> pa.Array:
        if "pid" not in names:
            return pa.nulls(len(rows), pa.int64())
        return pc.cast(_nz(head.field("pid").take(rows)), pa.int64())

    def _ts(rows: pa.Array) -> pa.Array:
        if "num" in names:
            return pc.cast(head.field("num").take(rows), pa.float64())
        if "clock" in names:
            ck = head.field("clock").take(rows)
            return pc.add(
                pc.add(
                    pc.multiply(pc.cast(pc.utf8_slice_codeunits(ck, 0, 2), pa.float64()), 3600.0),
                    pc.multiply(pc.cast(pc.utf8_slice_codeunits(ck, 3, 5), pa.float64()), 60.0),
                ),
                pc.cast(pc.utf8_slice_codeunits(ck, 6), pa.float64()),
            )
        return pa.nulls(len(rows), pa.float64())

    tpos = np.full(n, -1, np.int64)
    tpos[tidx] = np.arange(len(tidx))

    def _tail_fields(rows: np.ndarray) -> dict[str, pa.Array]:
        t = tm.take(pa.array(tpos[rows]))
        notes = pc.utf8_trim_whitespace(t.field("notes"))
        return {
            "ret": parse_ret(_nz(t.field("ret"))),
            "ret_path": _nz(t.field("rpath")),
            "errno": _nz(t.field("errno")),
            "duration": pc.cast(_nz(t.field("dur")), pa.float64()),
            "note": _nz(notes),
        }

    ci = np.flatnonzero(fast_c)
    cia = pa.array(ci)
    c = {
        "line": pa.array(ci + 1, pa.int64()),
        "pid": _pid(cia),
        "ts": _ts(cia),
        "syscall": name_raw.take(cia),
        "args": _slices(pbuf, argstart[ci], cp[ci]),
        **_tail_fields(ci),
    }
    c["fd_paths"] = fd_paths_column(c["args"])
    out["c"] = c
    ui = np.flatnonzero(fast_u)
    uia = pa.array(ui)
    out["u"] = {
        "line": pa.array(ui + 1, pa.int64()),
        "pid": _pid(uia),
        "ts": _ts(uia),
        "syscall": name_raw.take(uia),
        "args": _slices(pbuf, argstart[ui], ends[ui] - ulen),
    }
    out["u"]["fd_paths"] = fd_paths_column(out["u"]["args"])
    ri = np.flatnonzero(fast_r)
    ria = pa.array(ri)
    out["r"] = {
        "line": pa.array(ri + 1, pa.int64()),
        "pid": _pid(ria),
        "ts": _ts(ria),
        "syscall": rname_raw.take(ria),
        "args": _slices(pbuf, np.minimum(argstart[ri], cp[ri]), cp[ri]),
        **_tail_fields(ri),
    }
    out["r"]["fd_paths"] = fd_paths_column(out["r"]["args"])
    out["first"] = None
    if fast_c.any() or fast_u.any():
        k = int(np.argmax(fast_c | fast_u))
        fp = _pid(pa.array([k]))[0]
        out["first"] = (k + 1, fp.as_py() if fp.is_valid else None)
    return out


#: logs smaller than this keep the RE2 path: loading numba's runtime and the cached
#: scanner (~1 s in a fresh process) costs more than the scanner saves on them.
SCAN_MIN_BYTES = BLOCK


def _scan_modes(head_rx: str) -> tuple[int, int] | None:
    """(pid mode, ts mode) for the compiled scanner, or None when it does not cover the shape."""
    from . import _scan

    if not _scan.AVAILABLE or "(?P<clock>" in head_rx:
        return None
    pid_mode = _scan.PID_PLAIN if "(?P<pid>\\d+) +" in head_rx else (
        _scan.PID_BRACKET if "\\[pid" in head_rx else _scan.PID_NONE)
    ts_mode = _scan.TS_NUM if "(?P<num>" in head_rx else _scan.TS_NONE
    return pid_mode, ts_mode


def _nums(buf: np.ndarray, sp: np.ndarray, num: np.ndarray, rows: Any, col: int, fast: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """(values, present) of the float column in number spans ``sp[rows, col:col+2]``.

    The scanner's doubles where it could make them exactly, else Arrow's cast of the text.
    ``fast`` marks the rows the scanner accepted (the others are never output).
    """
    from . import _scan

    a = sp[rows, col]
    present = (a >= 0) & fast
    vals = num[rows, col // 12].copy()  # always a copy: ``num`` is the thread's scratch
    if np.isnan(vals[present]).any():  # e.g. nanosecond unix times: more than 15 digits
        arr = pc.cast(_scan.gather(buf, np.where(present, a, -1), sp[rows, col + 1]), pa.float64())
        present = np.asarray(arr.is_valid())
        vals = np.asarray(arr.fill_null(0.0))
    return vals, present


def _process_block_scan(data: bytes | np.ndarray, modes: tuple[int, int]) -> dict[str, Any]:
    """Scan one block with the compiled scanner; keep its bytes and per-row numbers/spans.

    No Arrow table is built here: the fast rows (complete calls and both kinds of halves,
    in line order) keep integers, doubles and byte spans into the block, names and errno
    symbols interned to block-local codes, and the ``fd_paths`` JSON texts in one small
    buffer; :func:`_assemble_scan` pairs halves and copies every column once, in output
    order. Lines the scanner does not accept go to the line grammar as text.
    """
    from . import _scan

    buf = np.frombuffer(data, np.uint8)
    cleaned = False
    if len(buf) and buf.max() >= 128:  # not ASCII: invalid UTF-8 becomes U+FFFD (as text reading does)
        fixed = _clean(buf.tobytes())
        if len(fixed) != len(buf) or fixed != buf.tobytes():
            buf, data, cleaned = np.frombuffer(fixed, np.uint8), fixed, True
    # starts, ends, sp and num are this thread's scratch buffers: used here, never kept
    kind, starts, ends, pid, pid_ok, sp, ret, ret_ok, num = _scan.scan_block_reusing(buf, *modes)
    n = len(kind)
    out: dict[str, Any] = {"n": n, "compact": True, "buf": buf, "cleaned": cleaned}
    sidx = np.flatnonzero(kind == _scan.KIND_SLOW)
    if len(sidx):
        offs = np.empty(n + 1, np.int64)
        offs[:-1] = starts
        offs[-1] = n and ends[-1] + 1
        lines = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(data))
        out["slow"] = (sidx + 1, lines.take(pa.array(sidx)).to_pylist())
    else:
        out["slow"] = (sidx + 1, [])
    has_pid = modes[0] != _scan.PID_NONE
    rows: Any
    if len(sidx) * 10 <= n:  # few lines left to the grammar: keep every line (those as kind 0), no copies
        rows, m = slice(None), n
        out["line"] = np.arange(1, n + 1, dtype=np.int64)
    else:
        rows = np.flatnonzero(kind != _scan.KIND_SLOW)
        m = len(rows)
        out["line"] = rows + 1
    out["kind"] = kind[rows]
    fast = out["kind"] != _scan.KIND_SLOW
    out["pid"] = pid[rows]
    out["pid_ok"] = pid_ok[rows] if has_pid else np.zeros(m, bool)
    if modes[1] != _scan.TS_NONE:
        out["ts"], out["ts_ok"] = _nums(buf, sp, num, rows, 0, fast)
    else:
        out["ts"], out["ts_ok"] = np.zeros(m), np.zeros(m, bool)
    out["dur"], out["dur_ok"] = _nums(buf, sp, num, rows, 12, fast)
    out["ret"] = ret[rows]
    out["ret_ok"] = ret_ok[rows]
    spr = sp[rows]
    del sp
    kr = out["kind"]
    out["sys"], out["sys_names"] = _scan.intern_rows(buf, spr, kr, 2, 3)
    out["err"], out["err_names"] = _scan.intern_rows(buf, spr, kr, 8, 9)
    six = _scan.row_spans(spr, kr)
    for k, key in enumerate(("args_a", "args_b", "rpath_a", "rpath_b", "note_a", "note_b")):
        out[key] = six[k]
    # -y decodings as spans (the JSON is written once, in the final gather); argument
    # lists with several decodings (or an odd shape) get the line grammar's JSON here
    code, out["fd_a"], out["fd_lt"], out["fd_gt"] = _scan.fd_spans(buf, out["args_a"], out["args_b"])
    hard = np.flatnonzero(code == 2)
    a_h, b_h = out["args_a"][hard].tolist(), out["args_b"][hard].tolist()
    out["fd_hard"] = (hard, [fd_paths_json(bytes(buf[x:y]).decode()) for x, y in zip(a_h, b_h, strict=True)])
    out["first"] = None
    fu = np.flatnonzero((kind == _scan.KIND_CALL) | (kind == _scan.KIND_UNF))
    if len(fu):
        k = int(fu[0])
        out["first"] = (k + 1, int(pid[k]) if has_pid and pid_ok[k] else None)
    return out


def _spans_of(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, data) of a string array: ``arr[i] == data[a[i]:b[i]]``, ``a[i] = -1`` for null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type != pa.large_string():
        arr = pc.cast(arr, pa.large_string())
    n = len(arr)
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], np.int64, n + 1, arr.offset * 8) if n else np.zeros(1, np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if n and bufs[2] is not None else np.frombuffer(b"", np.uint8)
    a = offs[:-1].copy()
    if arr.null_count:
        a[~np.asarray(arr.is_valid())] = -1
    return a, offs[1:].copy(), data


def _rebase(res: dict[str, Any], base: int) -> None:
    """Turn a block's local line numbers into the file's."""
    if base == 0:
        return
    if res.get("compact"):
        res["line"] += base
        res["slow"] = (res["slow"][0] + base, res["slow"][1])
        if res["first"] is not None:
            res["first"] = (res["first"][0] + base, res["first"][1])
        return
    for part in ("c", "u", "r"):
        res[part]["line"] = pc.add(res[part]["line"], base)
    res["slow"] = (res["slow"][0] + base, res["slow"][1])
    if res["first"] is not None:
        res["first"] = (res["first"][0] + base, res["first"][1])


# --------------------------------------------------------------------------- pairing


def _pair(halves: list[pa.Table]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Join unfinished and resumed halves: (joined, never resumed, resumed without start).

    ``halves`` is ``[u, r]`` and is emptied: each column is let go as soon as its joined
    form is built, so the halves are never held twice.
    """
    u, r = halves
    halves.clear()
    nu, nr = u.num_rows, r.num_rows
    if nu == 0 or nr == 0:
        return _empty_joined(r), u, r
    pid = np.concatenate([
        np.asarray(pc.fill_null(u.column("pid"), -1)), np.asarray(pc.fill_null(r.column("pid"), -1))
    ])
    line = np.concatenate([np.asarray(u.column("line")), np.asarray(r.column("line"))])
    is_r = np.concatenate([np.zeros(nu, bool), np.ones(nr, bool)])
    names = pa.concat_arrays([
        pc.cast(u.column("syscall").combine_chunks(), pa.string()),
        pc.cast(r.column("syscall").combine_chunks(), pa.string()),
    ])
    codes = np.asarray(pc.fill_null(pc.dictionary_encode(names).indices, -1))
    order = np.lexsort((line, pid))
    sp, sr, sc = pid[order], is_r[order], codes[order]
    hit = np.zeros(len(order), bool)
    hit[1:] = sr[1:] & ~sr[:-1] & (sp[1:] == sp[:-1]) & (sc[1:] == sc[:-1])
    r_pos = order[hit] - nu  # resumed rows that pair
    u_pos = order[np.flatnonzero(hit) - 1]  # with the unfinished row just before them
    # pairs in the start line's order: monotone takes below, and joined rows come out
    # already sorted by line (u is in line order), so the final reorder is a merge of runs
    by_u = np.argsort(u_pos, kind="stable")
    u_pos, r_pos = u_pos[by_u], r_pos[by_u]
    u_keep = np.ones(nu, bool)
    u_keep[u_pos] = False
    r_keep = np.ones(nr, bool)
    r_keep[r_pos] = False
    u_rest = u.filter(pa.array(u_keep))
    r_rest = r.filter(pa.array(r_keep))
    ui, ri = pa.array(u_pos), pa.array(r_pos)

    def pop(t: pa.Table, k: str, rows: pa.Array) -> tuple[pa.Array, pa.Table]:
        col = t.column(k).take(rows)
        return col, t.drop_columns([k])

    joined: dict[str, Any] = {}
    for k in ("line", "pid", "ts", "syscall"):
        joined[k], u = pop(u, k, ui)
    ua, u = pop(u, "args", ui)
    ra, r = pop(r, "args", ri)
    joined["args"] = pc.binary_join_element_wise(ua, ra, "")
    del ua, ra
    for k in ("ret", "ret_path", "errno", "duration", "note"):
        joined[k], r = pop(r, k, ri)
    # descriptors decoded in either half (both halves: rare, recomputed on the whole text)
    uf, u = pop(u, "fd_paths", ui)
    rf, r = pop(r, "fd_paths", ri)
    del u, r
    both = np.asarray(pc.and_(pc.is_valid(uf), pc.is_valid(rf)))
    fdp = pc.if_else(pc.is_null(uf), rf, uf)
    if both.any():  # only those rows go through Python
        bi = np.flatnonzero(both)
        texts = joined["args"].take(pa.array(bi)).to_pylist()
        fixed = pa.array([fd_paths_json(t) for t in texts], pa.string())
        fdp = pc.cast(fdp, pa.string())
        where = np.arange(len(fdp), dtype=np.int64)
        where[bi] = len(fdp) + np.arange(len(bi))
        fdp = pa.concat_arrays([fdp, fixed]).take(pa.array(where))
    joined["fd_paths"] = fdp
    _release()
    return pa.table(joined), u_rest, r_rest


def _empty_joined(r: pa.Table) -> pa.Table:
    return r.slice(0, 0).select(["line", "pid", "ts", "syscall", "args", "ret", "ret_path", "errno", "duration", "note", "fd_paths"])


def _fixup_leftovers(
    u: pa.Table, r: pa.Table, slow: list[StraceEvent]
) -> tuple[list[dict[str, Any]], pa.Table, pa.Table, list[StraceEvent]]:
    """Pair the halves left over, by name and line order.

    Covers an execve in a thread that resumes under the leader's pid, and halves split
    between the fast path and the line grammar (a start cut by an interleaved
    ``strace: Process N attached`` message). Returns joined rows (dicts of event
    fields), the fast halves still alone, and the slow events minus those joined.
    """
    slow_u = [i for i, e in enumerate(slow) if e.kind == "syscall" and e.unfinished and e.note is None]
    slow_r = [i for i, e in enumerate(slow) if e.kind == "syscall" and e.note
              and e.note.startswith("resumed without start")]
    if (u.num_rows + len(slow_u)) == 0 or (r.num_rows + len(slow_r)) == 0:
        return [], u, r, slow
    blank = dict.fromkeys(StraceEvent._fields)
    urows = [{**blank, **row, "_src": ("f", i)} for i, row in enumerate(u.to_pylist())]
    urows += [{**e._asdict(), "_src": ("s", i)} for i, e in ((i, slow[i]) for i in slow_u)]
    rrows = [{**blank, **row, "_src": ("f", i)} for i, row in enumerate(r.to_pylist())]
    for i in slow_r:
        e = slow[i]._asdict()
        note = e["note"][len("resumed without start"):].strip() or None
        rrows.append({**e, "note": note, "_src": ("s", i)})
    rrows.sort(key=lambda d: d["line"] or 0)
    used_u: set[int] = set()
    joined = []
    drop_fast_u: set[int] = set()
    drop_fast_r: set[int] = set()
    drop_slow: set[int] = set()
    for rr in rrows:
        cands = [i for i, uu in enumerate(urows) if i not in used_u and uu["syscall"] == rr["syscall"]
                 and (uu["line"] or 0) < (rr["line"] or 0)]
        same = [i for i in cands if urows[i]["pid"] == rr["pid"]]
        if same:
            i = same[-1]
        elif cands and rr["syscall"] in ("execve", "execveat"):
            i = cands[-1]
        else:
            continue
        used_u.add(i)
        uu = urows[i]
        note = rr["note"]
        if rr["pid"] != uu["pid"] and rr["pid"] is not None:
            extra = f"resumed in pid {rr['pid']}"
            note = extra if note is None else f"{note}; {extra}"
        row = {**rr, "line": uu["line"], "pid": uu["pid"], "tid": uu["pid"], "ts": uu["ts"],
               "args": (uu["args"] or "") + (rr["args"] or ""), "note": note, "unfinished": None,
               "kind": "syscall", "nr": uu.get("nr"), "ip": uu.get("ip"), "comm": uu.get("comm")}
        row["fd_paths"] = fd_paths_json(row["args"])
        for src, target in ((uu["_src"], (drop_fast_u, drop_slow)), (rr["_src"], (drop_fast_r, drop_slow))):
            if src[0] == "s":
                target[1].add(src[1])
            else:
                target[0].add(src[1])
        row.pop("_src", None)
        joined.append(row)
    if not joined:
        return [], u, r, slow
    keep_u = pa.array([i not in drop_fast_u for i in range(u.num_rows)], pa.bool_())
    keep_r = pa.array([i not in drop_fast_r for i in range(r.num_rows)], pa.bool_())
    slow = [e for i, e in enumerate(slow) if i not in drop_slow]
    return joined, u.filter(keep_u), r.filter(keep_r), slow


# --------------------------------------------------------------------------- a stream


class _Arena:
    """The whole log in one NumPy buffer, handed out as blocks of whole lines (views).

    The compiled path keeps every block's bytes until the final gather anyway; reading
    into one buffer (sized from the file when it is a plain file, doubled when a stream
    outgrows it) saves the per-block allocations and the carry-over copies, and lets the
    gather address every row's bytes with one offset.
    """

    def __init__(self, fh: IO[bytes], first: bytes) -> None:
        self.fh = fh
        cap = 64 << 20
        if isinstance(getattr(fh, "raw", fh), io.FileIO):  # a plain file (or stdin): its size
            with contextlib.suppress(OSError, ValueError, AttributeError):
                cap = max(os.fstat(fh.fileno()).st_size - fh.tell() + len(first) + 2, BLOCK)
        self.buf = np.empty(max(cap, len(first) + 2), np.uint8)
        self.buf[: len(first)] = np.frombuffer(first, np.uint8)
        self.end = len(first)  # bytes in the buffer
        self.start = 0  # where the next block starts
        self.eof = False

    def _fill(self) -> None:
        """Read up to one more block's worth of bytes (growing the buffer only when full)."""
        if self.end + 2 > len(self.buf):  # room to read (and one byte for a last newline)
            new = np.empty(max(2 * len(self.buf), self.end + BLOCK + 1), np.uint8)
            new[: self.end] = self.buf[: self.end]
            self.buf = new  # blocks handed out keep views of the old buffer (same bytes)
        room = min(BLOCK, len(self.buf) - 1 - self.end)
        got = 0
        mv = memoryview(self.buf)[self.end : self.end + room]
        while got < room:
            k = self.fh.readinto(mv[got:])  # type: ignore[attr-defined]
            if not k:
                self.eof = True
                break
            got += k
        self.end += got

    def next_block(self) -> tuple[np.ndarray, int] | None:
        """(view of the next block of whole lines, its offset in the buffer), or None at the end."""
        while True:
            if self.end - self.start >= BLOCK or self.eof:
                if self.end == self.start:
                    return None
                cut = _last_newline(self.buf, self.start, self.end)
                if cut >= 0:
                    at = self.start
                    self.start = cut + 1
                    return self.buf[at : self.start], at
                if self.eof:  # a last line without its newline
                    self.buf[self.end] = 10
                    self.end += 1
                    continue
            self._fill()


def _last_newline(buf: np.ndarray, lo: int, hi: int, step: int = 1 << 16) -> int:
    """Index of the last newline in ``buf[lo:hi]`` (searched from the end), or -1."""
    while hi > lo:
        a = max(lo, hi - step)
        nl = np.flatnonzero(buf[a:hi] == 10)
        if len(nl):
            return a + int(nl[-1])
        hi = a
    return -1


def _blocks(fh: IO[bytes], first: bytes) -> Any:
    carry = first
    while True:
        data = fh.read(BLOCK)
        if not data:
            if carry:
                yield carry if carry.endswith(b"\n") else carry + b"\n"
            return
        data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield data[: cut + 1]


def _clean(block: bytes) -> bytes:
    if block.isascii():
        return block
    try:
        block.decode("utf-8")
        return block
    except UnicodeDecodeError:
        return block.decode("utf-8", "replace").encode("utf-8")


def parse_stream(
    fh: IO[bytes],
    name: str,
    *,
    pid: int | None = None,
    strict: bool = False,
    check: Callable[[str, bytes], None] | None = None,
    progress: Callable[[int], None] | None = None,
    fast: bool = True,
) -> tuple[pa.Table, dict[str, Any]]:
    """Parse one log stream into (events table without trace_id, trace row dict)."""
    first = fh.read(BLOCK)
    if check is not None:
        check(name, first[:65536])
    sample = first[:65536].decode("utf-8", "replace").split("\n")[:200]
    head_rx = detect_shape(sample) if fast else None
    parser = StraceStreamParser(pid)
    slow_events: list[StraceEvent] = []

    def feed(line_no: int, text: str) -> None:
        out = parser.feed(text, line_no)
        if strict:
            for ev in out:
                if ev.kind == "unparsed":
                    raise _strict_error(name, ev)
        slow_events.extend(out)

    arena: _Arena | None = None
    store: _RowStore | None = None
    if head_rx is None:
        text = io.TextIOWrapper(
            io.BufferedReader(_Prepend(first, fh)), encoding="utf-8", errors="replace", newline="\n"
        )
        for i, line in enumerate(text, 1):
            feed(i, line)
            if progress is not None and i % 65536 == 0:
                progress(65536)
        fast_tables: list[dict[str, Any]] = []
    else:
        fast_tables = []
        base = 0
        modes = _scan_modes(head_rx) if len(first) >= SCAN_MIN_BYTES else None
        with ThreadPoolExecutor(WORKERS) as pool:
            pending: list[Any] = []
            arena = _Arena(fh, first) if modes is not None else None
            blocks = _blocks(fh, first) if arena is None else None
            n_total = 0

            def submit() -> bool:
                nonlocal base
                if arena is not None:
                    got = arena.next_block()
                    if got is None:
                        return False
                    pending.append((pool.submit(_process_block_scan, got[0], modes), got[1]))
                    return True
                try:
                    blk = _clean(next(blocks))  # type: ignore[arg-type]
                except StopIteration:
                    return False
                pending.append((pool.submit(_process_block, blk, head_rx), None))
                return True

            for _ in range(3):
                if not submit():
                    break
            while pending:
                fut, at = pending.pop(0)
                res = fut.result()
                if at is not None and res.get("buf") is not None and not res.get("cleaned"):
                    res["at"] = at  # the block's offset in the arena
                submit()
                _rebase(res, base)
                base += res["n"]
                for ln, text in zip(*res["slow"], strict=True):
                    if not parser.first_pid_set and res["first"] is not None and ln > res["first"][0]:
                        parser.first_pid, parser.first_pid_set = res["first"][1], True
                    feed(int(ln), text)
                if not parser.first_pid_set and res["first"] is not None:
                    parser.first_pid, parser.first_pid_set = res["first"][1], True
                n_total += res["n"] - len(res["slow"][1])
                if res.get("compact"):  # the rows go to the store now; the block keeps its bytes
                    if store is None:
                        per_line = res["n"] / max(len(res["buf"]), 1)
                        store = _RowStore(int(len(arena.buf) * per_line * 1.1) + 1024)  # type: ignore[union-attr]
                    store.append(res)
                fast_tables.append(res)
                if len(fast_tables) % 8 == 0:
                    _release()
                if progress is not None:
                    progress(res["n"])
            parser.n_lines += n_total
    for ev in parser.close():
        if strict and ev.kind == "unparsed":
            raise _strict_error(name, ev)
        slow_events.append(ev)
    if fast_tables and fast_tables[0].get("compact"):
        table = _assemble_scan(fast_tables, slow_events, parser, arena, store)
    else:
        table = _assemble(fast_tables, slow_events, parser)
    row = parser.trace_row()
    row["n_events"] = table.num_rows
    row["n_unparsed"] = int(pc.sum(pc.equal(table.column("kind"), "unparsed")).as_py() or 0)
    if row.get("exit_status") is None and parser.first_exit is None:
        pass
    _fill_ts_meta(row, table, parser)
    return table, row


def _fill_ts_meta(row: dict[str, Any], table: pa.Table, parser: StraceStreamParser) -> None:
    if table.num_rows == 0:
        return
    ts = table.column("ts")
    if ts.null_count == len(ts):
        return
    first = pc.min(ts).as_py()
    fmt = parser.ts_format or ("unix" if first >= 1e8 else "clock")
    meta = json.loads(row["meta"]) if row.get("meta") else {}
    meta["ts_format"] = fmt
    row["meta"] = json.dumps(meta)
    if fmt == "unix":
        row["start_time"] = first


_FAST_COLS = ["line", "pid", "ts", "syscall", "args", "ret", "ret_path", "errno", "duration", "note"]


def _lone_halves(u: pa.Table, r: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Unfinished halves left alone as events (the return fields null, ``unfinished`` set)
    and resumed halves left alone (their note "resumed without start", before any note)."""
    n_u = u.num_rows
    for k, typ in (("ret", pa.int64()), ("ret_path", pa.string()), ("errno", pa.string()),
                   ("duration", pa.float64()), ("note", pa.string())):
        u = u.append_column(k, pa.nulls(n_u, typ))
    u = u.append_column("unfinished", pa.array(np.ones(n_u, bool)))
    r_note = pc.if_else(
        pc.is_null(r.column("note")), "resumed without start",
        pc.binary_join_element_wise("resumed without start ", r.column("note"), ""),
    ) if r.num_rows else pa.array([], pa.string())
    return u, r.set_column(r.schema.get_field_index("note"), "note", r_note)


def _event_tables(extra: list[dict[str, Any]], slow: list[StraceEvent]) -> list[pa.Table]:
    """Tables of the calls joined in Python (``extra`` rows) and of the line grammar's events
    (``slow``, emptied), without ``trace_id``."""
    from .strace import events_to_table

    out = []
    if extra:
        ev = [StraceEvent(**{k: v for k, v in row.items() if k in StraceEvent._fields}) for row in extra]
        out.append(events_to_table(ev, "").drop_columns(["trace_id"]))
    if slow:
        out.append(events_to_table(slow, "").drop_columns(["trace_id"]))
        slow.clear()
    return out


def _assemble(blocks: list[dict[str, Any]], slow: list[StraceEvent], parser: StraceStreamParser) -> pa.Table:
    from ..dataset import EVENT_SCHEMA

    parts = []
    extra: list[dict[str, Any]] = []
    halves: tuple[pa.Table, pa.Table] | None = None
    if blocks:
        c = pa.concat_tables([pa.table(b["c"]) for b in blocks])
        u = pa.concat_tables([pa.table(b["u"]) for b in blocks]).combine_chunks()
        r = pa.concat_tables([pa.table(b["r"]) for b in blocks]).combine_chunks()
        for b in blocks:  # the concatenated tables hold what is still needed
            b.clear()
        _release()
        if parser.orphan_continuations:
            halves = (u.select(["line", "pid"]), r.select(["line", "pid"]))
        holder = [u, r]
        del u, r
        joined, u_left, r_left = _pair(holder)
        extra, u_left, r_left, slow = _fixup_leftovers(u_left, r_left, slow)
        # map resumed lines of joined calls to the event's line (for -k stacks)
        u_full, r_full = _lone_halves(u_left.select(["line", "pid", "ts", "syscall", "args", "fd_paths"]), r_left)
        cols = [*_FAST_COLS, "fd_paths"]
        pieces = [c.select(cols), joined.select(cols), r_full.select(cols)]
        del c, joined, r_full, u_left, r_left
        fastt = pa.concat_tables(
            [_cast_fast(p) for p in pieces] + [_cast_fast(u_full.select([*cols, "unfinished"]))],
            promote_options="default",
        )
        del pieces, u_full
        _release()
        n = fastt.num_rows
        kind = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array(["syscall"]))
        fastt = fastt.append_column("kind", kind)
        if parser.default_pid is not None:
            fastt = fastt.set_column(
                fastt.schema.get_field_index("pid"), "pid",
                pc.fill_null(fastt.column("pid"), parser.default_pid),
            )
        fastt = fastt.append_column("tid", fastt.column("pid"))
        parts.append(fastt)
        del fastt
    parts += _event_tables(extra, slow)
    if not parts:
        return EVENT_SCHEMA.empty_table().drop_columns(["trace_id"])
    schema = pa.schema([f for f in EVENT_SCHEMA if f.name != "trace_id"])
    tables = [_conform(t, schema) for t in parts]
    parts.clear()
    table = pa.concat_tables(tables).unify_dictionaries()
    del tables
    _release()
    # event order: by the line the event starts on (slow events keep their emission order);
    # taken one column at a time so only one column is ever held twice
    order = pc.sort_indices(table, sort_keys=[("line", "ascending"), ("seq", "ascending")])
    if not pc.all(pc.equal(order, pa.array(np.arange(table.num_rows, dtype=np.uint64)))).as_py():
        names = table.column_names
        cols = []
        order_np = np.asarray(order).astype(np.int64)
        plans: dict[Any, Any] = {}
        for name in names:
            # the biggest column (the argument text) in batches, so it is never held three
            # times (keeps the peak under 4x the input); the others in one take each
            take = _take_chunked if name == "args" else _take_whole
            cols.append(take(table.column(name), order_np, plans=plans))
            table = table.drop_columns([name])
        table = pa.table(dict(zip(names, cols, strict=True)), schema=schema)
    table = table.set_column(0, "seq", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    if parser.orphan_continuations:
        table = _attach_continuations(table, parser.orphan_continuations, halves)
    return table


_ROWCOLS_U = ["line", "pid", "ts", "syscall", "args", "fd_paths"]
_ROWCOLS_R = ["line", "pid", "ts", "syscall", "args", "ret", "ret_path", "errno", "duration", "note", "fd_paths"]


_ROW_FIELDS = {
    "kind": np.int8, "line": np.int64, "pid": np.int64, "pid_ok": np.bool_, "ts": np.float64,
    "ts_ok": np.bool_, "dur": np.float64, "dur_ok": np.bool_, "ret": np.int64, "ret_ok": np.bool_,
    "args_a": np.int32, "args_b": np.int32, "rpath_a": np.int32, "rpath_b": np.int32,
    "note_a": np.int32, "note_b": np.int32, "fd_a": np.int32, "fd_lt": np.int32, "fd_gt": np.int32,
}


class _RowStore:
    """The blocks' rows appended, as they arrive, to flat arrays (line order).

    The main thread copies each block's arrays in while the workers scan the next blocks,
    and the block's own arrays are let go at once (they are reused by the allocator, so the
    rows cost few fresh pages, and nothing is joined at the end). Capacity comes from an
    estimate (lines per byte of the first block times the log's size) and doubles if short.
    """

    def __init__(self, cap: int) -> None:
        self.n = 0
        self.cap = max(cap, 1024)
        self.cols = {k: np.empty(self.cap, t) for k, t in (*_ROW_FIELDS.items(), ("sys", np.int32),
                                                           ("err", np.int32), ("blk", np.int32),
                                                           ("partner", np.int64))}
        from . import _scan

        self.pairer = _scan.HalfPairer()  # halves are paired as the rows arrive
        self.names: dict[str, dict[bytes, int]] = {"sys": {}, "err": {}}
        self.hard_rows: list[np.ndarray] = []
        self.hard_text: list[str | None] = []
        self.blocks = 0

    def append(self, res: dict[str, Any]) -> None:
        m = len(res["kind"])
        if self.n + m > self.cap:
            cap = max(2 * self.cap, self.n + m)
            for k, v in self.cols.items():
                new = np.empty(cap, v.dtype)
                new[: self.n] = v[: self.n]
                self.cols[k] = new
            self.cap = cap
        sl = slice(self.n, self.n + m)
        for k in _ROW_FIELDS:
            self.cols[k][sl] = res.pop(k)
        for k in ("sys", "err"):  # block-local codes made global (first-appearance order)
            names = self.names[k]
            lmap = np.array([names.setdefault(nm, len(names)) for nm in res.pop(k + "_names")] + [-1], np.int32)
            self.cols[k][sl] = lmap[res.pop(k)]
        self.cols["blk"][sl] = self.blocks
        self.cols["partner"][sl] = -1
        c = self.cols
        self.pairer.feed(c["kind"], c["pid"], c["pid_ok"], c["sys"], c["partner"], self.n, self.n + m)
        hard, texts = res.pop("fd_hard")
        self.hard_rows.append(hard + self.n)
        self.hard_text.extend(texts)
        self.blocks += 1
        self.n += m


class _Rows:
    """The fast rows of all blocks as flat arrays (line order), with the log's bytes."""

    def __init__(self, store: _RowStore, blocks: list[dict[str, Any]], arena: np.ndarray | None) -> None:

        n = self.n = store.n
        for k in (*_ROW_FIELDS, "sys", "err", "blk", "partner"):  # R holds the only reference
            setattr(self, k, store.cols.pop(k)[:n])
        self.sys_names = [nm.decode() for nm in store.names["sys"]]
        self.err_names = [nm.decode() for nm in store.names["err"]]
        if arena is not None and all("at" in b for b in blocks):
            self.buf, self.base = arena, np.array([b["at"] for b in blocks], np.int64)
        else:  # a block was re-encoded (invalid UTF-8): one buffer of the blocks' bytes
            self.base = np.cumsum([0] + [len(b["buf"]) for b in blocks])[:-1].astype(np.int64)
            self.buf = np.concatenate([b.pop("buf") for b in blocks])
        # rows whose fd_paths JSON came from the line grammar (several decodings)
        self.fd_hard_rows = np.concatenate(store.hard_rows).astype(np.int64) if store.hard_rows \
            else np.zeros(0, np.int64)
        self.fd_hard_text = store.hard_text
        self.fd_ok = self.fd_a >= 0
        self.fd_ok[self.fd_hard_rows] = np.array([t is not None for t in self.fd_hard_text], bool)

    def drop(self, *names: str) -> None:
        """Let go of arrays no longer needed (keeps the assembly's peak memory down)."""
        for k in names:
            setattr(self, k, None)

    def strings(self, col: str, p: np.ndarray, s: np.ndarray | None = None, pos: np.ndarray | None = None,
                n_out: int | None = None, other: Any = None) -> pa.ChunkedArray:
        from . import _scan

        a, b = getattr(self, col + "_a"), getattr(self, col + "_b")
        return _scan.gather_rows(self.buf, self.base, self.blk, a, b, p, s, pos, n_out, other)

    def fd_json(self, q: np.ndarray, pos: np.ndarray | None = None, n_out: int | None = None,
                extra: tuple[pa.Array, np.ndarray] | None = None) -> pa.ChunkedArray:
        """The ``fd_paths`` column for rows ``q`` (-1: null) placed at ``pos``, written from
        the decoding spans; the line grammar's JSON for the hard rows; ``extra`` = (strings,
        positions) placed too."""
        from . import _scan

        q = q.copy()
        # hard rows: no decoding span (fd_a < 0) but a JSON from the line grammar (fd_ok)
        qc = np.maximum(q, 0)
        hit = np.flatnonzero((q >= 0) & self.fd_ok[qc] & (self.fd_a[qc] < 0))
        del qc
        texts = pa.array([self.fd_hard_text[j] for j in np.searchsorted(self.fd_hard_rows, q[hit]).tolist()],
                         pa.string())
        q[hit] = -1
        parts, where = [texts], [hit if pos is None else pos[hit]]
        if extra is not None:
            parts.append(pc.cast(extra[0], pa.string()))
            where.append(extra[1])
        other = (*_spans_of(pa.concat_arrays(parts)), np.concatenate(where))
        return _scan.gather_fd_json(self.buf, self.base, self.blk, self.fd_a, self.fd_lt, self.fd_gt,
                                    q, pos, n_out, other)

    def table(self, rows: np.ndarray, cols: list[str]) -> pa.Table:
        """A small table of the given rows (for halves left unpaired)."""
        out: dict[str, Any] = {}
        for c in cols:
            if c == "line":
                out[c] = pa.array(self.line[rows], pa.int64())
            elif c == "pid":
                ok = self.pid_ok[rows]
                out[c] = pa.array(self.pid[rows], pa.int64(), mask=~ok)
            elif c in ("ts", "duration", "ret"):
                v, ok = {"ts": (self.ts, self.ts_ok), "duration": (self.dur, self.dur_ok),
                         "ret": (self.ret, self.ret_ok)}[c]
                out[c] = pa.array(v[rows], pa.float64() if c != "ret" else pa.int64(), mask=~ok[rows])
            elif c in ("syscall", "errno"):
                codes, names = (self.sys, self.sys_names) if c == "syscall" else (self.err, self.err_names)
                cr = codes[rows]
                out[c] = pa.array(np.asarray(names + [None], object)[cr], pa.string()) if len(cr) \
                    else pa.array([], pa.string())
            else:
                if c == "fd_paths":
                    out[c] = self.fd_json(rows).combine_chunks()
                else:
                    key = {"args": "args", "ret_path": "rpath", "note": "note"}[c]
                    out[c] = self.strings(key, rows).combine_chunks()
        out["_row"] = pa.array(rows, pa.int64())
        return pa.table(out)


def _other_strings(col: pa.ChunkedArray, pos: np.ndarray) -> tuple[np.ndarray, ...]:
    a, b, data = _spans_of(col)
    return a, b, data, pos


def _column(src: np.ndarray, ok: np.ndarray | None, idx: np.ndarray, typ: pa.DataType, n: int,
            pos_f: np.ndarray | None, other: pa.ChunkedArray | None, pos_o: np.ndarray | None) -> pa.Array:
    """A fixed-width column: ``src[idx]`` (valid where ``ok[idx]``) at ``pos_f``, the other
    rows' values at ``pos_o``; one compiled pass, the validity bitmap packed directly."""
    from . import _scan

    out = np.empty(n, src.dtype)
    valid = np.empty(n, np.bool_)
    _scan.take_place(src, ok, idx, pos_f, out, valid)
    if other is not None and pos_o is not None and len(pos_o):
        oc = other.combine_chunks() if isinstance(other, pa.ChunkedArray) else other
        if oc.type != typ:
            oc = pc.cast(oc, typ)
        valid[pos_o] = np.asarray(oc.is_valid())
        out[pos_o] = np.asarray(oc.fill_null(False if typ == pa.bool_() else 0)).astype(src.dtype)
    nulls = n - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    if typ == pa.bool_():
        return pa.array(out, typ, mask=~valid if nulls else None)
    return pa.Array.from_buffers(typ, n, [bitmap, pa.py_buffer(out)], null_count=nulls)


def _dictionary(fast_codes: np.ndarray, names: list[str], n: int, pos_f: np.ndarray | None,
                other: pa.ChunkedArray | None, pos_o: np.ndarray | None) -> pa.DictionaryArray:
    """A dictionary column from global codes of the fast rows (-1: null) and other rows' strings."""
    names = list(names)
    if other is not None and pos_o is not None and len(pos_o):
        index = {nm: i for i, nm in enumerate(names)}
        ocodes = np.array([-1 if v is None else index.setdefault(v, len(index))
                           for v in pc.cast(other, pa.string()).to_pylist()], np.int32)
        names = list(index)
        out = np.empty(n, np.int32)
        out[pos_f] = fast_codes
        out[pos_o] = ocodes
    else:
        out = np.ascontiguousarray(fast_codes, np.int32)
    bad = out < 0
    idx = pa.array(np.where(bad, 0, out), pa.int32(), mask=bad if bad.any() else None)
    return pa.DictionaryArray.from_arrays(idx, pa.array(names, pa.string()))


def _assemble_scan(blocks: list[dict[str, Any]], slow: list[StraceEvent], parser: StraceStreamParser,
                   arena: _Arena | None, store: _RowStore) -> pa.Table:
    """The events table from the compiled scanner's blocks, every column built once.

    One compiled pass pairs each ``<unfinished ...>`` half with its ``<... resumed>`` half
    (per pid, same name); the output rows are the complete calls and the joined calls in
    start-line order, merged with the few other rows (halves left alone, the line
    grammar's events) by line; each column is then gathered once: fixed-width columns by
    NumPy indexing, string columns by one compiled copy from the blocks' bytes (the joined
    ``args`` written as the unfinished half's text followed by the resumed half's).
    """
    with ThreadPoolExecutor(1) as pool:
        return _assemble_rows(blocks, slow, parser, arena, store, pool)


def _assemble_rows(blocks: list[dict[str, Any]], slow: list[StraceEvent], parser: StraceStreamParser,
                   arena: _Arena | None, store: _RowStore, pool: ThreadPoolExecutor) -> pa.Table:
    """:func:`_assemble_scan`'s work; ``pool`` (one thread) runs compiled kernels alongside."""
    from ..dataset import EVENT_SCHEMA
    from . import _scan

    R = _Rows(store, blocks, arena.buf if arena is not None else None)
    if arena is not None:
        arena.buf = None  # type: ignore[assignment]  # R holds it until the string columns are made
    for b in blocks:  # R holds what is still needed
        b.clear()
    partner = R.partner
    if R.n == 0:
        return _assemble([], slow, parser)
    schema = pa.schema([f for f in EVENT_SCHEMA if f.name != "trace_id"])
    is_u = R.kind == _scan.KIND_UNF
    is_r = R.kind == _scan.KIND_RES
    halves = None
    if parser.orphan_continuations:
        halves = (R.table(np.flatnonzero(is_u), ["line", "pid"]), R.table(np.flatnonzero(is_r), ["line", "pid"]))
    lone = partner < 0
    u_left = R.table(np.flatnonzero(is_u & lone), _ROWCOLS_U)
    r_left = R.table(np.flatnonzero(is_r & lone), _ROWCOLS_R)
    extra, u_left, r_left, slow = _fixup_leftovers(u_left, r_left, slow)
    # halves joined by _fixup_leftovers became `extra` rows: their rows leave the fast set
    sel = (R.kind == _scan.KIND_CALL) | (is_u & ~lone)
    del is_u, is_r, lone
    p = np.flatnonzero(sel)
    del sel
    s = partner[p]
    del partner
    R.drop("partner")
    # -- the other rows: halves still alone, rows joined in Python, the line grammar's events
    others = []
    if u_left.num_rows or r_left.num_rows:
        u_full, r_full = _lone_halves(u_left.drop_columns(["_row"]), r_left.drop_columns(["_row"]))
        for t in (r_full, u_full):
            if not t.num_rows:
                continue
            t = t.append_column("kind", pa.array(["syscall"] * t.num_rows, pa.string()))
            if parser.default_pid is not None:
                t = t.set_column(t.schema.get_field_index("pid"), "pid",
                                 pc.fill_null(t.column("pid"), parser.default_pid))
            t = t.append_column("tid", t.column("pid"))
            others.append(t)
    others += _event_tables(extra, slow)
    oth: pa.Table | None = None
    pos_f = pos_o = None
    nf = len(p)
    line_f = R.line[p]
    if others:
        oth = pa.concat_tables([_conform(t, schema) for t in others]).unify_dictionaries()
        order = pc.sort_indices(oth, sort_keys=[("line", "ascending"), ("seq", "ascending")])
        oth = oth.take(order)
        line_o = np.asarray(pc.fill_null(oth.column("line"), np.iinfo(np.int64).max))
        pos_f = np.arange(nf, dtype=np.int64) + np.searchsorted(line_o, line_f, "left")
        pos_o = np.arange(len(line_o), dtype=np.int64) + np.searchsorted(line_f, line_o, "right")
    n = nf + (oth.num_rows if oth is not None else 0)

    def ocol(name: str) -> pa.ChunkedArray | None:
        return None if oth is None else oth.column(name)

    q = np.where(s >= 0, s, p)
    cols: dict[str, Any] = {}

    def other_str(name: str) -> Any:
        return None if oth is None else _other_strings(oth.column(name), pos_o)

    # fd_paths: the half that has one; both halves (rare): recomputed on the joined text
    fd_p = R.fd_ok[p]
    fd_s = (s >= 0) & R.fd_ok[np.maximum(s, 0)]
    fq = np.where(fd_p, p, np.where(fd_s, s, -1))
    both = np.flatnonzero(fd_p & fd_s)
    del fd_p, fd_s
    extra_s: list[pa.Array] = []
    extra_p: list[np.ndarray] = []
    if oth is not None:
        extra_s.append(pc.cast(oth.column("fd_paths").combine_chunks(), pa.string()))
        extra_p.append(pos_o)  # type: ignore[arg-type]
    if len(both):
        texts = R.strings("args", p[both], s[both]).to_pylist()
        fq[both] = -1
        extra_s.append(pa.array([fd_paths_json(t) for t in texts], pa.string()))
        extra_p.append(both if pos_f is None else pos_f[both])
        del texts
    extra = (pa.concat_arrays(extra_s), np.concatenate(extra_p)) if extra_s else None
    # the two biggest string columns (args, fd_paths) on the other thread
    args = pool.submit(R.strings, "args", p, s, pos_f, n, other_str("args"))
    fd = pool.submit(R.fd_json, fq, pos_f, n, extra)
    del fq, extra, extra_s, extra_p
    # the fixed-width columns meanwhile (their inputs go as they are used)
    cols["seq"] = pa.array(np.arange(n, dtype=np.int64))
    del line_f
    cols["line"] = _column(R.line, None, p, pa.int64(), n, pos_f, ocol("line"), pos_o)
    R.drop("line")
    pid_src, pid_ok = R.pid, R.pid_ok
    R.drop("pid", "pid_ok")
    if parser.default_pid is not None:
        pid_src, pid_ok = np.where(pid_ok, pid_src, parser.default_pid), None
    cols["pid"] = _column(pid_src, pid_ok, p, pa.int64(), n, pos_f, ocol("pid"), pos_o)
    cols["tid"] = cols["pid"] if oth is None else _column(pid_src, pid_ok, p, pa.int64(), n, pos_f,
                                                           ocol("tid"), pos_o)
    del pid_src, pid_ok
    cols["ts"] = _column(R.ts, R.ts_ok, p, pa.float64(), n, pos_f, ocol("ts"), pos_o)
    R.drop("ts", "ts_ok")
    cols["syscall"] = _dictionary(R.sys[p], R.sys_names, n, pos_f, ocol("syscall"), pos_o)
    cols["ret"] = _column(R.ret, R.ret_ok, q, pa.int64(), n, pos_f, ocol("ret"), pos_o)
    R.drop("ret", "ret_ok")
    cols["errno"] = _dictionary(R.err[q], R.err_names, n, pos_f, ocol("errno"), pos_o)
    cols["duration"] = _column(R.dur, R.dur_ok, q, pa.float64(), n, pos_f, ocol("duration"), pos_o)
    R.drop("dur", "dur_ok", "sys", "err", "kind")
    cols["ret_path"] = R.strings("rpath", q, None, pos_f, n, other_str("ret_path"))
    cols["note"] = R.strings("note", q, None, pos_f, n, other_str("note"))
    cols["args"] = args.result()
    cols["fd_paths"] = fd.result()
    del args, fd
    R.drop("buf", "args_a", "args_b", "rpath_a", "rpath_b", "note_a", "note_b", "fd_a", "fd_lt", "fd_gt", "fd_ok")
    _release()
    del R
    cols["kind"] = _dictionary(np.zeros(nf, np.int32), ["syscall"], n, pos_f, ocol("kind"), pos_o)
    for name in ("unfinished", "stack", "raw", "nr", "ip", "comm"):
        typ = schema.field(name).type
        if oth is None or oth.column(name).null_count == oth.num_rows:
            cols[name] = pa.nulls(n, typ)
        elif pa.types.is_string(typ):
            a, b, data = _spans_of(oth.column(name))
            cols[name] = _scan.string_chunks(*_place_strings(a, b, data, pos_o, n))
        else:
            dt = np.bool_ if typ == pa.bool_() else np.int64  # fast rows: null
            cols[name] = _column(np.zeros(1, dt), np.zeros(1, bool), np.zeros(nf, np.int64), typ, n, pos_f,
                                 oth.column(name), pos_o)
    table = pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)
    if parser.orphan_continuations:
        table = _attach_continuations(table, parser.orphan_continuations, halves)
    return table


def _place_strings(a: np.ndarray, b: np.ndarray, data: np.ndarray, pos: np.ndarray, n: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, valid, data) of an n-row string column holding ``data[a[k]:b[k]]`` at ``pos[k]``."""
    lens = np.zeros(n + 1, np.int64)
    valid = np.zeros(n, bool)
    ok = a >= 0
    lens[pos[ok] + 1] = (b - a)[ok]
    valid[pos[ok]] = True
    offs = np.cumsum(lens)
    order = np.argsort(pos[ok], kind="stable")
    pieces = [data[x:y] for x, y in zip(a[ok][order].tolist(), b[ok][order].tolist(), strict=True)]
    out = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
    return offs, valid, out


def _take_whole(col: pa.ChunkedArray, order: np.ndarray, plans: dict[Any, Any] | None = None) -> pa.ChunkedArray:
    """``col.take(order)`` as ONE take over the column made contiguous (one extra copy of it)."""
    if col.null_count == len(col):
        return pa.chunked_array([pa.nulls(len(order), col.type)], type=col.type)
    idx = None if plans is None else plans.get("idx")
    if idx is None:
        idx = pa.array(order)
        if plans is not None:
            plans["idx"] = idx
    return pa.chunked_array([col.combine_chunks().take(idx)], type=col.type)


def _take_chunked(
    col: pa.ChunkedArray, order: np.ndarray, rows: int = 1 << 16, plans: dict[Any, Any] | None = None
) -> pa.ChunkedArray:
    """``col.take(order)`` built ``rows`` output rows at a time from the chunks they need.

    Arrow's take on a chunked column first concatenates the chunks (a full extra copy);
    this never holds more than the source, the result and one small batch.
    """
    if col.num_chunks <= 1 or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        # one chunk, or fixed-width values (8 bytes a row at most): one take is cheap
        return pa.chunked_array([col.combine_chunks().take(pa.array(order))], type=col.type)
    if col.null_count == len(col):
        return pa.chunked_array([pa.nulls(len(order), col.type)], type=col.type)
    bounds = tuple(np.cumsum([0] + [len(c) for c in col.chunks]).tolist())
    plans = {} if plans is None else plans  # the same chunk layout recurs across columns
    plan = plans.get(bounds)
    if plan is None:
        plan = plans[bounds] = _take_plan(np.asarray(bounds), order, rows)
    out = []
    for pieces, inv in plan:
        if inv is None:
            k, idx = pieces[0]
            out.append(col.chunk(k).take(idx))
            continue
        flat = pa.concat_arrays([col.chunk(k).take(idx) for k, idx in pieces])
        out.append(flat.take(inv))
    return pa.chunked_array(out, type=col.type)


def _take_plan(bounds: np.ndarray, order: np.ndarray, rows: int) -> list[Any]:
    """Per batch of output rows: the (chunk, local indices) to take and the permutation."""
    plan = []
    for s in range(0, len(order), rows):
        sel = order[s : s + rows]
        ks = np.searchsorted(bounds, sel, side="right") - 1
        uniq = np.flatnonzero(np.bincount(ks))
        if len(uniq) == 1:
            k = int(uniq[0])
            plan.append(([(k, pa.array(sel - bounds[k]))], None))
            continue
        p = np.argsort(ks, kind="stable")
        sk = ks[p]
        cuts = np.searchsorted(sk, uniq)
        ends = np.append(cuts[1:], len(p))
        pieces = [(int(k), pa.array(sel[p[a:b]] - bounds[k])) for k, a, b in zip(uniq, cuts, ends, strict=True)]
        inv = np.empty(len(p), np.int64)
        inv[p] = np.arange(len(p))
        plan.append((pieces, pa.array(inv)))
    return plan


def _release() -> None:
    """Hand freed Arrow memory back to the system (mimalloc keeps it otherwise)."""
    pa.default_memory_pool().release_unused()


def _cast_fast(t: pa.Table) -> pa.Table:
    cols = {}
    for f in t.schema:
        col = t.column(f.name)
        if f.name in ("syscall", "errno") and not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        cols[f.name] = col
    return pa.table(cols)


def _conform(t: pa.Table, schema: pa.Schema) -> pa.Table:
    n = t.num_rows
    cols = []
    for f in schema:
        if f.name == "seq" and f.name not in t.column_names:
            cols.append(pa.array(np.zeros(n, np.int64)))
            continue
        if f.name in t.column_names:
            col = t.column(f.name)
            if pa.types.is_dictionary(f.type):
                if not pa.types.is_dictionary(col.type):
                    col = pc.dictionary_encode(pc.cast(col, pa.string()))
                col = pc.cast(col, f.type)
            elif col.type != f.type:
                col = pc.cast(col, f.type)
            cols.append(col)
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _attach_continuations(
    table: pa.Table, conts: list[tuple[int, str, str]], halves: tuple[pa.Table, pa.Table] | None
) -> pa.Table:
    """-k stack / hex-dump lines whose event came from the fast path."""
    lines = np.asarray(table.column("line"))
    # a resumed line belongs to the event of its unfinished start: find it by pid order
    stack = table.column("stack").to_pylist()
    note = table.column("note").to_pylist()
    res_lines: dict[int, int] = {}
    if halves is not None:
        # joined calls: map each resumed line to its start line (recomputed cheaply)
        u, r = halves
        if u.num_rows and r.num_rows:
            pid = np.concatenate([np.asarray(pc.fill_null(u.column("pid"), -1)),
                                  np.asarray(pc.fill_null(r.column("pid"), -1))])
            ln = np.concatenate([np.asarray(u.column("line")), np.asarray(r.column("line"))])
            is_r = np.concatenate([np.zeros(u.num_rows, bool), np.ones(r.num_rows, bool)])
            order = np.lexsort((ln, pid))
            sl, sr, sp = ln[order], is_r[order], pid[order]
            for k in range(1, len(order)):
                if sr[k] and not sr[k - 1] and sp[k] == sp[k - 1]:
                    res_lines[int(sl[k])] = int(sl[k - 1])
    for target, kind, text in conts:
        target = res_lines.get(target, target)
        i = int(np.searchsorted(lines, target))
        if i >= len(lines) or lines[i] != target:
            continue
        if kind == "stack":
            stack[i] = text if stack[i] is None else stack[i] + "\n" + text
        else:
            note[i] = text if note[i] is None else note[i] + "\n" + text
    table = table.set_column(table.schema.get_field_index("stack"), "stack", pa.array(stack, pa.string()))
    return table.set_column(table.schema.get_field_index("note"), "note", pa.array(note, pa.string()))


class _Prepend(io.RawIOBase):
    """A raw stream that yields ``first`` and then the rest of ``fh``."""

    def __init__(self, first: bytes, fh: IO[bytes]) -> None:
        self._first = memoryview(first)
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._first:
            n = min(len(b), len(self._first))
            b[:n] = self._first[:n]
            self._first = self._first[n:]
            return n
        data = self._fh.read(len(b))
        b[: len(data)] = data
        return len(data)
