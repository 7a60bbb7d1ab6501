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
* membership is a hash lookup of all query keys at once (``pyarrow.compute.index_in``);
* the minimum Hamming distance of a window that does not match is found for distinct
  query windows only: distance 1 through k "one-position-wildcarded" tables, distance 2
  through k(k-1)/2 two-position tables, and a vectorised brute force over the database
  for the rare remainder (distance >= 3).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..features import UNKNOWN, Sequences, window_rows, window_starts

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

    def _mix(self, words: list[np.ndarray]) -> np.ndarray:
        if self.mode == "word":
            return words[0]
        h = np.full(len(words[0]), self.seed, dtype=np.uint64)
        for w in words:
            h ^= w
            _fmix(h)
        return h

    def flat_keys(self, codes: np.ndarray, flat_start: np.ndarray) -> np.ndarray:
        """Keys of the windows starting at ``flat_start`` in the flat ``codes`` array.

        Windows are read straight from ``codes`` (correct for windows that lie inside
        their sequence; the caller fixes padded ones with :meth:`row_keys`).
        """
        flat_start = np.asarray(flat_start, np.int64)
        if len(flat_start) == 0:
            return np.zeros(0, np.uint64)
        if self.mode == "bits":
            ext = np.concatenate([codes, np.zeros(self.k, codes.dtype)]).astype(np.uint64)
            key = ext[flat_start]
            for j in range(1, self.k):
                key |= ext[flat_start + j] << np.uint64(self.bits * j)
            return key
        n = len(codes)
        buf = np.zeros(n * self.itemsize + 8 * self.nwords + 8, dtype=np.uint8)
        buf[: n * self.itemsize] = codes.astype(self.dtype).view(np.uint8)
        words = []
        for w in range(self.nwords):
            view = np.ndarray((n + 1,), dtype="<u8", buffer=buf, offset=8 * w, strides=(self.itemsize,))
            word = view[flat_start]
            if w == self.nwords - 1:
                word &= self._tail_mask
            words.append(word)
        return self._mix(words)

    def row_keys(self, rows: np.ndarray) -> np.ndarray:
        """Keys of explicit windows (an ``(m, k)`` array); equal to :meth:`flat_keys`."""
        rows = np.asarray(rows)
        m = len(rows)
        if m == 0:
            return np.zeros(0, np.uint64)
        if self.mode == "bits":
            r = rows.astype(np.uint64)
            key = r[:, 0].copy()
            for j in range(1, self.k):
                key |= r[:, j] << np.uint64(self.bits * j)
            return key
        width = self.nwords * 8 // self.itemsize
        packed = np.zeros((m, width), dtype=self.dtype)
        packed[:, : self.k] = rows
        words64 = np.ascontiguousarray(packed).view("<u8").reshape(m, self.nwords)
        return self._mix([words64[:, w].copy() for w in range(self.nwords)])


@dataclass
class Matches:
    """Every window of some sequences and where (if anywhere) it is in the database."""

    seq_index: np.ndarray
    start: np.ndarray
    flat_start: np.ndarray
    padded: np.ndarray
    index: np.ndarray  # int64 row of the database, -1 when absent
    keys: np.ndarray  # uint64 window keys

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


