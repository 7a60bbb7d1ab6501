"""The fast window database behind stide, t-stide and compare.

The normal database of stide (Forrest et al. 1996; Hofmeyr, Forrest & Somayaji 1998) is
the set of distinct length-k windows of normal traces with their counts. Here it is a
``(n, k)`` int32 array of distinct windows plus an int64 array of counts; everything else
is an index rebuilt on demand:

* every window gets one 64-bit key. The calls are laid out as bytes (1 byte per call when
  the vocabulary has at most 256 names, 2 bytes up to 65,536) and read as little-endian
  64-bit words straight from the flat call array (an unaligned strided view, no Python
  loop). When a window fits one word (k <= 8 with byte calls) the key *is* the window,
  exactly; when ``k * bits`` fits 64 bits the calls are bit-packed, exactly; otherwise the
  words are mixed into a 64-bit hash (splitmix64 finaliser) and every hit is verified
  against the stored window, so answers stay exact;
* membership is one compiled pass (numba): an open-addressing hash table (linear probing,
  load <= 1/2, int32 slots) over the database's packed words, built once when the index is
  first needed (at fit or after loading; never saved), and a lookup that computes every
  window's words straight from the call array (rolling, no copy) and compares all of them
  on a hit, so every answer is exact, hashed keys included;
* the minimum Hamming distance of a window that does not match is found for distinct
  query windows only: distance 1 through k "one-position-wildcarded" tables, distance 2
  through k(k-1)/2 two-position tables, and a vectorised brute force over the database
  for the rare remainder (distance >= 3).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from ..features import UNKNOWN, Sequences, _ranges, window_rows, window_starts

_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_SEEDS = (0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _fmix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array."""
    h ^= h >> _S30
    h *= _M2
    h ^= h >> _S27
    h *= _M3
    h ^= h >> _S31
    return h


# ---------------------------------------------------------------------------- compiled
# One hash table of the database's packed windows: ``slots`` (power-of-two length, int32
# database row or -1) probed linearly from ``_slot_hash(words)``; a probe compares every
# word, so the table is exact whatever the key mode.

_U30, _U27, _U31 = np.uint64(30), np.uint64(27), np.uint64(31)
_UM2, _UM3 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_USEED = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def _mix64(h):  # pragma: no cover - compiled
    h ^= h >> _U30
    h *= _UM2
    h ^= h >> _U27
    h *= _UM3
    h ^= h >> _U31
    return h


@njit(cache=True, nogil=True)
def _table_build(words):  # pragma: no cover - compiled
    """Open-addressing table over distinct ``words`` rows: ``(size, nw + 1)`` uint64, column
    0 = database row + 1 (0 = empty slot), then the row's words (inline: one cache line a probe)."""
    n, nw = words.shape
    size = 16
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.zeros((size, nw + 1), np.uint64)
    for i in range(n):
        h = _USEED
        for w in range(nw):
            h = _mix64(h ^ words[i, w])
        s = h & mask
        while table[s, 0] != 0:
            s = (s + np.uint64(1)) & mask
        table[s, 0] = i + 1
        for w in range(nw):
            table[s, w + 1] = words[i, w]
    return table


@njit(cache=True, nogil=True, inline="always")
def _probe1(table, mask, key):  # pragma: no cover - compiled
    """Row whose single word is ``key`` (-1 when absent)."""
    s = _mix64(_USEED ^ key) & mask
    while True:
        c = table[s, 0]
        if c == 0:
            return -1
        if table[s, 1] == key:
            return np.int64(c) - 1
        s = (s + np.uint64(1)) & mask


