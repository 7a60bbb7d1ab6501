"""tf-idf nearest neighbour: traces as text documents, their short call n-grams as terms.

Liao & Vemuri, "Using text categorization techniques for intrusion detection", USENIX
Security 2002, treat each process as a document and each system call as a word, weight
words by tf-idf and call a process normal when it is close (cosine similarity) to a normal
one. Here the terms are every contiguous n-gram of calls for n = 1..``n`` (the variable
n-gram features of Khreich et al., "An anomaly detection system based on variable N-gram
features and one-class SVM", Information and Software Technology 2017); n-grams never cross
a sequence boundary, and:

* term vocabulary = the n-grams of the training traces, plus one extra term per order that
  counts a trace's n-grams *never seen* in training (an n-gram with an ``<unknown>`` call is
  one of those);
* weights = scikit-learn ``TfidfTransformer`` defaults: raw counts × smooth idf
  ln((1 + N) / (1 + df)) + 1 over the N training traces (an unseen-n-gram term has df = 0,
  so the largest idf), rows scaled to unit length;
* trace ``score`` = 1 − the largest cosine similarity to any training trace (the
  nearest-neighbour one-class rule), in [0, 1]; a trace with no calls scores 0.

The trace score has no window length (the detector is k-free in ``evaluate``).
:meth:`TfidfDetector.score_windows` gives each length-``k`` window the fraction of the
n-grams inside it that were never seen in training, which leads back to the log lines that
pull a trace away from every normal one. Learned state: every training trace's term counts,
so ``partial_fit`` and ``merge`` equal training on everything at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ModelFormatError
from ..features import UNKNOWN, Sequences, window_starts
from .base import Detector, register

#: call ids are packed 16 bits each, the n-gram order above them
_BITS = 16
_ORDER_SHIFT = 3 * _BITS
MAX_N = 3


def _pack(calls: list[np.ndarray], order: int) -> np.ndarray:
    key = np.full(len(calls[0]) if calls else 0, order, np.int64) << _ORDER_SHIFT
    for j, c in enumerate(calls):
        key |= c.astype(np.int64) << (_BITS * (order - 1 - j))
    return key


def _unpack(key: np.ndarray, order: int) -> list[np.ndarray]:
    return [(key >> (_BITS * (order - 1 - j))) & ((1 << _BITS) - 1) for j in range(order)]


def _ngrams(seqs: Sequences, n: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per order 1..n: ``(start, key, has_unknown)`` of every n-gram inside a sequence."""
    codes, offsets = seqs.codes, seqs.offsets
    seq_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    out = []
    for order in range(1, n + 1):
        start = np.arange(max(len(codes) - order + 1, 0), dtype=np.int64)
        start = start[seq_of[start] == seq_of[start + order - 1]]
        calls = [codes[start + j] for j in range(order)]
        unknown = np.zeros(len(start), bool)
        for c in calls:
            unknown |= c == UNKNOWN
        out.append((start, _pack(calls, order), unknown))
    return out


