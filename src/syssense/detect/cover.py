"""Sequence covering: how many pieces of normal behaviour does it take to spell a trace?

After Marteau 2019 (P.-F. Marteau, "Sequence Covering for Efficient Host-Based Intrusion
Detection", IEEE Transactions on Information Forensics and Security 14(4), 2019):

* the normal **dictionary** is every contiguous subsequence (factor) of every normal
  training sequence. The training sequences are joined with unique separators, so no
  entry crosses a sequence boundary; a call never seen in training (``<unknown>``) is in no
  entry;
* a test sequence is **covered** greedily from left to right: at the current position take
  the *longest* factor of the dictionary that starts there (a call never seen in training
  makes a segment of length 1), then continue right after it. Because the dictionary is
  factor-closed, greedy longest match gives a covering with the fewest segments;
* **trace score** = number of segments / number of calls (over all sequences of the trace;
  0 for a trace without calls). A normal-looking trace is spelled with few long pieces,
  an attack needs many short ones. There is no window length: the detector is k-free;
* **per-event scores** (:meth:`CoverDetector.score_windows`, one "window" per call, the
  k = 1 layout of :func:`~syssense.features.window_starts`): 1.0 where a segment starts
  after the first of its sequence (the covering breaks there), else 0.0;
* with ``trace_score="lfc"``, the locality view (after Hofmeyr, Forrest & Somayaji's
  locality frame count, 1998): a call's score is the number of breaks among the last
  ``locality`` calls of its sequence (itself included) and a trace's score the largest
  such count, so a short foreign burst in a long trace is not averaged away.

Longest-match queries use a suffix array of the joined corpus, built by prefix doubling
with ``np.argsort`` (Manber & Myers 1993), and narrowed one call at a time by two binary
searches (compiled with numba); once a single suffix is left, the match is extended by
direct comparison. The learned state is the corpus itself (the training sequences), so
``merge`` and ``partial_fit`` are the union of the corpora, exactly what training on all of
them gives; the index is rebuilt when needed (after loading, merging or updating).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

from ..features import UNKNOWN, Sequences, window_starts
from .base import Detector, per_trace_max, register, window_frame
from .stide import locality_frame_count


def suffix_array(text: np.ndarray) -> np.ndarray:
    """Suffix array of ``text`` (any integers) by prefix doubling (Manber & Myers 1993).

    Each round sorts the suffixes by (rank of the first h symbols, rank of the next h) with
    one ``np.argsort`` of an int64 key, until all ranks differ. With unique separators
    between sequences the number of rounds is about log2 of the longest repeat inside one
    sequence.
    """
    n = len(text)
    if n == 0:
        return np.zeros(0, np.int64)
    _u, inv = np.unique(np.asarray(text), return_inverse=True)
    rank = inv.reshape(-1).astype(np.int64)
    h = 1
    while True:
        second = np.zeros(n, np.int64)  # 0 = past the end, sorts first
        if h < n:
            second[: n - h] = rank[h:] + 1
        key = rank * (n + 1) + second
        sa = np.argsort(key, kind="stable")
        sk = key[sa]
        new = np.empty(n, np.int64)
        new[sa] = np.concatenate([[0], np.cumsum(sk[1:] != sk[:-1])])
        rank = new
        if rank[sa[-1]] == n - 1 or h >= n:
            return sa.astype(np.int64)
        h *= 2


@njit(cache=True, nogil=True)
def _cover(text, sa, codes, offsets):  # pragma: no cover - compiled
    """Greedy longest-match covering of every sequence; 1 at each segment start."""
    n_text = len(sa)
    starts = np.zeros(len(codes), np.uint8)
    for s in range(len(offsets) - 1):
        p = offsets[s]
        end = offsets[s + 1]
        while p < end:
            starts[p] = 1
            lo = 0
            hi = n_text
            d = 0
            while p + d < end:
                c = codes[p + d]
                if hi - lo == 1:  # one suffix left: extend by direct comparison
                    j = sa[lo] + d
                    while p + d < end and text[j] == codes[p + d]:
                        d += 1
                        j += 1
                    break
                a = lo
                b = hi
                while a < b:  # first suffix whose call at depth d is >= c
                    m = (a + b) >> 1
                    if text[sa[m] + d] < c:
                        a = m + 1
                    else:
                        b = m
                new_lo = a
                b = hi
                while a < b:  # first suffix whose call at depth d is > c
                    m = (a + b) >> 1
                    if text[sa[m] + d] <= c:
                        a = m + 1
                    else:
                        b = m
                if new_lo == a:
                    break
                lo = new_lo
                hi = a
                d += 1
            p += d if d > 0 else 1
    return starts


def _join(codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The corpus as one int32 text: calls (ids >= 1) with a unique negative separator
    after every sequence, and a unique negative value for every ``<unknown>`` call, so
    neither ever matches a query call (ids >= 0)."""
    lengths = np.diff(offsets)
    n = len(codes) + len(lengths)
    text = np.empty(n, np.int64)
    seg = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    pos = np.arange(len(codes), dtype=np.int64) + seg
    text[pos] = codes
    sep_pos = offsets[1:] + np.arange(len(lengths), dtype=np.int64)
    text[sep_pos] = -1 - np.arange(len(lengths), dtype=np.int64)
    unknown = pos[codes == UNKNOWN]
    text[unknown] = -1 - len(lengths) - np.arange(len(unknown), dtype=np.int64)
    return text


