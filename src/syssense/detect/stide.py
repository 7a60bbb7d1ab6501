"""stide and t-stide: the normal database of distinct k-windows.

* **stide** (Forrest, Hofmeyr, Somayaji & Longstaff, "A Sense of Self for Unix
  Processes", IEEE S&P 1996; Hofmeyr, Forrest & Somayaji, "Intrusion Detection using
  Sequences of System Calls", J. Computer Security 1998): the normal database is the set
  of distinct length-k windows (step 1) of normal traces, kept with their counts. A window
  of a new trace *matches* when it is in the database. Per trace:

  - coverage = matched windows / windows; mismatch rate = 1 − coverage;
  - minimum Hamming distance d_min(w) of each window to the database (0 when it matches);
    anomaly signal S_A = max over the trace's windows of d_min / k (Hofmeyr 1998);
  - locality frame count LFC(i) = mismatches among the last L windows (default L = 20),
    within one sequence, and its maximum over the trace.

  The trace score is the mismatch rate.

* **t-stide** (Warrender, Forrest & Pearlmutter, "Detecting Intrusions Using System
  Calls: Alternative Data Models", IEEE S&P 1999): as stide, but a window whose training
  frequency count / total is below a threshold (0.001 % by default) also counts as a
  mismatch ("rare"). Its Hamming distance stays 0 (the window is in the database).

A sequence shorter than k yields one padded window, as everywhere in syssense.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..features import Sequences, window_rows
from ._windowdb import Matches, WindowDB, distinct_rows
from .base import Detector, per_trace_max, per_trace_sum, register, trace_groups, window_frame


def locality_frame_count(mismatch: np.ndarray, start: np.ndarray, locality: int) -> np.ndarray:
    """LFC of every window: mismatches among the last ``locality`` windows of its sequence.

    ``start`` is each window's position inside its sequence (windows of one sequence are
    consecutive, step 1), so the frame never reaches into the previous sequence
    (Hofmeyr, Forrest & Somayaji 1998).
    """
    n = len(mismatch)
    cs = np.zeros(n + 1, np.int64)
    np.cumsum(mismatch, out=cs[1:])
    i = np.arange(n, dtype=np.int64)
    lo = np.maximum(i - locality + 1, i - start)
    return (cs[i + 1] - cs[lo]).astype(np.int32)


@register
class Stide(Detector):
    """stide (Forrest et al. 1996; Hofmeyr, Forrest & Somayaji 1998).

    Parameters: ``k`` window length (default 6), ``locality`` the LFC frame L (default 20),
    ``trace_score`` ``"rate"`` (default: ``score`` of a trace = its mismatch rate) or
    ``"lfc"`` (its largest locality frame count, Hofmeyr, Forrest & Somayaji 1998).
    Learned: ``db_`` (:class:`~syssense.detect._windowdb.WindowDB`); :meth:`score_windows`
    gives 1.0 for a mismatching window, else 0.0.
    """

    name = "stide"
    incremental = True
    default_threshold = 0.0
    calibrate_by_default = False  # Forrest et al.'s verdict: any never-seen window is anomalous

    def __init__(self, k: int = 6, locality: int = 20, trace_score: str = "rate") -> None:
        self.k = k
        self.locality = locality
        self.trace_score = trace_score

    def _check_trace_score(self) -> None:
        if self.trace_score not in ("rate", "lfc"):
            raise ValueError(f"trace_score must be 'rate' or 'lfc', not {self.trace_score!r}")

    # ------------------------------------------------------------------ learning
    def _fit(self, seqs: Sequences, reset: bool) -> None:
        if int(self.k) < 1:
            raise ValueError("window size k must be at least 1")
        self._check_trace_score()
        new = WindowDB.build(seqs, int(self.k), len(self.vocab_))
        if reset or not hasattr(self, "db_"):
            self.db_ = new
        else:
            self.db_ = self.db_.union(new.rows, new.counts, len(self.vocab_))

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, Stide)
        self.db_ = self.db_.union(id_map[other.db_.rows], other.db_.counts, len(self.vocab_))

    def _state(self) -> dict[str, np.ndarray]:
        return {"windows": self.db_.rows, "counts": self.db_.counts}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.db_ = WindowDB(int(self.k), len(self.vocab_), arrays["windows"], arrays["counts"])

    # ------------------------------------------------------------------ inspection
    @property
    def n_distinct_(self) -> int:
        self._check_fitted()
        return len(self.db_)

    def database(self) -> dict[tuple[str, ...], int]:
        """The normal database as ``{(call, ...): count}`` (names, padding as ``<pad>``)."""
        self._check_fitted()
        names = np.array(self.vocab_.names, dtype=object)
        return {tuple(names[r]): int(c) for r, c in zip(self.db_.rows, self.db_.counts, strict=True)}

    # ------------------------------------------------------------------ scoring
    def _rare(self, m: Matches) -> np.ndarray:
        return np.zeros(len(m), dtype=bool)

    def analyse(self, seqs: Sequences, hamming: bool = True) -> dict[str, Any]:
        """Per-window arrays: ``seq_index``, ``start``, ``match``, ``rare``, ``mismatch``,
        ``hamming`` (minimum Hamming distance, -1 when not computed) and ``lfc``."""
        seqs = self._prepare(seqs)
        m = self.db_.match(seqs)
        match = m.index >= 0
        rare = self._rare(m)
        mismatch = ~match | rare
        ham = np.zeros(len(m), np.int16)
        if hamming:
            miss = np.flatnonzero(~match)
            if len(miss):
                rows = window_rows(seqs, int(self.k), m.flat_start[miss], m.padded[miss], m.seq_index[miss])
                uniq, inverse = distinct_rows(m.keys_at(self.db_.encoder, miss), rows, self.db_.encoder.exact)
                ham[miss] = self.db_.min_hamming(uniq)[inverse]
        else:
            ham[~match] = -1
        return {
            "seqs": seqs,
            "seq_index": m.seq_index,
            "start": m.start,
            "flat_start": m.flat_start,
            "padded": m.padded,
            "match": match,
            "rare": rare,
            "mismatch": mismatch,
            "hamming": ham,
            "lfc": locality_frame_count(mismatch, m.start, int(self.locality)),
        }

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """1.0 for each window that mismatches (t-stide: or is rare), else 0.0."""
        seq = self._as_sequences(seq)
        return self.analyse(seq, hamming=False)["mismatch"].astype(np.float64)

    def window_table(self, seqs: Sequences, hamming: bool = True) -> pa.Table:
        """Per-window rows: position columns, ``match``, ``rare``, ``hamming``, ``lfc``, ``score``."""
        a = self.analyse(seqs, hamming=hamming)
        cols = {
            "match": a["match"],
            "rare": a["rare"],
            "hamming": a["hamming"].astype(np.int32),
            "lfc": a["lfc"],
            "score": a["mismatch"].astype(np.float64),
        }
        return window_frame(a["seqs"], int(self.k), a["seq_index"], a["start"], cols)

    def score_traces(self, seqs: Sequences, hamming: bool = True) -> pa.Table:
        """One row per trace: ``trace_id``, ``score`` (= mismatch rate), ``n_windows``,
        ``mismatches``, ``coverage``, ``mismatch_rate``, ``max_hamming``,
        ``anomaly_signal`` (S_A = max_hamming / k), ``max_lfc`` (and ``rare`` for t-stide)."""
        a = self.analyse(seqs, hamming=hamming)
        return self.aggregate(a)

    def aggregate(self, a: dict[str, Any]) -> pa.Table:
        """Per-trace table from :meth:`analyse` output."""
        self._check_trace_score()
        trace_ids, tw = trace_groups(a["seqs"], a["seq_index"])
        n = len(trace_ids)
        n_windows = np.bincount(tw, minlength=n).astype(np.int64)
        mism = per_trace_sum(a["mismatch"], tw, n).astype(np.int64)
        rate = np.divide(mism, n_windows, out=np.zeros(n), where=n_windows > 0)
        max_ham = per_trace_max(a["hamming"], tw, n).astype(np.int64)
        max_lfc = per_trace_max(a["lfc"], tw, n).astype(np.int64)
        cols: dict[str, Any] = {
            "trace_id": pa.array(trace_ids.astype(str), pa.string()),
            "score": max_lfc.astype(np.float64) if self.trace_score == "lfc" else rate,
            "n_windows": n_windows,
            "mismatches": mism,
            "coverage": 1.0 - rate,
            "mismatch_rate": rate,
            "max_hamming": max_ham,
            "anomaly_signal": max_ham / float(self.k),
            "max_lfc": max_lfc,
        }
        if self.name == "tstide":
            cols["rare"] = per_trace_sum(a["rare"], tw, n).astype(np.int64)
        return pa.table(cols)


@register
class TStide(Stide):
    """t-stide (Warrender, Forrest & Pearlmutter 1999): rare windows count as mismatches.

    ``rare_threshold`` is a fraction of all training windows (default 1e-5 = 0.001 %): a
    window seen in training with ``count / total < rare_threshold`` is rare.
    """

    name = "tstide"

    def __init__(self, k: int = 6, locality: int = 20, rare_threshold: float = 1e-5, trace_score: str = "rate") -> None:
        super().__init__(k=k, locality=locality, trace_score=trace_score)
        self.rare_threshold = rare_threshold

    def _rare(self, m: Matches) -> np.ndarray:
        rare = np.zeros(len(m), dtype=bool)
        hit = m.index >= 0
        total = self.db_.total
        if total:
            rare[hit] = self.db_.counts[m.index[hit]] < float(self.rare_threshold) * total
        return rare