def _rows(trace: np.ndarray, key: np.ndarray, n_traces: int,
          weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum ``weight`` over equal (trace, key) pairs: ``(row_offsets, keys, counts)``, keys
    sorted within each row."""
    idx = np.lexsort((key, trace))
    t, k = trace[idx], key[idx]
    new = np.ones(len(t), bool)
    new[1:] = (t[1:] != t[:-1]) | (k[1:] != k[:-1])
    first = np.flatnonzero(new)
    counts = np.add.reduceat(weight[idx], first).astype(np.int64) if len(first) else np.zeros(0, np.int64)
    offsets = np.searchsorted(t[first], np.arange(n_traces + 1)).astype(np.int64)
    return offsets, k[first], counts


def _known(key: np.ndarray, unknown: np.ndarray, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(is_term, position)``: which n-grams are training terms (sorted ``terms``) and where."""
    pos = np.searchsorted(terms, key)
    own = ~unknown & (pos < len(terms))
    own[own] = terms[pos[own]] == key[own]
    return own, pos


def _distinct_rows(matrix: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the distinct rows of a CSR count matrix: ``first`` the row
    number where each distinct row first occurs (ascending), ``inverse`` each row's distinct
    index. Many traces of a program are equal term for term; they are compared once."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    ptr, idx, val = matrix.indptr, matrix.indices, matrix.data
    seen: dict[tuple[bytes, bytes], int] = {}
    first: list[int] = []
    inverse = np.empty(matrix.shape[0], np.int64)
    for i in range(matrix.shape[0]):  # one dict look-up per trace, not per event
        key = (idx[ptr[i]:ptr[i + 1]].tobytes(), val[ptr[i]:ptr[i + 1]].tobytes())
        j = seen.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return np.array(first, np.int64), inverse


def _nearest(X: Any, normal_t: Any, cells: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Largest cosine similarity of each row of ``X`` to the normal rows (columns of
    ``normal_t``) and the column where it is reached (−1 when no term is shared). Rows go
    in blocks so that a block's dense similarity matrix holds at most ``cells`` numbers
    (16 MB), whatever the number of traces."""
    best = np.zeros(X.shape[0])
    nearest = np.full(X.shape[0], -1, np.int64)
    if normal_t.shape[1] == 0:
        return best, nearest
    block = max(1, cells // normal_t.shape[1])
    for a in range(0, X.shape[0], block):
        sims = (X[a:a + block] @ normal_t).toarray()
        arg = sims.argmax(axis=1)
        top = sims[np.arange(len(arg)), arg]
        best[a:a + block] = np.minimum(top, 1.0)
        nearest[a:a + block] = np.where(top > 0, arg, -1)
    return best, nearest


@register
class TfidfDetector(Detector):
    """tf-idf weighted n-gram profile, nearest normal trace by cosine (Liao & Vemuri 2002).

    Parameters: ``n`` the longest n-gram order used as a term (1..3, default 3); ``k`` the
    window length of :meth:`score_windows` only.
    """

    name = "tfidf"
    incremental = True
    default_threshold = 0.5

    def __init__(self, n: int = 3, k: int = 6) -> None:
        self.n = n
        self.k = k

    def _check(self) -> None:
        if not isinstance(self.n, int) or not 1 <= self.n <= MAX_N:
            raise ValueError(f"n must be 1, 2 or 3, not {self.n!r}")
        if len(self.vocab_) > 1 << _BITS:
            raise ValueError(f"the tfidf detector handles at most {1 << _BITS} distinct calls, not {len(self.vocab_)}")

    # ------------------------------------------------------------------ learning
    def _term_rows(self, seqs: Sequences, known: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Term counts per trace of ``seqs``: ``(row_offsets, keys, counts)``. An n-gram is its
        own term when it has no unknown call and is in ``known`` (sorted keys; ``None``: every
        n-gram of ``seqs`` is known); otherwise it counts for the key −order."""
        trace_ids, seq_trace = seqs.trace_index()
        seq_of = np.repeat(seq_trace, seqs.lengths) if len(seq_trace) else np.zeros(0, np.int64)
        grams = _ngrams(seqs, self.n)
        if known is None:
            known = np.unique(np.concatenate([key[~unknown] for _s, key, unknown in grams]))
        n_known = len(known)
        width = n_known + self.n  # one row of the count matrix: known terms, then unseen per order
        cells = []
        for order, (start, key, unknown) in enumerate(grams, start=1):
            own, pos = _known(key, unknown, known)
            cells.append(seq_of[start] * width + np.where(own, pos, n_known + order - 1))
        cell = np.sort(np.concatenate(cells))
        new = np.ones(len(cell), bool)
        new[1:] = cell[1:] != cell[:-1]
        first = np.flatnonzero(new)
        counts = np.diff(np.append(first, len(cell))).astype(np.int64)
        trace, col = np.divmod(cell[first], width)
        keys = np.where(col < n_known, known[np.minimum(col, max(n_known - 1, 0))] if n_known else 0,
                        n_known - 1 - col)
        offsets = np.searchsorted(trace, np.arange(len(trace_ids) + 1)).astype(np.int64)
        return offsets, keys.astype(np.int64), counts

    def _fit(self, seqs: Sequences, reset: bool) -> None:
        self._check()
        offsets, keys, counts = self._term_rows(seqs, None)
        if reset or not hasattr(self, "keys_"):
            self.row_offsets_, self.keys_, self.counts_ = offsets, keys, counts
        else:
            self._append(offsets, keys, counts)
        self._changed()

    def _append(self, offsets: np.ndarray, keys: np.ndarray, counts: np.ndarray) -> None:
        self.row_offsets_ = np.concatenate([self.row_offsets_, offsets[1:] + self.row_offsets_[-1]])
        self.keys_ = np.concatenate([self.keys_, keys])
        self.counts_ = np.concatenate([self.counts_, counts])

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, TfidfDetector)
        self._check()
        n_rows = len(other.row_offsets_) - 1
        rows = np.repeat(np.arange(n_rows), np.diff(other.row_offsets_))
        self._append(*_rows(rows, other._remapped(id_map), n_rows, other.counts_))
        self._changed()

    def _remapped(self, id_map: np.ndarray) -> np.ndarray:
        keys = self.keys_.copy()
        for order in range(1, self.n + 1):
            sel = (keys >> _ORDER_SHIFT) == order
            keys[sel] = _pack([id_map[c] for c in _unpack(keys[sel], order)], order)
        return keys

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {"row_offsets": self.row_offsets_, "keys": self.keys_, "counts": self.counts_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        offsets = arrays["row_offsets"].astype(np.int64)
        keys, counts = arrays["keys"].astype(np.int64), arrays["counts"].astype(np.int64)
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(keys) or len(counts) != len(keys) \
                or np.any(np.diff(offsets) < 0):
            raise ModelFormatError("the tfidf model file is damaged: its arrays do not fit together")
        order = np.where(keys >= 0, keys >> _ORDER_SHIFT, -keys)
        if np.any((order < 1) | (order > int(self.n))) or np.any(counts < 1):
            raise ModelFormatError("the tfidf model file is damaged: it holds terms that are not n-grams of its order")
        self.row_offsets_, self.keys_, self.counts_ = offsets, keys, counts
        self._changed()

    def _extra_header(self) -> dict[str, Any]:
        return {"normal_traces": int(len(self.row_offsets_) - 1), "terms": int(len(self.terms()))}

    # ------------------------------------------------------------------ the weighted matrix
    def terms(self) -> np.ndarray:
        """The distinct training n-grams (packed keys, sorted)."""
        return np.unique(self.keys_[self.keys_ >= 0])

    def _terms(self) -> np.ndarray:
        """:meth:`terms`, kept until the model changes."""
        if getattr(self, "_term_list", None) is None:
            self._term_list = self.terms()
        return self._term_list

    def _changed(self) -> None:
        """Forget what was derived from the training counts (after fit, merge or load)."""
        self._index = None
        self._term_list = None

    def _matrix(self, offsets: np.ndarray, keys: np.ndarray, counts: np.ndarray, terms: np.ndarray) -> Any:
        from scipy.sparse import csr_matrix

        col = np.where(keys >= 0, np.searchsorted(terms, keys), len(terms) - keys - 1)
        return csr_matrix((counts.astype(np.float64), col, offsets), shape=(len(offsets) - 1, len(terms) + self.n))

    def _fitted_index(self) -> tuple[np.ndarray, Any, Any, np.ndarray]:
        if getattr(self, "_index", None) is None:
            from sklearn.feature_extraction.text import TfidfTransformer

            terms = self._terms()
            counts = self._matrix(self.row_offsets_, self.keys_, self.counts_, terms)
            tf = TfidfTransformer().fit(counts)  # idf over every training trace, duplicates too
            first, _inverse = _distinct_rows(counts)
            self._index = (terms, tf, tf.transform(counts[first]).T.tocsr(), first)
        return self._index

    # ------------------------------------------------------------------ scoring
    def score_traces(self, seqs: Sequences) -> pa.Table:
        """Per trace: ``score`` = 1 − ``similarity``; ``similarity`` the largest cosine to a
        training trace; ``nearest`` that training trace's row number (−1 when none shares a
        term); ``unseen_ngrams`` n-grams (all orders) never seen in training; ``ngrams``;
        ``n_calls``."""
        seqs = self._prepare(seqs)
        self._check()
        terms, tf, normal_t, normal_rows = self._fitted_index()
        offsets, keys, counts = self._term_rows(seqs, terms)
        trace_ids, seq_trace = seqs.trace_index()
        matrix = self._matrix(offsets, keys, counts, terms)
        first, inverse = _distinct_rows(matrix)  # equal traces are compared once
        best, nearest = _nearest(tf.transform(matrix[first]), normal_t)
        nearest = np.where(nearest >= 0, normal_rows[np.maximum(nearest, 0)], -1)
        best, nearest = best[inverse], nearest[inverse]
        n_calls = np.bincount(seq_trace, weights=seqs.lengths, minlength=len(trace_ids)).astype(np.int64)
        row = np.repeat(np.arange(len(trace_ids)), np.diff(offsets))
        unseen = np.bincount(row, weights=np.where(keys < 0, counts, 0), minlength=len(trace_ids)).astype(np.int64)
        total = np.bincount(row, weights=counts, minlength=len(trace_ids)).astype(np.int64)
        return pa.table({
            "trace_id": pa.array(trace_ids.astype(str), pa.string()),
            "score": np.where(n_calls > 0, 1.0 - best, 0.0),
            "similarity": best,
            "nearest": nearest,
            "unseen_ngrams": unseen,
            "ngrams": total,
            "n_calls": n_calls,
        })

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Per length-k window: the fraction of the n-grams (orders 1..n) lying wholly inside
        it that were never seen in training."""
        seqs = self._prepare(self._as_sequences(seq))
        self._check()
        terms = self._terms()
        k = int(self.k)
        seq_index, _st, w, _p = window_starts(seqs, k)
        end = np.minimum(w + k, seqs.offsets[1:][seq_index])
        unseen = np.zeros(len(w), np.int64)
        total = np.zeros(len(w), np.int64)
        for order, (start, key, unknown) in enumerate(_ngrams(seqs, self.n), start=1):
            new = ~_known(key, unknown, terms)[0]
            n_all = np.zeros(len(seqs.codes) + 1, np.int64)
            n_new = np.zeros(len(seqs.codes) + 1, np.int64)
            n_all[start + 1] = 1
            n_new[start + 1] = new
            n_all, n_new = np.cumsum(n_all), np.cumsum(n_new)
            hi = np.maximum(end - order + 1, w)  # n-grams starting in [w, end - order]
            total += n_all[hi] - n_all[w]
            unseen += n_new[hi] - n_new[w]
        return np.divide(unseen, total, out=np.zeros(len(w)), where=total > 0)

    def explain(self, seqs: Sequences, top: int | None = 20) -> pa.Table:
        """For all of ``seqs`` pooled, the n-grams never seen in training, most frequent
        first: ``ngram`` (calls joined by spaces), ``order``, ``count``."""
        logged = seqs  # names as logged: each call never seen in training keeps its own name
        seqs = self._prepare(seqs)
        terms = self._terms()
        names = np.array(logged.vocab.names, dtype=object)
        found: list[tuple[int, int, int]] = []  # (count, order, first start)
        model_grams, logged_grams = _ngrams(seqs, self.n), _ngrams(logged, self.n)
        for order, ((start, key, unknown), (_s, logged_key, _u)) in enumerate(zip(model_grams, logged_grams, strict=True), start=1):
            new = ~_known(key, unknown, terms)[0]
            _u, first, counts = np.unique(logged_key[new], return_index=True, return_counts=True)
            found.extend(zip(counts.tolist(), [order] * len(counts), start[new][first].tolist(), strict=True))
        found.sort(key=lambda f: (-f[0], f[1], f[2]))
        if top is not None:
            found = found[: int(top)]
        return pa.table({
            "ngram": pa.array([" ".join(names[logged.codes[s: s + o]]) for _c, o, s in found], pa.string()),
            "order": pa.array([o for _c, o, _s in found], pa.int64()),
            "count": pa.array([c for c, _o, _s in found], pa.int64()),
        })