@register
class CoverDetector(Detector):
    """Sequence covering (Marteau 2019): trace score = segments / calls.

    Parameters: ``trace_score`` ``"rate"`` (default, segments / calls) or ``"lfc"`` (most
    breaks among ``locality`` consecutive calls, default 20). Learned: ``corpus_`` (the
    training sequences' calls, flat, int32) and ``corpus_offsets_``; the suffix-array index
    is built on first use.
    """

    name = "cover"
    incremental = True
    default_threshold = 0.0

    def __init__(self, trace_score: str = "rate", locality: int = 20) -> None:
        self.trace_score = trace_score
        self.locality = locality

    def _check_params(self) -> None:
        if self.trace_score not in ("rate", "lfc"):
            raise ValueError(f"trace_score must be 'rate' or 'lfc', not {self.trace_score!r}")
        if int(self.locality) < 1:
            raise ValueError("the locality frame must be at least 1 call")

    # ------------------------------------------------------------------ learning
    def _fit(self, seqs: Sequences, reset: bool) -> None:
        self._check_params()
        codes = np.asarray(seqs.codes, np.int32)
        offsets = np.asarray(seqs.offsets, np.int64)
        if reset or not hasattr(self, "corpus_"):
            self.corpus_, self.corpus_offsets_ = codes.copy(), offsets.copy()
        else:
            self._append(codes, offsets)
        self._index = None

    def _append(self, codes: np.ndarray, offsets: np.ndarray) -> None:
        self.corpus_offsets_ = np.concatenate([self.corpus_offsets_, offsets[1:] + self.corpus_offsets_[-1]])
        self.corpus_ = np.concatenate([self.corpus_, codes.astype(np.int32)])

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, CoverDetector)
        self._append(id_map[other.corpus_].astype(np.int32), other.corpus_offsets_)
        self._index = None

    def _state(self) -> dict[str, np.ndarray]:
        return {"corpus": self.corpus_, "offsets": self.corpus_offsets_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.corpus_ = arrays["corpus"].astype(np.int32)
        self.corpus_offsets_ = arrays["offsets"].astype(np.int64)
        if len(self.corpus_offsets_) == 0 or self.corpus_offsets_[-1] != len(self.corpus_):
            from ..errors import ModelFormatError

            raise ModelFormatError("the cover model file is damaged: its corpus offsets do not match its calls")
        self._index = None

    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """``(text, suffix_array)`` of the joined training corpus (built once, then cached)."""
        self._check_fitted()
        if getattr(self, "_index", None) is None:
            text = _join(self.corpus_, self.corpus_offsets_)
            self._index = (text, suffix_array(text))
        return self._index

    @property
    def n_corpus_calls_(self) -> int:
        self._check_fitted()
        return len(self.corpus_)

    # ------------------------------------------------------------------ covering
    def segment_starts(self, seqs: Sequences) -> np.ndarray:
        """Per call of ``seqs`` (flat, ``codes`` order, already in ``vocab_`` ids): True
        where a segment of the greedy covering starts (the first call of every non-empty
        sequence included)."""
        text, sa = self.index()
        if seqs.n_calls == 0:
            return np.zeros(0, bool)
        return _cover(text, sa, np.asarray(seqs.codes, np.int64), np.asarray(seqs.offsets, np.int64)).astype(bool)

    def segments(self, seqs: Sequences) -> pa.Table:
        """The covering of every sequence, one row per segment: ``trace_id``, ``pid``,
        ``seq_index``, ``position`` (start inside its sequence), ``length`` (calls),
        ``unknown`` (a call never seen in training) and ``calls`` (the segment's names,
        the first 8 then "…", by the names of ``seqs``, so a call never seen in training
        shows its own name)."""
        logged = seqs
        seqs = self._prepare(seqs)
        flag = self.segment_starts(seqs)
        start = np.flatnonzero(flag)
        length = np.diff(np.append(start, seqs.n_calls))
        seg_of_call = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths)
        seq_index = seg_of_call[start]
        names = np.array(logged.vocab.names, dtype=object)
        calls = [" ".join(names[logged.codes[a : a + min(int(n), 8)]]) + (" …" if n > 8 else "")
                 for a, n in zip(start, length, strict=True)]
        return pa.table({
            "trace_id": pa.array(seqs.trace_ids[seq_index].astype(str) if len(start) else [], pa.string()),
            "pid": seqs.pids[seq_index].astype(np.int64),
            "seq_index": seq_index,
            "position": (start - seqs.offsets[seq_index]).astype(np.int64),
            "length": length.astype(np.int64),
            "unknown": (seqs.codes[start] == UNKNOWN) & (length == 1),
            "calls": pa.array(calls, pa.string()),
        })

    # ------------------------------------------------------------------ scoring
    def _breaks(self, seqs: Sequences) -> np.ndarray:
        """Per call: 1.0 at segment starts after the first of the sequence."""
        flag = self.segment_starts(seqs).astype(np.float64)
        first = seqs.offsets[:-1][seqs.lengths > 0]
        flag[first] = 0.0
        return flag

    def _per_call(self, seqs: Sequences, breaks: np.ndarray) -> np.ndarray:
        """The per-call score: the break itself, or (``lfc``) breaks among the last ``locality`` calls."""
        self._check_params()
        return self.frame_breaks(seqs, breaks) if self.trace_score == "lfc" else breaks

    def frame_breaks(self, seqs: Sequences, breaks: np.ndarray, locality: int | None = None) -> np.ndarray:
        """Per call: the breaks among the last ``locality`` calls of its sequence (itself
        included; default the model's ``locality``), from per-call ``breaks``."""
        if len(breaks) == 0:
            return np.zeros(0)
        position = np.arange(len(breaks), dtype=np.int64) - np.repeat(seqs.offsets[:-1], seqs.lengths)
        frame = int(self.locality if locality is None else locality)
        return locality_frame_count(breaks, position, frame).astype(np.float64)

    def _windows(self, seqs: Sequences, breaks: np.ndarray) -> np.ndarray:
        breaks = self._per_call(seqs, breaks)
        _seq_index, _start, flat_start, padded = window_starts(seqs, 1)
        if not padded.any():
            return breaks
        out = np.zeros(len(flat_start))
        out[~padded] = breaks[flat_start[~padded]]
        return out

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """One score per call (k = 1 window layout; an empty sequence has one padded
        window scoring 0): 1.0 where the covering breaks, else 0.0; with
        ``trace_score="lfc"`` the breaks among the last ``locality`` calls."""
        seqs = self._prepare(self._as_sequences(seq))
        return self._windows(seqs, self._breaks(seqs))

    def window_table(self, seqs: Sequences) -> pa.Table:
        """One row per call: position columns, ``segment_start`` (True at every segment
        start, the first of each sequence included) and ``score`` (as :meth:`score_windows`)."""
        seqs = self._prepare(seqs)
        breaks = self._breaks(seqs)
        seq_index, start, flat_start, padded = window_starts(seqs, 1)
        seg = np.zeros(len(flat_start), bool)
        seg[~padded] = self.segment_starts(seqs)[flat_start[~padded]] if seqs.n_calls else False
        return window_frame(seqs, 1, seq_index, start, {"segment_start": seg, "score": self._windows(seqs, breaks)})

    def score_traces(self, seqs: Sequences) -> pa.Table:
        """Per trace: ``score`` = ``segments`` / ``calls`` (0 without calls; with
        ``trace_score="lfc"``: ``max_frame_breaks``), ``segments``, ``calls``,
        ``mean_segment`` (calls per segment), ``shortest_segment``, ``longest_segment``,
        ``unknown_calls`` (calls never seen in training) and ``max_frame_breaks`` (the most
        breaks among ``locality`` consecutive calls)."""
        return self.score_all(seqs)[0]

    def score_all(self, seqs: Sequences) -> tuple[pa.Table, np.ndarray]:
        """``(score_traces(seqs), score_windows(seqs))`` from one covering."""
        seqs = self._prepare(seqs)
        flag = self.segment_starts(seqs)
        trace_ids, seq_trace = seqs.trace_index()
        n = len(trace_ids)
        call_trace = np.repeat(seq_trace, seqs.lengths)
        calls = np.bincount(call_trace, minlength=n).astype(np.int64)
        start = np.flatnonzero(flag)
        length = np.diff(np.append(start, seqs.n_calls))
        seg_trace = call_trace[start]
        segments = np.bincount(seg_trace, minlength=n).astype(np.int64)
        shortest = np.zeros(n, np.int64)
        longest = np.zeros(n, np.int64)
        if len(start):
            shortest[:] = np.iinfo(np.int64).max
            np.minimum.at(shortest, seg_trace, length)
            np.maximum.at(longest, seg_trace, length)
            shortest[segments == 0] = 0
        unknown = np.bincount(call_trace, weights=(seqs.codes == UNKNOWN).astype(np.float64), minlength=n)
        breaks = flag.astype(np.float64)
        breaks[seqs.offsets[:-1][seqs.lengths > 0]] = 0.0
        max_frame = per_trace_max(self.frame_breaks(seqs, breaks), call_trace, n).astype(np.int64)
        self._check_params()
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(calls > 0, segments / np.maximum(calls, 1), 0.0)
            mean_seg = np.where(segments > 0, calls / np.maximum(segments, 1), 0.0)
        if self.trace_score == "lfc":
            score = max_frame.astype(np.float64)
        table = pa.table({
            "trace_id": pa.array(trace_ids.astype(str), pa.string()),
            "score": score.astype(np.float64),
            "segments": segments,
            "calls": calls,
            "mean_segment": mean_seg.astype(np.float64),
            "shortest_segment": shortest,
            "longest_segment": longest,
            "unknown_calls": unknown.astype(np.int64),
            "max_frame_breaks": max_frame,
        })
        return table, self._windows(seqs, breaks)

    # ------------------------------------------------------------------ explanation
    def explain(self, seqs: Sequences, top: int = 10) -> pa.Table:
        """Where the covering breaks: the ``top`` shortest segments that are followed by a
        break inside their sequence (shortest first, then in order of appearance), with
        ``next_call``, the call that could not extend the segment. Columns as
        :meth:`segments` plus ``next_call``."""
        seg = self.segments(seqs)
        if seg.num_rows == 0:
            return seg.append_column("next_call", pa.array([], pa.string()))
        seq_index = seg.column("seq_index").to_numpy()
        pos = seg.column("position").to_numpy()
        length = seg.column("length").to_numpy()
        end = pos + length
        breaks = end < seqs.lengths[seq_index]
        pick = np.flatnonzero(breaks)
        pick = pick[np.argsort(length[pick], kind="stable")][: int(top)]
        names = np.array(seqs.vocab.names, dtype=object)  # as logged: a never-seen call keeps its name
        nxt = seqs.codes[seqs.offsets[seq_index[pick]] + end[pick]]
        out = seg.take(pa.array(pick, pa.int64()))
        return out.append_column("next_call", pa.array([str(names[c]) for c in nxt], pa.string()))

    def _extra_header(self) -> dict[str, Any]:
        return {"corpus_sequences": int(len(self.corpus_offsets_) - 1)}
