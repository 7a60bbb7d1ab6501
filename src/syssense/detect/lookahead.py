"""Lookahead pairs (Forrest, Hofmeyr, Somayaji & Longstaff, "A Sense of Self for Unix
Processes", IEEE S&P 1996).

The normal database holds, for every call, which calls follow it j positions later,
for j = 1 .. k−1: the set of pairs (call, later call, j) seen in normal traces. A new
trace is checked pair by pair; a pair absent from the database is a mismatch. For a
sequence of length L with lookahead k the maximum number of mismatches (every pair of
it) is (k−1)(L − k/2) (exactly, for L >= k−1), and the mismatch percentage is the
mismatch count divided by that maximum.

The trace ``score`` is the mismatch fraction (mismatches / maximum); ``mismatch_pct`` is
the same as a percentage. :meth:`LookaheadPairs.score_windows` gives, for every k-window
(step 1, as stide), the number of mismatching pairs (first call, call j later) inside it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..features import UNKNOWN, Sequences, window_starts
from .base import Detector, per_trace_sum, register, trace_groups, window_frame


def _pairs(seqs: Sequences, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``(j, a, b, position of a)`` with b the call j positions after a, same sequence."""
    codes = seqs.codes
    n = len(codes)
    seg = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths)
    js, a, b, pos = [], [], [], []
    for j in range(1, int(k)):
        if n <= j:
            break
        same = seg[:-j] == seg[j:]
        p = np.flatnonzero(same)
        js.append(np.full(len(p), j, np.int32))
        a.append(codes[p])
        b.append(codes[p + j])
        pos.append(p)
    if not js:
        z = np.zeros(0, np.int32)
        return z, z, z, np.zeros(0, np.int64)
    return np.concatenate(js), np.concatenate(a), np.concatenate(b), np.concatenate(pos)


@register
class LookaheadPairs(Detector):
    """Lookahead pairs (Forrest et al. 1996) with lookahead ``k`` (pairs up to k−1 apart).

    Learned: ``pairs_``, an ``(n, 3)`` int32 array of distinct (j, call, later call).
    """

    name = "lookahead"
    incremental = True
    default_threshold = 0.0
    calibrate_by_default = False  # any never-seen pair is anomalous

    def __init__(self, k: int = 6) -> None:
        self.k = k

    def _keys(self, j: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        v = len(self.vocab_)
        return (j.astype(np.int64) * v + a.astype(np.int64)) * v + b.astype(np.int64)

    def _fit(self, seqs: Sequences, reset: bool) -> None:
        if int(self.k) < 2:
            raise ValueError("lookahead k must be at least 2")
        j, a, b, _ = _pairs(seqs, int(self.k))
        new = np.stack([j, a, b], axis=1).astype(np.int32) if len(j) else np.zeros((0, 3), np.int32)
        new = new[(new[:, 1] != UNKNOWN) & (new[:, 2] != UNKNOWN)]
        old = getattr(self, "pairs_", None)
        if not reset and old is not None:
            new = np.concatenate([old, new])
        self.pairs_ = np.unique(new, axis=0) if len(new) else new

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, LookaheadPairs)
        theirs = other.pairs_.copy()
        theirs[:, 1:] = id_map[theirs[:, 1:]]
        self.pairs_ = np.unique(np.concatenate([self.pairs_, theirs]), axis=0)

    def _state(self) -> dict[str, np.ndarray]:
        return {"pairs": self.pairs_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.pairs_ = np.asarray(arrays["pairs"], np.int32).reshape(-1, 3)

    @property
    def n_pairs_(self) -> int:
        """Number of distinct lookahead pairs in the normal database."""
        self._check_fitted()
        return len(self.pairs_)

    def database(self) -> set[tuple[str, int, str]]:
        """The database as ``{(call, j, later call)}`` by name."""
        names = self.vocab_.names
        return {(names[a], int(j), names[b]) for j, a, b in self.pairs_}

    def _position_mismatches(self, seqs: Sequences) -> tuple[np.ndarray, np.ndarray]:
        """Per flat position: (mismatching pairs starting there, pairs starting there)."""
        j, a, b, pos = _pairs(seqs, int(self.k))
        known = self._keys(self.pairs_[:, 0], self.pairs_[:, 1], self.pairs_[:, 2])
        hit = pc.is_in(pa.array(self._keys(j, a, b)), value_set=pa.array(known, pa.int64()))
        miss = ~hit.to_numpy(zero_copy_only=False)
        n = len(seqs.codes)
        return np.bincount(pos, weights=miss, minlength=n), np.bincount(pos, minlength=n)

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Mismatching pairs (first call of the window, call j later), per k-window."""
        seq = self._as_sequences(seq)
        seqs = self._prepare(seq)
        miss, _ = self._position_mismatches(seqs)
        _si, _st, flat_start, _pad = window_starts(seqs, int(self.k))
        ext = np.concatenate([miss, [0.0]])
        return ext[np.minimum(flat_start, len(miss))]

    def window_table(self, seqs: Sequences) -> pa.Table:
        seqs = self._prepare(seqs)
        miss, _ = self._position_mismatches(seqs)
        seq_index, start, flat_start, _pad = window_starts(seqs, int(self.k))
        ext = np.concatenate([miss, [0.0]])
        score = ext[np.minimum(flat_start, len(miss))]
        return window_frame(seqs, int(self.k), seq_index, start, {"mismatches": score.astype(np.int64), "score": score})

    def score_traces(self, seqs: Sequences) -> pa.Table:
        """One row per trace: ``trace_id``, ``score`` (mismatch fraction), ``n_windows``,
        ``mismatches``, ``max_mismatches`` ((k−1)(L − k/2) summed over sequences; exactly
        the number of pairs) and ``mismatch_pct``."""
        seqs = self._prepare(seqs)
        miss, total = self._position_mismatches(seqs)
        seq_of_pos = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths)
        seq_index, _st, _fs, _pad = window_starts(seqs, int(self.k))
        trace_ids, tw = trace_groups(seqs, seq_index)
        _, trace_of_seq = seqs.trace_index()
        tp = trace_of_seq[seq_of_pos] if len(seq_of_pos) else np.zeros(0, np.int64)
        n = len(trace_ids)
        mism = per_trace_sum(miss, tp, n).astype(np.int64)
        mx = per_trace_sum(total, tp, n).astype(np.int64)
        frac = np.divide(mism, mx, out=np.zeros(n), where=mx > 0)
        return pa.table(
            {
                "trace_id": pa.array(trace_ids.astype(str), pa.string()),
                "score": frac,
                "n_windows": np.bincount(tw, minlength=n).astype(np.int64),
                "mismatches": mism,
                "max_mismatches": mx,
                "mismatch_pct": 100.0 * frac,
            }
        )


def max_mismatches(length: int, k: int) -> float:
    """Forrest et al. (1996): (k−1)(L − k/2), the most mismatches a length-L sequence can have."""
    return (k - 1) * (length - k / 2)


__all__ = ["LookaheadPairs", "max_mismatches"]