@njit(cache=True, nogil=True, inline="always")
def _probe(table, mask, cur, nw):  # pragma: no cover - compiled
    """Row whose words are ``cur[:nw]`` (-1 when absent)."""
    h = _USEED
    for w in range(nw):
        h = _mix64(h ^ cur[w])
    s = h & mask
    while True:
        c = table[s, 0]
        if c == 0:
            return -1
        same = True
        for w in range(nw):
            if table[s, w + 1] != cur[w]:
                same = False
                break
        if same:
            return np.int64(c) - 1
        s = (s + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def _table_lookup(table, query):  # pragma: no cover - compiled
    """Row of the table equal to each row of ``query`` (-1 when absent)."""
    m, nw = query.shape
    mask = np.uint64(len(table) - 1)
    out = np.empty(m, np.int32)
    for i in range(m):
        out[i] = _probe(table, mask, query[i], nw)
    return out


@njit(cache=True, nogil=True)
def _table_lookup_seqs(table, codes, offsets, k, shift, bits_mode, tail_mask):  # pragma: no cover
    """Row of every window of every sequence (``offsets``; each at least k long), the
    words computed on the fly from ``codes`` exactly as :class:`KeyEncoder` packs them:
    ``bits_mode``: one word, call j at bit ``shift * j``; else calls of ``shift`` bits laid
    out byte-wise, 64/shift calls a word, the last word masked with ``tail_mask``. Each
    word is rolled: drop its first call, append the call after its end."""
    nw = table.shape[1] - 1
    n_out = 0
    for q in range(len(offsets) - 1):
        n_out += offsets[q + 1] - offsets[q] - k + 1
    out = np.empty(n_out, np.int32)
    mask = np.uint64(len(table) - 1)
    ushift = np.uint64(shift)
    per_word = 64 // shift if not bits_mode else k
    top = np.uint64(64 - shift) if not bits_mode else np.uint64(shift * (k - 1))
    n_codes = len(codes)
    o = 0
    if nw == 1:  # the common case, all in registers
        for q in range(len(offsets) - 1):
            a, b = offsets[q], offsets[q + 1]
            cur = np.uint64(0)
            # per_word rolls fill the word of the window at ``a``; then one roll a window
            for i in range(a - per_word + 1, a):
                nxt = i + per_word - 1
                c = np.uint64(codes[nxt]) if nxt < n_codes else np.uint64(0)
                cur = (cur >> ushift) | (c << top)
            for i in range(a, b - k + 1):
                nxt = i + per_word - 1
                c = np.uint64(codes[nxt]) if nxt < n_codes else np.uint64(0)
                cur = (cur >> ushift) | (c << top)
                out[o] = _probe1(table, mask, cur & tail_mask)
                o += 1
        return out
    if nw == 2:  # e.g. k = 9..16 with byte calls: two registers
        for q in range(len(offsets) - 1):
            a, b = offsets[q], offsets[q + 1]
            r0 = np.uint64(0)
            r1 = np.uint64(0)
            for i in range(a - per_word + 1, b - k + 1):
                n0 = i + per_word - 1
                n1 = n0 + per_word
                c0 = np.uint64(codes[n0]) if n0 < n_codes else np.uint64(0)
                c1 = np.uint64(codes[n1]) if n1 < n_codes else np.uint64(0)
                r0 = (r0 >> ushift) | (c0 << top)
                r1 = (r1 >> ushift) | (c1 << top)
                if i < a:
                    continue
                w1 = r1 & tail_mask
                s = _mix64(_mix64(_USEED ^ r0) ^ w1) & mask
                r = -1
                while True:
                    c = table[s, 0]
                    if c == 0:
                        break
                    if table[s, 1] == r0 and table[s, 2] == w1:
                        r = np.int64(c) - 1
                        break
                    s = (s + np.uint64(1)) & mask
                out[o] = r
                o += 1
        return out
    cur = np.zeros(nw, np.uint64)
    roll = np.zeros(nw, np.uint64)
    for q in range(len(offsets) - 1):
        a, b = offsets[q], offsets[q + 1]
        for w in range(nw):
            roll[w] = 0
        for i in range(a - per_word + 1, b - k + 1):
            for w in range(nw):
                nxt = i + (w + 1) * per_word - 1
                c = np.uint64(codes[nxt]) if 0 <= nxt < n_codes else np.uint64(0)
                roll[w] = (roll[w] >> ushift) | (c << top)
            if i < a:
                continue
            for w in range(nw - 1):
                cur[w] = roll[w]
            cur[nw - 1] = roll[nw - 1] & tail_mask
            out[o] = _probe(table, mask, cur, nw)
            o += 1
    return out

@njit(cache=True, nogil=True, inline="always")
def _hamming_below(db, r, q, i, best):  # pragma: no cover - compiled
    """Hamming distance of ``db[r]`` and ``q[i]``, counted only up to ``best`` (a result
    >= ``best`` means "not closer")."""
    d = 0
    for j in range(q.shape[1]):
        if db[r, j] != q[i, j]:
            d += 1
            if d >= best:
                break
    return d


@njit(cache=True, nogil=True)
def _scan_min_hamming(db, q, orders, lo, hi, lower, certified, full_scan):  # pragma: no cover - compiled
    """Exact minimum Hamming distance of each query row to the ``db`` rows, known to be at
    least ``lower``. First the block candidates (``orders[b, lo[i, b]:hi[i, b]]``: rows equal
    to the query on block b); by the pigeonhole principle a distance <= ``certified`` found
    there is the minimum. Otherwise (``full_scan``; else -1 is returned) every row is scanned,
    each comparison stopping as soon as it cannot beat the best so far, and the scan stops
    at distance ``certified + 1``."""
    m, k = q.shape
    n = db.shape[0]
    nb = lo.shape[1]
    out = np.empty(m, np.int16)
    for i in range(m):
        best = k
        for b in range(nb):
            for t in range(lo[i, b], hi[i, b]):
                d = _hamming_below(db, orders[b, t], q, i, best)
                if d < best:
                    best = d
                    if best <= lower:
                        break
            if best <= lower:
                break
        if best > certified and not full_scan:
            best = -1
        elif best > certified:
            floor = certified + 1
            for r in range(n):
                d = _hamming_below(db, r, q, i, best)
                if d < best:
                    best = d
                    if best <= floor:
                        break
        out[i] = best
    return out


@njit(cache=True, nogil=True)
def _bits_max_matches(bits, q, n, target):  # pragma: no cover - compiled
    """Largest number of positions each query shares with one database row, bit-parallel
    (k <= 31): per 64-row word the k bitsets ``bits[j, q[j]]`` are added into a bit-sliced
    counter held in five registers, and the word's maximum is read off plane by plane.
    Stops a query early once ``target`` matches (the most possible) are reached."""
    m, k = q.shape
    v = bits.shape[1]
    nwords = bits.shape[2]
    out = np.zeros(m, np.int16)
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    tail = full if n % 64 == 0 else (np.uint64(1) << np.uint64(n % 64)) - np.uint64(1)
    for i in range(m):
        best = 0
        for w in range(nwords):
            c0 = np.uint64(0)
            c1 = np.uint64(0)
            c2 = np.uint64(0)
            c3 = np.uint64(0)
            c4 = np.uint64(0)
            for j in range(k):
                call = q[i, j]
                if call >= v:
                    continue
                x = bits[j, call, w]
                t = c0 & x
                c0 ^= x
                x = t
                t = c1 & x
                c1 ^= x
                x = t
                t = c2 & x
                c2 ^= x
                x = t
                t = c3 & x
                c3 ^= x
                c4 ^= t
            live = tail if w == nwords - 1 else full
            val = 0
            for p in range(4, -1, -1):
                plane = c4 if p == 4 else c3 if p == 3 else c2 if p == 2 else c1 if p == 1 else c0
                cand = live & plane
                if cand != 0:
                    live = cand
                    val += 1 << p
            if live != 0 and val > best:
                best = val
                if best >= target:
                    break
        out[i] = best
    return out


@njit(cache=True, nogil=True)
def _slots_build(keys):  # pragma: no cover - compiled
    """int32 open-addressing slots (-1 = empty) over distinct uint64 ``keys`` (load <= 1/2)."""
    size = 16
    while size < 2 * len(keys):
        size *= 2
    mask = np.uint64(size - 1)
    slots = np.full(size, -1, np.int32)
    for i in range(len(keys)):
        s = _mix64(_USEED ^ keys[i]) & mask
        while slots[s] >= 0:
            s = (s + np.uint64(1)) & mask
        slots[s] = i
    return slots


@njit(cache=True, nogil=True)
def _slots_lookup(slots, keys, query):  # pragma: no cover - compiled
    """Position of each ``query`` key in ``keys`` (-1 when absent), through ``slots``."""
    mask = np.uint64(len(slots) - 1)
    out = np.empty(len(query), np.int64)
    for i in range(len(query)):
        key = query[i]
        s = _mix64(_USEED ^ key) & mask
        r = -1
        while True:
            c = slots[s]
            if c < 0:
                break
            if keys[c] == key:
                r = c
                break
            s = (s + np.uint64(1)) & mask
        out[i] = r
    return out


class KeyEncoder:
    """One uint64 key per window of k calls from a vocabulary of ``vocab_size`` ids.

    ``exact`` is true when the key is the window itself (no collisions possible).
    """

    def __init__(self, k: int, vocab_size: int, seed: int = 0) -> None:
        self.k = int(k)
        self.vocab_size = int(vocab_size)
        self.itemsize = 1 if vocab_size <= 256 else 2 if vocab_size <= 65536 else 4
        self.dtype = np.dtype(f"<u{self.itemsize}")
        self.nwords = math.ceil(self.k * self.itemsize / 8)
        self.bits = max(1, int(vocab_size - 1).bit_length())
        if self.nwords == 1:
            self.mode = "word"
        elif self.k * self.bits <= 64:
            self.mode = "bits"
        else:
            self.mode = "hash"
        self.exact = self.mode != "hash"
        self.seed = np.uint64(_SEEDS[seed % len(_SEEDS)] ^ (seed // len(_SEEDS)))
        tail = self.k * self.itemsize - 8 * (self.nwords - 1)
        self._tail_mask = np.uint64((1 << (8 * tail)) - 1) if tail < 8 else np.uint64(0xFFFFFFFFFFFFFFFF)

    def mix(self, words: np.ndarray) -> np.ndarray:
        """Keys from the ``(m, nwords)`` words of :meth:`flat_words` / :meth:`row_words`."""
        if self.mode != "hash":
            return np.ascontiguousarray(words[:, 0])
        h = np.full(len(words), self.seed, dtype=np.uint64)
        for w in range(self.nwords):
            h ^= words[:, w]
            _fmix(h)
        return h

    def flat_words(self, codes: np.ndarray, flat_start: np.ndarray) -> np.ndarray:
        """The windows starting at ``flat_start`` in the flat ``codes`` array, losslessly
        packed into ``(m, nwords)`` uint64 words (one word, the key itself, unless hashed).

        Windows are read straight from ``codes`` (correct for windows that lie inside
        their sequence; the caller fixes padded ones with :meth:`row_words`).
        """
        flat_start = np.asarray(flat_start, np.int64)
        m = len(flat_start)
        if m == 0:
            return np.zeros((0, self.nwords if self.mode != "bits" else 1), np.uint64)
        if self.mode == "bits":
            ext = np.concatenate([codes, np.zeros(self.k, codes.dtype)]).astype(np.uint64)
            key = ext[flat_start]
            for j in range(1, self.k):
                key |= ext[flat_start + j] << np.uint64(self.bits * j)
            return key[:, None]
        n = len(codes)
        buf = np.zeros(n * self.itemsize + 8 * self.nwords + 8, dtype=np.uint8)
        buf[: n * self.itemsize] = codes.astype(self.dtype).view(np.uint8)
        if self.nwords == 1:
            view = np.ndarray((n + 1,), dtype="<u8", buffer=buf, offset=0, strides=(self.itemsize,))
            word = view[flat_start]
            word &= self._tail_mask
            return word[:, None]
        out = np.empty((m, self.nwords), np.uint64)
        for w in range(self.nwords):
            view = np.ndarray((n + 1,), dtype="<u8", buffer=buf, offset=8 * w, strides=(self.itemsize,))
            out[:, w] = view[flat_start]
        out[:, -1] &= self._tail_mask
        return out

    def row_words(self, rows: np.ndarray) -> np.ndarray:
        """Words of explicit windows (an ``(m, k)`` array); equal to :meth:`flat_words`."""
        rows = np.asarray(rows)
        m = len(rows)
        if self.mode == "bits":
            if m == 0:
                return np.zeros((0, 1), np.uint64)
            r = rows.astype(np.uint64)
            key = r[:, 0].copy()
            for j in range(1, self.k):
                key |= r[:, j] << np.uint64(self.bits * j)
            return key[:, None]
        width = self.nwords * 8 // self.itemsize
        packed = np.zeros((m, width), dtype=self.dtype)
        packed[:, : self.k] = rows
        return np.ascontiguousarray(packed).view("<u8").reshape(m, self.nwords)

    def flat_keys(self, codes: np.ndarray, flat_start: np.ndarray) -> np.ndarray:
        return self.mix(self.flat_words(codes, flat_start))

    def row_keys(self, rows: np.ndarray) -> np.ndarray:
        return self.mix(self.row_words(rows))


class Matches:
    """Every window of some sequences and where (if anywhere) it is in the database.

    ``index`` (int32 database row, -1 when absent) is computed eagerly; window positions
    (``seq_index``, ``start``, ``flat_start``, ``padded``) and ``words`` (the windows,
    losslessly packed as uint64 words) are computed on first use, so plain membership
    pays only for the lookup.
    """

    def __init__(self, seqs: Sequences, k: int, index: np.ndarray, words: np.ndarray | None = None,
                 keys: np.ndarray | None = None, positions: tuple[np.ndarray, ...] | None = None,
                 words_all: np.ndarray | None = None, encoder: KeyEncoder | None = None) -> None:
        self._seqs, self._k = seqs, k
        self.index = index
        self._words = words
        self.keys = keys  # uint64 window keys (exact encoders only; else None)
        self._positions = positions
        self._words_all = words_all  # per flat position (fast path)
        self._encoder = encoder  # words read from the call array on demand (compiled path)

    def _pos(self) -> tuple[np.ndarray, ...]:
        if self._positions is None:
            self._positions = window_starts(self._seqs, self._k)
        return self._positions

    seq_index = property(lambda self: self._pos()[0])
    start = property(lambda self: self._pos()[1])
    flat_start = property(lambda self: self._pos()[2])
    padded = property(lambda self: self._pos()[3])

    @property
    def words(self) -> np.ndarray:
        if self._words is None:
            if self._words_all is not None:
                self._words = self._words_all[self.flat_start]
            else:
                assert self._encoder is not None
                self._words = self._encoder.flat_words(self._seqs.codes, self.flat_start)
        return self._words

    def words_at(self, which: np.ndarray) -> np.ndarray:
        if self._words is None and self._words_all is not None:
            return self._words_all[self.flat_start[which]]
        if self._words is None and self._encoder is not None:
            # no sequence is shorter than k on this path: no padded window
            return self._encoder.flat_words(self._seqs.codes, self.flat_start[which])
        return self.words[which]

    def keys_at(self, encoder: KeyEncoder, which: np.ndarray) -> np.ndarray:
        """Keys of the windows ``which`` (computed from the words when not kept)."""
        return self.keys[which] if self.keys is not None else encoder.mix(self.words_at(which))

    def __len__(self) -> int:
        return len(self.index)


def _unique_index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unique_keys, inverse, representative)`` using Arrow's hash kernels."""
    arr = pa.array(keys, type=pa.uint64())
    uniq = pc.unique(arr)
    inverse = pc.index_in(arr, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    rep = np.empty(len(uniq), np.int64)
    rep[inverse[::-1]] = np.arange(len(keys) - 1, -1, -1, dtype=np.int64)  # first occurrence
    return uniq.to_numpy(zero_copy_only=False), inverse, rep


def _sorted_lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of every key in ``sorted_keys`` (-1 when absent); binary search, for few keys."""
    if len(sorted_keys) == 0 or len(keys) == 0:
        return np.full(len(keys), -1, np.int64)
    pos = np.searchsorted(sorted_keys, keys)
    pos[pos == len(sorted_keys)] = 0
    return np.where(sorted_keys[pos] == keys, pos, -1)


class WindowDB:
    """Distinct length-k windows with their counts, and a fast index over them.

    ``rows`` never contains ``UNKNOWN``: windows holding a call unknown to the
    vocabulary are left out when building, so such a window can never match.
    """

    #: wildcard tables are built level by level while a level has at most this many
    #: position subsets and all tables fit ``TABLE_BUDGET`` entries
    MAX_TABLES_PER_LEVEL = 64

    def __init__(self, k: int, vocab_size: int, rows: np.ndarray, counts: np.ndarray, seed: int = 0) -> None:
        self.k = int(k)
        self.vocab_size = int(vocab_size)
        self.rows = np.ascontiguousarray(np.asarray(rows, np.int32).reshape(-1, self.k))
        self.counts = np.asarray(counts, np.int64)
        self._seed = seed
        self._encoder: KeyEncoder | None = None
        self._hash: np.ndarray | None = None  # compiled hash table (row + 1, words) per slot
        self._tables: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._table_slots: dict[tuple, np.ndarray] = {}  # compiled hash over each wildcard table
        self._postings: tuple[np.ndarray, np.ndarray] | None = None
        self._bits: np.ndarray | None = None

    # ------------------------------------------------------------------ building
    def __len__(self) -> int:
        return len(self.rows)

    @property
    def total(self) -> int:
        """Number of training windows (sum of counts)."""
        return int(self.counts.sum())

    @classmethod
    def empty(cls, k: int, vocab_size: int) -> WindowDB:
        return cls(k, vocab_size, np.zeros((0, k), np.int32), np.zeros(0, np.int64))

    @classmethod
    def from_rows(cls, k: int, vocab_size: int, rows: np.ndarray, counts: np.ndarray | None = None) -> WindowDB:
        """Deduplicate windows (summing counts); windows holding ``UNKNOWN`` are dropped."""
        rows = np.asarray(rows, np.int32).reshape(-1, k)
        counts = np.ones(len(rows), np.int64) if counts is None else np.asarray(counts, np.int64)
        keep = ~(rows == UNKNOWN).any(axis=1)
        rows, counts = rows[keep], counts[keep]
        for seed in range(64):
            enc = KeyEncoder(k, vocab_size, seed)
            words = enc.row_words(rows)
            uniq, inverse, rep = _unique_index(enc.mix(words))
            if enc.exact or np.array_equal(words, words[rep][inverse]):
                summed = np.bincount(inverse, weights=counts, minlength=len(uniq)).astype(np.int64)
                return cls(k, vocab_size, rows[rep], summed, seed)
        raise RuntimeError("could not find a collision-free window hash")  # pragma: no cover

    def _window_words(self, enc: KeyEncoder, seqs: Sequences, flat_start: np.ndarray, padded: np.ndarray,
                      seq_index: np.ndarray) -> np.ndarray:
        words = enc.flat_words(seqs.codes, flat_start)
        if padded.any():
            words[padded] = enc.row_words(window_rows(seqs, self.k, flat_start[padded], padded[padded], seq_index[padded]))
        return words

    @classmethod
    def build(cls, seqs: Sequences, k: int, vocab_size: int) -> WindowDB:
        """The database of all windows of ``seqs`` (ids below ``vocab_size``)."""
        seq_index, _start, flat_start, padded = window_starts(seqs, k)
        codes = seqs.codes
        # windows that hold UNKNOWN never enter the database
        if (codes == UNKNOWN).any():
            zero = np.concatenate([[0], np.cumsum(codes == UNKNOWN)]).astype(np.int64)
            end = np.minimum(flat_start + k, seqs.offsets[1:][seq_index])
            keep = (zero[end] - zero[np.minimum(flat_start, len(codes))]) == 0
            seq_index, flat_start, padded = seq_index[keep], flat_start[keep], padded[keep]
        proto = cls.empty(k, vocab_size)
        for seed in range(64):
            enc = KeyEncoder(k, vocab_size, seed)
            words = proto._window_words(enc, seqs, flat_start, padded, seq_index)
            uniq, inverse, rep = _unique_index(enc.mix(words))
            if not enc.exact and not np.array_equal(words, words[rep][inverse]):
                continue  # two different windows share a hash: try another seed
            rows = window_rows(seqs, k, flat_start[rep], padded[rep], seq_index[rep])
            counts = np.bincount(inverse, minlength=len(uniq)).astype(np.int64)
            return cls(k, vocab_size, rows, counts, seed)
        raise RuntimeError("could not find a collision-free window hash")  # pragma: no cover

    def union(self, rows: np.ndarray, counts: np.ndarray, vocab_size: int | None = None) -> WindowDB:
        """A new database holding both ``self`` and the given windows (counts summed)."""
        return WindowDB.from_rows(
            self.k,
            vocab_size or self.vocab_size,
            np.concatenate([self.rows, np.asarray(rows, np.int32).reshape(-1, self.k)]),
            np.concatenate([self.counts, np.asarray(counts, np.int64)]),
        )

    # ------------------------------------------------------------------ index
    @property
    def encoder(self) -> KeyEncoder:
        self._ensure_index()
        assert self._encoder is not None
        return self._encoder

    def _ensure_index(self) -> None:
        """Pick the key encoder and build the compiled hash table (once; never saved)."""
        if self._hash is not None:
            return
        for seed in range(self._seed, self._seed + 64):
            enc = KeyEncoder(self.k, self.vocab_size, seed)
            words = np.ascontiguousarray(enc.row_words(self.rows))
            # hashed keys (used by the Hamming tables) must be collision-free in the database
            if enc.exact or len(np.unique(enc.mix(words))) == len(words):
                self._encoder, self._seed = enc, seed
                self._hash = _table_build(words)
                return
        raise RuntimeError("could not find a collision-free window hash")  # pragma: no cover

    def nbytes(self, with_tables: bool = True) -> int:
        """Memory held: windows, counts, key index and any Hamming tables built."""
        n = self.rows.nbytes + self.counts.nbytes
        if self._hash is not None:
            n += self._hash.nbytes
        if with_tables:
            n += sum(keys.nbytes + rep.nbytes for keys, rep in self._tables.values())
            n += sum(slots.nbytes for slots in self._table_slots.values())
            if self._postings is not None:
                n += sum(a.nbytes for a in self._postings)
            if self._bits is not None:
                n += self._bits.nbytes
        return n

    # ------------------------------------------------------------------ queries
    def match(self, seqs: Sequences) -> Matches:
        """Look every window of ``seqs`` up (exact membership, vectorised)."""
        enc = self.encoder
        if len(seqs) and int(seqs.lengths.min()) >= self.k:
            return self._match_compiled(seqs)
        seq_index, start, flat_start, padded = window_starts(seqs, self.k)
        words = self._window_words(enc, seqs, flat_start, padded, seq_index)
        index, keys = self._lookup_words(words)
        return Matches(seqs, self.k, index, words, keys, (seq_index, start, flat_start, padded))

    def _lookup_words(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        enc = self.encoder
        index = _table_lookup(self._hash, np.ascontiguousarray(words, np.uint64))
        return index, (enc.mix(words) if enc.exact else None)

    def _match_compiled(self, seqs: Sequences) -> Matches:
        """Fast path when no sequence is shorter than k: one compiled pass computes every
        window's words from the call array (rolling) and probes the table; window positions
        and words are derived later only if asked for."""
        enc = self.encoder
        codes = np.ascontiguousarray(seqs.codes)
        bits_mode = enc.mode == "bits"
        shift = enc.bits if bits_mode else 8 * enc.itemsize
        index = _table_lookup_seqs(self._hash, codes, np.asarray(seqs.offsets, np.int64),
                                   self.k, shift, bits_mode,
                                   np.uint64(0xFFFFFFFFFFFFFFFF) if bits_mode else np.uint64(enc._tail_mask))
        return Matches(seqs, self.k, index, encoder=enc)

    def lookup_rows(self, rows: np.ndarray) -> np.ndarray:
        """Database index of explicit windows (-1 when absent)."""
        enc = self.encoder
        rows = np.asarray(rows, np.int32).reshape(-1, self.k)
        return _table_lookup(self._hash, np.ascontiguousarray(enc.row_words(rows)))

    def _table(self, wild: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted keys of the database with positions ``wild`` blanked, and a row for each."""
        if wild not in self._tables:
            proj = self.rows.copy()
            proj[:, list(wild)] = UNKNOWN  # UNKNOWN is never in the database: a safe blank
            keys, rep = np.unique(self.encoder.row_keys(proj), return_index=True)
            self._tables[wild] = (keys, rep.astype(np.int32))
        return self._tables[wild]

    def min_hamming(self, rows: np.ndarray, table_levels: int | None = None, batch_cells: int = 1 << 22,
                    compiled: bool = True) -> np.ndarray:
        """Exact minimum Hamming distance of each window in ``rows`` to the database.

        1. Wildcard tables: a window is within distance w of the database iff, for some
           w positions, it equals a database window with those positions blanked. Level
           w needs C(k, w) tables of the database's size (sorted keys, binary search);
           by default level 1 always, then levels while their tables fit a budget of
           ``TABLE_BUDGET`` entries in all and ``MAX_TABLES_PER_LEVEL`` tables a level.
        2. Whatever is left is counted bit-parallel (:meth:`_count_matches_bits`) when the
           bitset index fits ``BITSET_BUDGET``; otherwise block candidates (pigeonhole:
           split the k positions into B blocks; a window within distance B−1 of some
           database window equals it on at least one block, so the minimum over rows
           sharing a block is exact when it is <= B−1) and per-position posting-list
           counts for the rest.

        An empty database gives distance k. Pass distinct rows: the work is per row.
        """
        rows = np.asarray(rows, np.int32).reshape(-1, self.k)
        m, k = len(rows), self.k
        dist = np.full(m, k, dtype=np.int16)
        if m == 0 or len(self.rows) == 0:
            return dist
        enc = self.encoder
        exact_hit = self.lookup_rows(rows) >= 0
        dist[exact_hit] = 0
        todo = np.flatnonzero(~exact_hit)
        level = 0
        for level in range(1, k):  # noqa: B007 - the last level tried is used below
            if len(todo) == 0:
                break
            if table_levels is not None and level > table_levels:
                level -= 1
                break
            if table_levels is None and not self._tables_affordable(level):
                level -= 1
                break
            found = np.zeros(len(todo), dtype=bool)
            for wild in itertools.combinations(range(k), level):
                open_ = np.flatnonzero(~found)
                if len(open_) == 0:
                    break
                keys, rep = self._table(wild)
                q = rows[todo[open_]].copy()
                q[:, list(wild)] = UNKNOWN
                if compiled:
                    if wild not in self._table_slots:
                        self._table_slots[wild] = _slots_build(keys)
                    idx = _slots_lookup(self._table_slots[wild], keys, enc.row_keys(q))
                else:
                    idx = _sorted_lookup(keys, enc.row_keys(q))
                hit = idx >= 0
                if not enc.exact and hit.any():
                    keep = [j for j in range(k) if j not in wild]
                    cand = self.rows[rep[idx[hit]]]
                    ok = (cand[:, keep] == q[hit][:, keep]).all(axis=1)
                    hit[np.flatnonzero(hit)[~ok]] = False
                found[open_[hit]] = True
            dist[todo[found]] = level
            todo = todo[~found]
        # every window left is at distance > level: certify with B = level + 2 blocks, then more
        if compiled and len(todo):
            dist[todo] = self._scan_remainder(rows[todo], level)
            return dist
        blocks = max(2, level + 2)
        while len(todo) and blocks < k and table_levels is None and self._bitsets() is None:
            if self._block_work(rows[todo], blocks) > len(todo) * len(self.rows):
                break  # candidates would touch more rows than counting every row does
            best = self._block_candidates(rows[todo], blocks, batch_cells)
            ok = best <= blocks - 1
            dist[todo[ok]] = best[ok]
            todo = todo[~ok]
            blocks += 1
        if len(todo):
            if self._bitsets() is not None:
                dist[todo] = k - self._count_matches_bits(rows[todo])
            else:
                dist[todo] = k - self._count_matches(rows[todo], batch_cells)
        return dist

    def _scan_remainder(self, rows: np.ndarray, level: int) -> np.ndarray:
        """Compiled exact distances of windows known to be farther than ``level``: block
        candidates for B = level + 2 blocks (certifying distance level + 1), then an
        early-exit scan of the whole database for the rest (:func:`_scan_min_hamming`)."""
        k = self.k
        blocks = level + 2
        n = len(self.rows)
        q = np.ascontiguousarray(rows, np.int32)
        if blocks > k:  # too few positions for blocks: scan everything
            empty = np.zeros((len(q), 0), np.int64)
            return _scan_min_hamming(self.rows, q, np.zeros((0, n), np.int32), empty, empty, level + 1, level, True)
        parts = [tuple(int(x) for x in p) for p in np.array_split(np.arange(k), blocks)]
        orders = np.empty((blocks, n), np.int32)
        lo = np.empty((len(q), blocks), np.int64)
        hi = np.empty((len(q), blocks), np.int64)
        enc = self.encoder
        for b, positions in enumerate(parts):
            keys, order = self._block_table(positions)
            orders[b] = order
            proj = np.full_like(q, UNKNOWN)
            proj[:, list(positions)] = q[:, list(positions)]
            qk = enc.row_keys(proj)
            lo[:, b] = np.searchsorted(keys, qk, side="left")
            hi[:, b] = np.searchsorted(keys, qk, side="right")
        dist = _scan_min_hamming(self.rows, q, orders, lo, hi, level + 1, blocks - 1, False)
        far = np.flatnonzero(dist < 0)
        if len(far):
            bits = self._bitsets()
            if bits is not None and k <= 31:
                dist[far] = k - _bits_max_matches(bits, q[far], n, k - blocks)
            elif bits is not None:
                dist[far] = k - self._count_matches_bits(q[far])
            else:
                dist[far] = _scan_min_hamming(self.rows, q[far], orders[:0], lo[far, :0], hi[far, :0],
                                              blocks, blocks - 1, True)
        return dist

    #: largest bitset index (bytes) kept for bit-parallel counting
    BITSET_BUDGET = 64 << 20

    def _bitsets(self) -> np.ndarray | None:
        """``bits[j, v]``: the database rows holding call v at position j, as a bitset of
        uint64 words (None when that would exceed ``BITSET_BUDGET``)."""
        if self._bits is None:
            n, k, v = len(self.rows), self.k, self.vocab_size
            words = (n + 63) // 64
            if k * v * words * 8 > self.BITSET_BUDGET:
                return None
            bits = np.zeros((k, v, words * 64), dtype=bool)
            for j in range(k):
                bits[j, self.rows[:, j], np.arange(n)] = True
            self._bits = np.packbits(bits, axis=2, bitorder="little").view(np.uint64)
        return self._bits

    def _count_matches_bits(self, rows: np.ndarray, batch: int = 16) -> np.ndarray:
        """Largest number of positions each window shares with one database window,
        bit-parallel: the k bitsets of the window's calls are added into a bit-sliced
        counter (one bit plane per power of two), then the highest reachable count is
        read off plane by plane. Work per window: about 3k·log2(k)·n/64 word operations."""
        bits = self._bitsets()
        assert bits is not None
        k = self.k
        planes = max(1, int(k).bit_length())
        out = np.zeros(len(rows), np.int16)
        n = len(self.rows)
        words = bits.shape[2]
        tail = np.ones(words, np.uint64) * np.uint64(0xFFFFFFFFFFFFFFFF)
        if n % 64:
            tail[-1] = np.uint64((1 << (n % 64)) - 1)
        for lo in range(0, len(rows), batch):
            q = rows[lo : lo + batch]
            counter = [np.zeros((len(q), words), np.uint64) for _ in range(planes)]
            for j in range(k):
                carry = bits[j, np.minimum(q[:, j], self.vocab_size - 1)].copy()
                carry[q[:, j] >= self.vocab_size] = 0
                for c in counter:
                    t = c & carry
                    c ^= carry
                    carry = t
            mask = np.broadcast_to(tail, (len(q), words)).copy()
            best = np.zeros(len(q), np.int64)
            for p in range(planes - 1, -1, -1):
                cand = mask & counter[p]
                has = cand.any(axis=1)
                mask[has] = cand[has]
                best[has] += 1 << p
            out[lo : lo + batch] = best
        return out

    #: most wildcard-table entries (all levels together) a database keeps
    TABLE_BUDGET = 8_000_000

    def _tables_affordable(self, level: int) -> bool:
        n_tables = math.comb(self.k, level)
        if n_tables > self.MAX_TABLES_PER_LEVEL and level > 2:
            return False
        have = sum(len(keys) for keys, _ in self._tables.values())
        need = sum(len(self.rows) for w in itertools.combinations(range(self.k), level) if w not in self._tables)
        return have + need <= self.TABLE_BUDGET

    def _block_table(self, positions: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Database rows sorted by their calls at ``positions``: (sorted keys, row order)."""
        key = ("block", *positions)
        if key not in self._tables:
            proj = np.full_like(self.rows, UNKNOWN)
            proj[:, list(positions)] = self.rows[:, list(positions)]
            keys = self.encoder.row_keys(proj)
            order = np.argsort(keys, kind="stable")
            self._tables[key] = (keys[order], order.astype(np.int32))  # type: ignore[index]
        return self._tables[key]  # type: ignore[index]

    def _block_work(self, rows: np.ndarray, blocks: int) -> int:
        """Number of candidate rows :meth:`_block_candidates` would compare."""
        total = 0
        enc = self.encoder
        for positions in (tuple(int(x) for x in p) for p in np.array_split(np.arange(self.k), blocks)):
            keys, _order = self._block_table(positions)
            proj = np.full_like(rows, UNKNOWN)
            proj[:, list(positions)] = rows[:, list(positions)]
            q = enc.row_keys(proj)
            total += int((np.searchsorted(keys, q, side="right") - np.searchsorted(keys, q, side="left")).sum())
        return total

    def _block_candidates(self, rows: np.ndarray, blocks: int, batch_cells: int) -> np.ndarray:
        """Minimum Hamming distance over database rows sharing one of ``blocks`` blocks with
        each query (exact when <= blocks − 1; ``k`` when there is no candidate)."""
        k = self.k
        parts = [tuple(int(x) for x in p) for p in np.array_split(np.arange(k), blocks)]
        best = np.full(len(rows), k, np.int16)
        enc = self.encoder
        db = self.rows
        for positions in parts:
            keys, order = self._block_table(positions)
            proj = np.full_like(rows, UNKNOWN)
            proj[:, list(positions)] = rows[:, list(positions)]
            q = enc.row_keys(proj)
            lo = np.searchsorted(keys, q, side="left")
            hi = np.searchsorted(keys, q, side="right")
            lens = (hi - lo).astype(np.int64)
            # batches of queries whose candidates fit ``batch_cells`` comparisons
            cum = np.cumsum(lens * k)
            start = 0
            while start < len(rows):
                stop = int(np.searchsorted(cum, (cum[start - 1] if start else 0) + batch_cells, side="right"))
                stop = max(stop, start + 1)
                sl = slice(start, stop)
                ln = lens[sl]
                if ln.sum():
                    cand = order[_ranges(lo[sl].astype(np.int64), ln)]
                    qid = np.repeat(np.arange(stop - start), ln)
                    d = (db[cand] != rows[sl][qid]).sum(axis=1).astype(np.int16)
                    first = np.concatenate([[0], np.cumsum(ln)[:-1]])
                    has = ln > 0
                    mins = np.minimum.reduceat(d, first[has])
                    sub = best[sl]
                    sub[has] = np.minimum(sub[has], mins)
                    best[sl] = sub
                start = stop
        return best

    def _posting_lists(self) -> tuple[np.ndarray, np.ndarray]:
        """Per position j and call v, the database rows holding v at j (CSR layout)."""
        if self._postings is None:
            n, k, v = len(self.rows), self.k, self.vocab_size
            col = self.rows.T.astype(np.int64) + (np.arange(k, dtype=np.int64) * v)[:, None]  # (k, n)
            flat = col.ravel()
            order = np.argsort(flat, kind="stable")
            post = (order % n).astype(np.int32)
            bounds = np.searchsorted(flat[order], np.arange(k * v + 1, dtype=np.int64))
            self._postings = (post, bounds.astype(np.int64))
        return self._postings

    def _count_matches(self, rows: np.ndarray, batch_cells: int) -> np.ndarray:
        """Largest number of positions each window shares with one database window.

        For every (window, position) the posting list of database rows holding the same
        call there is gathered, and matches are counted per (window, row) with one
        ``np.bincount`` per batch: work in proportion to the postings touched, not to
        the size of the database.
        """
        post, bounds = self._posting_lists()
        n, k, v = len(self.rows), self.k, self.vocab_size
        out = np.zeros(len(rows), np.int16)
        step = max(1, batch_cells // max(1, n))
        for lo in range(0, len(rows), step):
            block = rows[lo : lo + step].astype(np.int64)
            cell = (block + (np.arange(k) * v)[None, :]).ravel()  # (b*k,)
            starts, ends = bounds[np.minimum(cell, k * v - 1)], bounds[np.minimum(cell + 1, k * v)]
            lens = np.where(block.ravel() < v, ends - starts, 0)
            idx = _ranges(starts, lens)
            qid = np.repeat(np.arange(len(block), dtype=np.int64).repeat(k), lens)
            counts = np.bincount(qid * n + post[idx], minlength=len(block) * n)
            out[lo : lo + step] = counts.reshape(len(block), n).max(axis=1)
        return out


def distinct_rows(keys: np.ndarray, rows: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(unique_rows, inverse)`` of windows given their keys (exact even when hashed)."""
    if len(rows) == 0:
        return rows, np.zeros(0, np.int64)
    _uniq, inverse, rep = _unique_index(keys)
    if exact or np.array_equal(rows[rep][inverse], rows):
        return rows[rep], inverse
    uniq_rows, inverse = np.unique(rows, axis=0, return_inverse=True)
    return uniq_rows, inverse.reshape(-1)
