"""System-call frequency profiles: how often each call is made, ignoring order.

The "bag of system calls" view (Kang, Fuller & Honavar, "Learning classifiers for misuse
and anomaly detection using a bag of system calls representation", IEEE IAW 2005; the
histogram comparisons of Forrest et al.'s group). For every trace the histogram of its
calls is compared with normal behaviour:

* ``js``: Jensen–Shannon divergence (base 2, in [0, 1]) between the trace's call
  distribution p and the pooled normal distribution q (q with add-½ smoothing, so that
  every call has some probability) (Lin, "Divergence measures based on the Shannon
  entropy", IEEE Trans. Inf. Theory 1991);
* ``chi2``: Pearson's chi-square statistic Σ (o − n q)² / (n q) of the trace's n calls
  against q, divided by n (so traces of different lengths compare);
* ``log_ratio``: per call ln(p(c) / q(c)); the trace column ``max_log_ratio`` is its
  largest value; :meth:`FrequencyDetector.explain` lists them, calls never seen in normal
  runs first;
* ``nn`` (one-class): the Hellinger distance √(½ Σ (√p − √r)²) from the trace to the
  *nearest* normal trace histogram r (nearest-neighbour one-class rule; sklearn
  ``NearestNeighbors`` on √p), in [0, 1];
* ``new_calls``: distinct calls of the trace never seen in normal runs.

The trace ``score`` is the measure named by ``metric`` (default ``nn``). The detector
works on traces, not windows; :meth:`score_windows` gives each length-k window the mean
surprisal −ln q(call) of its calls (a unigram model). Learned state: the normal
histograms (one row per normal trace), so ``partial_fit`` and ``merge`` are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..features import Sequences, window_starts
from .base import Detector, register

METRICS = ("nn", "js", "chi2", "log_ratio")


def trace_histograms(seqs: Sequences, n_calls: int) -> tuple[np.ndarray, np.ndarray]:
    """``(trace_ids, counts)``: one row of call counts (``n_calls`` columns) per trace."""
    trace_ids, seq_trace = seqs.trace_index()
    call_trace = np.repeat(seq_trace, seqs.lengths) if len(seqs) else np.zeros(0, np.int64)
    flat = call_trace * n_calls + seqs.codes.astype(np.int64)
    counts = np.bincount(flat, minlength=len(trace_ids) * n_calls).reshape(len(trace_ids), n_calls)
    return trace_ids, counts


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / q), 0.0)
    return t.sum(axis=1)


@register
class FrequencyDetector(Detector):
    """Frequency (bag of calls) detector; see the module docstring for every measure.

    Parameters: ``metric`` one of ``nn`` (default), ``js``, ``chi2``, ``log_ratio``;
    ``k`` the window length of :meth:`score_windows` only.
    """

    name = "frequency"
    incremental = True
    default_threshold = 0.3

    def __init__(self, metric: str = "nn", k: int = 6) -> None:
        self.metric = metric
        self.k = k

    # ------------------------------------------------------------------ learning
    def _fit(self, seqs: Sequences, reset: bool) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {self.metric!r}")
        _ids, h = trace_histograms(seqs, len(self.vocab_))
        if reset or not hasattr(self, "hists_"):
            self.hists_ = h.astype(np.int64)
        else:
            self.hists_ = np.concatenate([self._widened(self.hists_), h]).astype(np.int64)
        self._nn = None

    def _widened(self, h: np.ndarray) -> np.ndarray:
        V = len(self.vocab_)
        if h.shape[1] < V:
            h = np.concatenate([h, np.zeros((len(h), V - h.shape[1]), h.dtype)], axis=1)
        return h

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, FrequencyDetector)
        V = len(self.vocab_)
        moved = np.zeros((len(other.hists_), V), np.int64)
        np.add.at(moved.T, id_map[: other.hists_.shape[1]], other.hists_.T)
        self.hists_ = np.concatenate([self._widened(self.hists_), moved])
        self._nn = None

    def _state(self) -> dict[str, np.ndarray]:
        return {"hists": self.hists_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.hists_ = arrays["hists"].astype(np.int64)
        self._nn = None

    def _extra_header(self) -> dict[str, Any]:
        return {"normal_traces": int(len(self.hists_))}

    # ------------------------------------------------------------------ model views
    def normal_counts(self) -> np.ndarray:
        """Pooled normal counts per call id."""
        return self._widened(self.hists_).sum(axis=0)

    def normal_distribution(self) -> np.ndarray:
        """Pooled normal call distribution q with add-½ smoothing (sums to 1)."""
        c = self.normal_counts().astype(np.float64) + 0.5
        return c / c.sum()

    def _neighbours(self):
        if getattr(self, "_nn", None) is None:
            from sklearn.neighbors import NearestNeighbors

            h = self._widened(self.hists_).astype(np.float64)
            tot = h.sum(axis=1, keepdims=True)
            self._nn_points = np.sqrt(h / np.maximum(tot, 1.0))
            self._nn = NearestNeighbors(n_neighbors=1).fit(self._nn_points)
        return self._nn

    # ------------------------------------------------------------------ scoring
    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Mean surprisal −ln q(call) of the calls of every length-k window."""
        seq = self._as_sequences(seq)
        seqs = self._prepare(seq)
        k = int(self.k)
        s = -np.log(self.normal_distribution())[seqs.codes]
        _si, _st, flat_start, _p = window_starts(seqs, k)
        seq_index = _si
        cs = np.zeros(len(s) + 1)
        np.cumsum(s, out=cs[1:])
        end = np.minimum(flat_start + k, seqs.offsets[1:][seq_index])
        length = end - flat_start
        return np.divide(cs[end] - cs[flat_start], length, out=np.zeros(len(length)), where=length > 0)

    def score_traces(self, seqs: Sequences) -> pa.Table:
        """Per trace: ``score`` (the chosen metric), ``nn``, ``js``, ``chi2``,
        ``max_log_ratio``, ``new_calls``, ``n_calls``."""
        seqs = self._prepare(seqs)
        V = len(self.vocab_)
        trace_ids, counts = trace_histograms(seqs, V)
        n = counts.sum(axis=1).astype(np.float64)
        p = counts / np.maximum(n, 1.0)[:, None]
        q = self.normal_distribution()
        m = 0.5 * (p + q[None, :])
        js = 0.5 * _kl_rows(p, m) + 0.5 * _kl_rows(np.broadcast_to(q, p.shape), m)
        e = np.maximum(n, 1.0)[:, None] * q[None, :]
        chi2 = ((counts - e) ** 2 / e).sum(axis=1) / np.maximum(n, 1.0)
        with np.errstate(divide="ignore"):
            lr = np.where(counts > 0, np.log(np.where(p > 0, p, 1.0) / q[None, :]), -np.inf)
        max_lr = lr.max(axis=1) if V else np.zeros(len(n))
        max_lr[~np.isfinite(max_lr)] = 0.0
        seen = self.normal_counts() > 0
        new = ((counts > 0) & ~seen[None, :]).sum(axis=1)
        if len(trace_ids):
            root = np.sqrt(p)
            _, nearest = self._neighbours().kneighbors(root)
            # the distance again by direct difference: the index's squared-norm formula
            # leaves ~1e-8 of rounding error, so identical histograms would not score 0
            nn = np.linalg.norm(root - self._nn_points[nearest[:, 0]], axis=1) / np.sqrt(2.0)
        else:
            nn = np.zeros(0)
        cols = {"nn": nn, "js": js, "chi2": chi2, "log_ratio": max_lr}
        return pa.table({
            "trace_id": pa.array(trace_ids.astype(str), pa.string()),
            "score": cols[self.metric],
            "nn": nn,
            "js": js,
            "chi2": chi2,
            "max_log_ratio": max_lr,
            "new_calls": new.astype(np.int64),
            "n_calls": n.astype(np.int64),
        })

    def explain(self, seqs: Sequences, top: int | None = 20) -> pa.Table:
        """Per call, for all of ``seqs`` pooled: ``call``, ``count``, ``freq``,
        ``normal_freq``, ``log_ratio`` = ln(freq / normal_freq), ``new`` (never seen in
        normal runs). Calls never seen in normal come first, then by |log_ratio|."""
        self._check_fitted()
        counts = np.bincount(seqs.codes, minlength=len(seqs.vocab))  # per name as logged
        present = np.flatnonzero(counts)
        model_id = seqs.vocab.mapping_to(self.vocab_)[present]  # a never-seen name -> UNKNOWN
        q = self.normal_distribution()[model_id]
        new = ~(self.normal_counts() > 0)[model_id]
        freq = counts[present] / max(int(counts.sum()), 1)
        lr = np.log(freq / q)
        order = np.lexsort((-np.abs(lr), ~new))
        if top is not None:
            order = order[: int(top)]
        names = np.array(seqs.vocab.names, dtype=object)
        return pa.table({
            "call": pa.array(names[present[order]].tolist(), pa.string()),
            "count": counts[present[order]].astype(np.int64),
            "freq": freq[order],
            "normal_freq": q[order],
            "log_ratio": lr[order],
            "new": new[order],
        })
