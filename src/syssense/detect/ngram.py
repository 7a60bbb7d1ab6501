"""n-gram / Markov model of system calls: how likely is each call given the previous n−1?

The probabilistic "sense of self" (Forrest et al. 1996 taken to a language model, as in
Warrender, Forrest & Pearlmutter, "Detecting Intrusions Using System Calls: Alternative
Data Models", IEEE S&P 1999, and Kim et al. 2016, arXiv:1611.01726, whose trace score is
the mean negative log-likelihood per call):

* every sequence (one per process by default) is prefixed with n−1 begin markers
  (the reserved ``<pad>`` id), so every call has a full context;
* P(w | h) is **interpolated absolute discounting** (Ney, Essen & Kneser 1994, "On
  structuring probabilistic dependences in stochastic language modelling"), recursively
  down to a uniform distribution over the vocabulary::

      P_m(w | h) = max(c(h w) − D_m, 0) / c(h) + D_m · N1+(h •) / c(h) · P_{m−1}(w | h')

  where h' drops the oldest call of h, N1+(h •) is the number of distinct calls seen
  after h, and P_m = P_{m−1} when the context h was never seen. The discount of each
  order is estimated from the counts of counts, D_m = n1 / (n1 + 2 n2) (Ney et al.),
  so there is no smoothing parameter to tune;
* per-call score = −ln P(call | previous n−1 calls) (nats);
* window score (length ``k`` = n, step 1, as stide) = mean per-call score in the window;
* trace score: ``trace_score="mean"`` (default, Kim et al. 2016) = mean per-call score
  over all calls of the trace; ``"max"`` = the largest window score.

The learned state is the set of distinct n-grams (with their begin markers) and their
counts; every lower-order count is a sum over it, so training on two halves and merging
equals training on the whole (``partial_fit`` and ``merge`` are exact). Lookups use
64-bit hashes of the n-grams (splitmix64 mixing of the calls; a collision between two of
the few million distinct n-grams has probability below 1e-6) and ``np.searchsorted``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..features import PAD, Sequences
from ._likelihood import CallLikelihoodDetector
from .base import Detector, register

_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_SEED_FULL = np.uint64(0x9E3779B97F4A7C15)
_SEED_CTX = np.uint64(0xD6E8FEB86659FD93)


def _mix(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Fold ids ``x`` into hashes ``h`` (splitmix64 finaliser); returns a new array."""
    h = h ^ (x.astype(np.uint64) + np.uint64(0x632BE59BD9B4E019))
    h ^= h >> _S30
    h *= _M2
    h ^= h >> _S27
    h *= _M3
    h ^= h >> _S31
    return h