def _lookup(value_set: pa.Array, keys: np.ndarray) -> np.ndarray:
    """Index of every key in ``value_set`` (-1 when absent)."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    idx = pc.index_in(pa.array(keys, type=pa.uint64()), value_set=value_set)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


class WindowDB:
    """Distinct length-k windows with their counts, and a fast index over them.

    ``rows`` never contains ``UNKNOWN``: windows holding a call unknown to the
    vocabulary are left out when building, so such a window can never match.
    """

    def __init__(self, k: int, vocab_size: int, rows: np.ndarray, counts: np.ndarray, seed: int = 0) -> None:
        self.k = int(k)
        self.vocab_size = int(vocab_size)
        self.rows = np.ascontiguousarray(np.asarray(rows, np.int32).reshape(-1, self.k))
        self.counts = np.asarray(counts, np.int64)
        self._seed = seed
        self._encoder: KeyEncoder | None = None
        self._value_set: pa.Array | None = None
        self._tables: dict[tuple[int, ...], tuple[pa.Array, np.ndarray]] = {}

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
            uniq, inverse, rep = _unique_index(enc.row_keys(rows))
            if enc.exact or np.array_equal(rows, rows[rep][inverse]):
                summed = np.bincount(inverse, weights=counts, minlength=len(uniq)).astype(np.int64)
                return cls(k, vocab_size, rows[rep], summed, seed)
        raise RuntimeError("could not find a collision-free window hash")  # pragma: no cover

    @classmethod
    def build(cls, seqs: Sequences, k: int, vocab_size: int) -> WindowDB:
        """The database of all windows of ``seqs`` (ids below ``vocab_size``)."""
        seq_index, _start, flat_start, padded = window_starts(seqs, k)
        codes = seqs.codes
        # windows that hold UNKNOWN never enter the database
        zero = np.concatenate([[0], np.cumsum(codes == UNKNOWN)]).astype(np.int64)
        end = np.minimum(flat_start + k, seqs.offsets[1:][seq_index])
        keep = (zero[end] - zero[np.minimum(flat_start, len(codes))]) == 0
        seq_index, flat_start, padded = seq_index[keep], flat_start[keep], padded[keep]
        for seed in range(64):
            enc = KeyEncoder(k, vocab_size, seed)
            keys = enc.flat_keys(codes, flat_start)
            if padded.any():
                keys[padded] = enc.row_keys(window_rows(seqs, k, flat_start[padded], padded[padded], seq_index[padded]))
            uniq, inverse, rep = _unique_index(keys)
            rows = window_rows(seqs, k, flat_start[rep], padded[rep], seq_index[rep])
            if not enc.exact and not _all_equal(seqs, k, flat_start, padded, seq_index, rows[inverse]):
                continue
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
        if self._value_set is not None:
            return
        for seed in range(self._seed, self._seed + 64):
            enc = KeyEncoder(self.k, self.vocab_size, seed)
            keys = enc.row_keys(self.rows)
            vs = pa.array(keys, type=pa.uint64())
            if enc.exact or len(pc.unique(vs)) == len(keys):
                self._encoder, self._value_set, self._seed = enc, vs, seed
                return
        raise RuntimeError("could not find a collision-free window hash")  # pragma: no cover

    def nbytes(self, with_tables: bool = True) -> int:
        """Memory held: windows, counts, key index and any Hamming tables built."""
        n = self.rows.nbytes + self.counts.nbytes
        if self._value_set is not None:
            n += self._value_set.nbytes
        if with_tables:
            n += sum(vs.nbytes + rep.nbytes for vs, rep in self._tables.values())
        return n

    # ------------------------------------------------------------------ queries
    def match(self, seqs: Sequences) -> Matches:
        """Look every window of ``seqs`` up (exact membership, vectorised)."""
        self._ensure_index()
        enc = self.encoder
        seq_index, start, flat_start, padded = window_starts(seqs, self.k)
        keys = enc.flat_keys(seqs.codes, flat_start)
        if padded.any():
            keys[padded] = enc.row_keys(window_rows(seqs, self.k, flat_start[padded], padded[padded], seq_index[padded]))
        index = _lookup(self._value_set, keys)
        if not enc.exact:
            hit = np.flatnonzero(index >= 0)
            if len(hit):
                got = window_rows(seqs, self.k, flat_start[hit], padded[hit], seq_index[hit])
                bad = ~(got == self.rows[index[hit]]).all(axis=1)
                index[hit[bad]] = -1
        return Matches(seq_index, start, flat_start, padded, index, keys)

    def lookup_rows(self, rows: np.ndarray) -> np.ndarray:
        """Database index of explicit windows (-1 when absent)."""
        self._ensure_index()
        rows = np.asarray(rows, np.int32).reshape(-1, self.k)
        index = _lookup(self._value_set, self.encoder.row_keys(rows))
        if not self.encoder.exact:
            hit = np.flatnonzero(index >= 0)
            bad = ~(rows[hit] == self.rows[index[hit]]).all(axis=1)
            index[hit[bad]] = -1
        return index

    def _table(self, wild: tuple[int, ...]) -> tuple[pa.Array, np.ndarray]:
        """Keys of the database with positions ``wild`` blanked, and a representative row."""
        if wild not in self._tables:
            proj = self.rows.copy()
            proj[:, list(wild)] = UNKNOWN  # UNKNOWN is never in the database: a safe blank
            uniq, _inverse, rep = _unique_index(self.encoder.row_keys(proj))
            self._tables[wild] = (pa.array(uniq, type=pa.uint64()), rep)
        return self._tables[wild]

    def min_hamming(self, rows: np.ndarray, table_levels: int | None = None, chunk_cells: int = 1 << 22) -> np.ndarray:
        """Exact minimum Hamming distance of each window in ``rows`` to the database.

        Distance 0 and 1..``table_levels`` are answered by wildcard tables (a window is
        at distance <= w of the database iff, for some w positions, it equals a database
        window with those positions blanked); the rest by a vectorised brute force in
        chunks of about ``chunk_cells`` comparisons. ``table_levels=None`` (default)
        always does levels 1 and 2 and goes on level by level while the tables of the
        next level cost less than brute force for the windows left. An empty database
        gives distance k. Pass distinct rows: work is per row.
        """
        self._ensure_index()
        rows = np.asarray(rows, np.int32).reshape(-1, self.k)
        m, k = len(rows), self.k
        dist = np.full(m, k, dtype=np.int16)
        if m == 0 or len(self.rows) == 0:
            return dist
        exact_hit = self.lookup_rows(rows) >= 0
        dist[exact_hit] = 0
        todo = np.flatnonzero(~exact_hit)
        enc = self.encoder
        max_level = k - 1 if table_levels is None else min(table_levels, k - 1)
        for level in range(1, max_level + 1):
            if len(todo) == 0:
                break
            if table_levels is None and level > 2:
                n_tables = math.comb(k, level)
                unbuilt = sum(1 for w in itertools.combinations(range(k), level) if w not in self._tables)
                table_cost = (unbuilt * len(self.rows) * 3 + n_tables * len(todo)) / 2e7
                brute_cost = len(todo) * len(self.rows) * k / 5e8
                if table_cost > brute_cost:
                    break
            found = np.zeros(len(todo), dtype=bool)
            for wild in itertools.combinations(range(k), level):
                open_ = np.flatnonzero(~found)
                if len(open_) == 0:
                    break
                vs, rep = self._table(wild)
                q = rows[todo[open_]].copy()
                q[:, list(wild)] = UNKNOWN
                idx = _lookup(vs, enc.row_keys(q))
                hit = idx >= 0
                if not enc.exact and hit.any():
                    keep = [j for j in range(k) if j not in wild]
                    cand = self.rows[rep[idx[hit]]]
                    ok = (cand[:, keep] == q[hit][:, keep]).all(axis=1)
                    hit[np.flatnonzero(hit)[~ok]] = False
                found[open_[hit]] = True
            dist[todo[found]] = level
            todo = todo[~found]
        if len(todo):
            dist[todo] = self._brute_force(rows[todo], chunk_cells)
        return dist

    def _brute_force(self, rows: np.ndarray, chunk_cells: int) -> np.ndarray:
        db = self.rows.astype(np.int16 if self.vocab_size < 32768 else np.int32)
        q = rows.astype(db.dtype)
        out = np.empty(len(rows), np.int16)
        step = max(1, chunk_cells // max(1, len(db)))
        for lo in range(0, len(rows), step):
            block = q[lo : lo + step]
            same = np.zeros((len(block), len(db)), dtype=np.int8)
            for j in range(self.k):
                same += block[:, j, None] == db[None, :, j]
            out[lo : lo + step] = self.k - same.max(axis=1)
        return out


def _all_equal(seqs: Sequences, k: int, flat_start: np.ndarray, padded: np.ndarray, seq_index: np.ndarray, rows: np.ndarray) -> bool:
    """Whether every window at ``flat_start`` equals ``rows`` (hash-collision check)."""
    ext = np.concatenate([seqs.codes, np.zeros(k, np.int32)])
    plain = ~padded
    for j in range(k):
        if not np.array_equal(ext[flat_start[plain] + j], rows[plain, j]):
            return False
    if padded.any():
        got = window_rows(seqs, k, flat_start[padded], padded[padded], seq_index[padded])
        if not np.array_equal(got, rows[padded]):
            return False
    return True


def distinct_rows(keys: np.ndarray, rows: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(unique_rows, inverse)`` of windows given their keys (exact even when hashed)."""
    if len(rows) == 0:
        return rows, np.zeros(0, np.int64)
    _uniq, inverse, rep = _unique_index(keys)
    if exact or np.array_equal(rows[rep][inverse], rows):
        return rows[rep], inverse
    uniq_rows, inverse = np.unique(rows, axis=0, return_inverse=True)
    return uniq_rows, inverse.reshape(-1)