def _suffix_keys(rows: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys of the last ``order`` calls (full) and of the ``order−1`` before the last
    (context) of every row; rows are ``(n, N)`` with the target call last."""
    n, width = rows.shape
    full = _mix(np.full(n, _SEED_FULL, np.uint64), rows[:, -1])
    ctx = np.full(n, _SEED_CTX, np.uint64)
    for j in range(2, order + 1):
        col = rows[:, width - j]
        full = _mix(full, col)
        ctx = _mix(ctx, col)
    return full, ctx


def _padded_codes(seqs: Sequences, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat codes with n−1 begin markers before each sequence, and where each real call sits."""
    lengths = seqs.lengths
    new_len = lengths + (n - 1)
    new_off = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(new_len, out=new_off[1:])
    out = np.full(int(new_off[-1]), PAD, np.int32)
    seg = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    pos = np.arange(seqs.n_calls, dtype=np.int64) + seg * (n - 1) + (n - 1)
    out[pos] = seqs.codes
    return out, pos


def _grams(seqs: Sequences, n: int) -> np.ndarray:
    """``(n_calls, n)`` array: each call with its n−1 predecessors (begin markers at starts)."""
    padded, pos = _padded_codes(seqs, n)
    if len(pos) == 0:
        return np.zeros((0, n), np.int32)
    return padded[pos[:, None] + np.arange(-(n - 1), 1, dtype=np.int64)[None, :]]


class _Order:
    """Sorted lookup tables of one order m."""

    __slots__ = ("full", "full_count", "ctx", "ctx_count", "ctx_types", "discount")

    def __init__(self, rows: np.ndarray, counts: np.ndarray, m: int) -> None:
        full, ctx = _suffix_keys(rows, m)
        self.full, inv = np.unique(full, return_inverse=True)
        self.full_count = np.bincount(inv.reshape(-1), weights=counts, minlength=len(self.full))
        # context of each distinct m-gram (any representative row)
        rep = np.zeros(len(self.full), np.int64)
        rep[inv.reshape(-1)] = np.arange(len(rows))
        self.ctx, cinv = np.unique(ctx, return_inverse=True)
        self.ctx_count = np.bincount(cinv.reshape(-1), weights=counts, minlength=len(self.ctx))
        ctx_of_full = cinv.reshape(-1)[rep]
        self.ctx_types = np.bincount(ctx_of_full, minlength=len(self.ctx)).astype(np.float64)
        n1 = float(np.sum(self.full_count == 1))
        n2 = float(np.sum(self.full_count == 2))
        self.discount = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
        self.discount = min(max(self.discount, 0.05), 0.95)


def _lookup(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(index, found)`` of ``query`` keys in ``sorted_keys`` (Arrow hash lookup)."""
    if len(sorted_keys) == 0 or len(query) == 0:
        return np.zeros(len(query), np.int64), np.zeros(len(query), bool)
    idx = pc.index_in(pa.array(query, pa.uint64()), value_set=pa.array(sorted_keys, pa.uint64()))
    found = idx.is_valid().to_numpy(zero_copy_only=False)
    return idx.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), found


@register
class NGram(CallLikelihoodDetector):
    """n-gram / Markov model with interpolated absolute discounting (Ney et al. 1994).

    Parameters: ``k`` the order n (the context is the previous n−1 calls; also the window
    length of :meth:`score_windows`), ``trace_score`` ``"mean"`` (mean per-call negative
    log-probability, Kim et al. 2016) or ``"max"`` (largest window score).
    Learned: ``grams_`` (distinct n-grams with begin markers) and ``counts_``.
    """

    name = "ngram"
    incremental = True
    default_threshold = 3.0

    def __init__(self, k: int = 6, trace_score: str = "mean") -> None:
        self.k = k
        self.trace_score = trace_score

    # ------------------------------------------------------------------ learning
    def _check_params(self) -> None:
        if int(self.k) < 1:
            raise ValueError("n-gram order k must be at least 1")
        if self.trace_score not in ("mean", "max"):
            raise ValueError(f"trace_score must be 'mean' or 'max', not {self.trace_score!r}")

    def _fit(self, seqs: Sequences, reset: bool) -> None:
        self._check_params()
        n = int(self.k)
        grams = _grams(seqs, n)
        rows, counts = _distinct(grams, np.ones(len(grams), np.int64))
        if not reset and hasattr(self, "grams_"):
            rows, counts = _distinct(np.concatenate([self.grams_, rows]), np.concatenate([self.counts_, counts]))
        self.grams_, self.counts_ = rows, counts
        self._index = None

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, NGram)
        rows = np.concatenate([self.grams_, id_map[other.grams_]])
        self.grams_, self.counts_ = _distinct(rows, np.concatenate([self.counts_, other.counts_]))
        self._index = None

    def _state(self) -> dict[str, np.ndarray]:
        return {"grams": self.grams_, "counts": self.counts_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.grams_ = arrays["grams"].astype(np.int32)
        self.counts_ = arrays["counts"].astype(np.int64)
        self._index = None

    def _orders(self) -> list[_Order]:
        if getattr(self, "_index", None) is None:
            w = self.counts_.astype(np.float64)
            self._index = [_Order(self.grams_, w, m) for m in range(1, int(self.k) + 1)]
        return self._index

    # ------------------------------------------------------------------ scoring
    def call_logprob(self, seqs: Sequences) -> np.ndarray:
        """ln P(call | previous n−1 calls) of every call (flat, in ``seqs.codes`` order).

        Computed once per distinct n-gram of ``seqs``, with the keys of all orders built
        in one pass over the n columns."""
        seqs = self._prepare(seqs)
        grams = _grams(seqs, int(self.k))
        if len(grams) == 0:
            return np.zeros(0)
        top, _ = _suffix_keys(grams, int(self.k))
        _u, first, inv = np.unique(top, return_index=True, return_inverse=True)
        return self._logprob_rows(grams[first])[inv.reshape(-1)]

    def _logprob_rows(self, grams: np.ndarray) -> np.ndarray:
        n_rows, width = grams.shape
        p = np.full(n_rows, 1.0 / max(len(self.vocab_), 2))
        full = _mix(np.full(n_rows, _SEED_FULL, np.uint64), grams[:, -1])
        ctx = np.full(n_rows, _SEED_CTX, np.uint64)
        for m, od in enumerate(self._orders(), start=1):
            if m > 1:
                col = grams[:, width - m]
                full = _mix(full, col)
                ctx = _mix(ctx, col)
            fi, ff = _lookup(od.full, full)
            c_hw = np.where(ff, od.full_count[fi] if len(od.full) else 0.0, 0.0)
            ci, seen = _lookup(od.ctx, ctx)
            c_h = np.where(seen, od.ctx_count[ci] if len(od.ctx) else 0.0, 0.0)
            t_h = np.where(seen, od.ctx_types[ci] if len(od.ctx) else 0.0, 0.0)
            safe = np.where(seen, c_h, 1.0)
            d = od.discount
            p = np.where(seen, np.maximum(c_hw - d, 0.0) / safe + d * t_h / safe * p, p)
        return np.log(np.maximum(p, 1e-300))

    def _prepared_call_nll(self, seqs: Sequences) -> np.ndarray:
        return -self.call_logprob(seqs)

    # ------------------------------------------------------------------ explanation
    def explain(self, seqs: Sequences, top: int = 10) -> pa.Table:
        """The ``top`` least probable distinct transitions in ``seqs``: ``context`` (the
        previous n−1 calls, ``<pad>`` = start of the sequence), ``call``, ``prob``,
        ``nll``, ``count`` (occurrences), and the first ``trace_id``/``pid``/``seq_index``/``position``."""
        logged = seqs  # names as logged: each call never seen in training is listed by its own name
        seqs = self._prepare(seqs)
        lp = self.call_logprob(seqs)
        grams = _grams(logged, int(self.k))
        if len(grams) == 0:
            return pa.table({"context": pa.array([], pa.string()), "call": pa.array([], pa.string()),
                             "prob": pa.array([], pa.float64()), "nll": pa.array([], pa.float64()),
                             "count": pa.array([], pa.int64()), "trace_id": pa.array([], pa.string()),
                             "pid": pa.array([], pa.int64()), "seq_index": pa.array([], pa.int64()),
                             "position": pa.array([], pa.int64())})
        key, _ = _suffix_keys(grams, int(self.k))
        _u, first, inv, cnt = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        order = np.argsort(lp[first], kind="stable")[: int(top)]
        pick = first[order]
        seg = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths)
        names = np.array(logged.vocab.names, dtype=object)
        ctx = [" ".join(names[r[:-1]]) for r in grams[pick]]
        return pa.table({
            "context": pa.array(ctx, pa.string()),
            "call": pa.array([names[c] for c in grams[pick, -1]], pa.string()),
            "prob": np.exp(lp[pick]),
            "nll": -lp[pick],
            "count": cnt[order].astype(np.int64),
            "trace_id": pa.array(seqs.trace_ids[seg[pick]].astype(str), pa.string()),
            "pid": seqs.pids[seg[pick]].astype(np.int64),
            "seq_index": seg[pick].astype(np.int64),
            "position": (pick - seqs.offsets[seg[pick]]).astype(np.int64),
        })

    def _extra_header(self) -> dict[str, Any]:
        return {"distinct_ngrams": int(len(self.grams_))}


def _distinct(rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows with summed counts (exact, via a void view of each row)."""
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    if len(rows) == 0:
        return rows.reshape(0, rows.shape[1] if rows.ndim == 2 else 0), np.zeros(0, np.int64)
    key, _ = _suffix_keys(rows, rows.shape[1])
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    summed = np.bincount(inv.reshape(-1), weights=counts, minlength=len(uniq)).astype(np.int64)
    return rows[first], summed
