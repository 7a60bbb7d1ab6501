"""Timing of system calls: per-process inter-arrival times and call durations.

Timing carries signal that the order of calls does not: a stressed or instrumented
process slows down, an attack busy-waits or sleeps (Ezeme, Mahmoud & Azim, "Hierarchical
attention-based anomaly detection model for embedded operating systems", RTCSA 2018,
use the same inter-arrival feature on the UAV SysCall dataset). For every call:

* inter-arrival gap Δ_i = T_i − T_{i−1} (seconds, same process; none for its first call);
* duration d_i (strace ``-T``) when the log has it.

Normal behaviour is, per call name, the mean μ and standard deviation σ of ln(x + 1 µs)
for each of the two features (Welford-style sums, so ``partial_fit`` and ``merge`` are
exact); a call seen fewer than ``min_count`` times uses the pooled statistics of all
calls. An event's score is the largest |z| = |ln(x + 1 µs) − μ| / max(σ, ``min_sigma``)
over its features (0 when it has neither); a window (length ``k``, step 1) scores the
mean of its events, and is anomalous when its timing falls outside the normal
distribution for its calls (score above ``z`` = 3 by default). The trace score is the
largest window score; ``outlier_frac`` is the fraction of events with |z| > ``z``.

Sequences with times come from :meth:`TimedSequences.from_events` (the events table's
``ts`` and ``duration`` columns, gathered through :attr:`Sequences.rows`). Public datasets
without times (ADFA-LD, UNM) cannot be scored by this detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import SyssenseError
from ..features import GroupBy, Sequences, Vocabulary, window_starts
from .base import Detector, per_trace_max, register, trace_groups, window_frame

_EPS = 1e-6
_NO_TIMES = ("the timing detector needs timestamps or durations (strace -ttt / -T); "
             "these sequences have none")


@dataclass
class TimedSequences(Sequences):
    """:class:`Sequences` with per-call ``gap`` (inter-arrival seconds, NaN for the first
    call of a sequence or when unknown) and ``duration`` (seconds, NaN when unknown)."""

    gap: np.ndarray | None = None
    duration: np.ndarray | None = None

    @classmethod
    def from_events(cls, events: pa.Table, vocab: Vocabulary | None = None, by: GroupBy = "process") -> TimedSequences:
        base = Sequences.from_events(events, vocab=vocab, by=by)
        n = base.n_calls
        ts = np.full(n, np.nan)
        dur = np.full(n, np.nan)
        if n and base.rows is not None:
            for name, out in (("ts", ts), ("duration", dur)):
                if name in events.column_names:
                    col = events.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                    out[:] = col[base.rows]
        return cls.with_times(base, ts, dur)

    @classmethod
    def with_times(cls, base: Sequences, ts: np.ndarray, duration: np.ndarray) -> TimedSequences:
        """Attach absolute times ``ts`` and ``duration`` (flat, aligned with ``base.codes``)."""
        ts = np.asarray(ts, np.float64)
        gap = np.full(len(ts), np.nan)
        if len(ts) > 1:
            gap[1:] = np.diff(ts)
            gap[base.offsets[:-1][base.lengths > 0]] = np.nan
        gap[gap < 0] = np.nan
        return cls(base.codes, base.offsets, base.trace_ids, base.pids, base.vocab, base.rows,
                   gap=gap, duration=np.asarray(duration, np.float64))

    def recode(self, vocab: Vocabulary) -> TimedSequences:
        base = Sequences.recode(self, vocab)
        return TimedSequences(base.codes, base.offsets, base.trace_ids, base.pids, base.vocab, base.rows,
                              gap=self.gap, duration=self.duration)

    def take(self, index) -> TimedSequences:
        from ..features import _ranges

        index = np.asarray(index, dtype=np.int64)
        base = Sequences.take(self, index)
        gather = _ranges(self.offsets[index], self.lengths[index])
        return TimedSequences(base.codes, base.offsets, base.trace_ids, base.pids, base.vocab, base.rows,
                              gap=self.gap[gather], duration=self.duration[gather])


def _features(seqs: Sequences) -> np.ndarray:
    """``(n_calls, 2)`` log features (gap, duration), NaN where unknown."""
    if not isinstance(seqs, TimedSequences) or seqs.gap is None:
        raise SyssenseError(_NO_TIMES)
    x = np.stack([seqs.gap, seqs.duration], axis=1)
    with np.errstate(invalid="ignore"):
        return np.log(np.maximum(x, 0.0) + _EPS)


@register
class TimingDetector(Detector):
    """Per-call log-time z-scores of inter-arrival gaps and durations.

    Parameters: ``k`` window length, ``z`` the |z| beyond which an event is an outlier,
    ``min_count`` calls seen fewer times use pooled statistics, ``min_sigma`` floor of σ
    (in ln-seconds). Learned: ``stats_`` (vocabulary × 2 features × [n, Σx, Σx²]).
    """

    name = "timing"
    incremental = True
    default_threshold = 3.0
    needs_times = True

    def __init__(self, k: int = 6, z: float = 3.0, min_count: int = 5, min_sigma: float = 0.25) -> None:
        self.k = k
        self.z = z
        self.min_count = min_count
        self.min_sigma = min_sigma

    @staticmethod
    def sequences_from_events(events: pa.Table, vocab: Vocabulary | None = None, by: GroupBy = "process") -> TimedSequences:
        """Sequences with the times this detector needs."""
        return TimedSequences.from_events(events, vocab=vocab, by=by)

    # ------------------------------------------------------------------ learning
    def _sums(self, seqs: Sequences) -> np.ndarray:
        x = _features(seqs)
        V = len(self.vocab_)
        out = np.zeros((V, 2, 3))
        for f in range(2):
            ok = np.isfinite(x[:, f])
            c = seqs.codes[ok]
            v = x[ok, f]
            out[:, f, 0] = np.bincount(c, minlength=V)
            out[:, f, 1] = np.bincount(c, weights=v, minlength=V)
            out[:, f, 2] = np.bincount(c, weights=v * v, minlength=V)
        return out

    def _grow(self, s: np.ndarray) -> np.ndarray:
        V = len(self.vocab_)
        if s.shape[0] < V:
            s = np.concatenate([s, np.zeros((V - s.shape[0], 2, 3))])
        return s

    def _fit(self, seqs: Sequences, reset: bool) -> None:
        new = self._sums(seqs)
        if new[:, :, 0].sum() == 0:
            raise SyssenseError(_NO_TIMES)
        self.stats_ = new if reset or not hasattr(self, "stats_") else self._grow(self.stats_) + new

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        assert isinstance(other, TimingDetector)
        s = self._grow(self.stats_)
        np.add.at(s, id_map[: len(other.stats_)], other.stats_)
        self.stats_ = s

    def _state(self) -> dict[str, np.ndarray]:
        return {"stats": self.stats_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.stats_ = arrays["stats"].astype(np.float64)

    def _extra_header(self) -> dict[str, Any]:
        return {"timed_calls": int(self.stats_[:, 0, 0].sum())}

    def distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)``: per call id and feature (gap, duration), in ln-seconds."""
        s = self._grow(self.stats_)
        pooled = s.sum(axis=0)  # (2, 3)

        def ms(n, sx, sxx):
            n_ = np.maximum(n, 1.0)
            mu = sx / n_
            var = np.maximum(sxx / n_ - mu * mu, 0.0)
            return mu, np.sqrt(var)

        mu, sd = ms(s[:, :, 0], s[:, :, 1], s[:, :, 2])
        pmu, psd = ms(pooled[:, 0], pooled[:, 1], pooled[:, 2])
        few = s[:, :, 0] < int(self.min_count)
        mu = np.where(few, pmu[None, :], mu)
        sd = np.where(few, psd[None, :], sd)
        return mu, np.maximum(sd, float(self.min_sigma))

    # ------------------------------------------------------------------ scoring
    def event_scores(self, seqs: Sequences) -> np.ndarray:
        """Largest |z| of each call's timing features (0 when it has none)."""
        seqs = self._prepare(seqs)
        x = _features(seqs)
        mu, sd = self.distribution()
        z = np.abs(x - mu[seqs.codes]) / sd[seqs.codes]
        z = np.where(np.isfinite(z), z, 0.0)
        return z.max(axis=1) if len(z) else np.zeros(0)

    def _windows(self, seqs: Sequences, ev: np.ndarray):
        k = int(self.k)
        seq_index, start, flat_start, _p = window_starts(seqs, k)
        cs = np.zeros(len(ev) + 1)
        np.cumsum(ev, out=cs[1:])
        end = np.minimum(flat_start + k, seqs.offsets[1:][seq_index])
        length = end - flat_start
        score = np.divide(cs[end] - cs[flat_start], length, out=np.zeros(len(length)), where=length > 0)
        return seq_index, start, score

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Mean event |z| in every length-k window (needs :class:`TimedSequences`)."""
        if not isinstance(seq, Sequences):
            raise SyssenseError(_NO_TIMES)
        seqs = self._prepare(seq)
        return self._windows(seqs, self.event_scores(seqs))[2]

    def window_table(self, seqs: Sequences) -> pa.Table:
        seqs = self._prepare(seqs)
        seq_index, start, score = self._windows(seqs, self.event_scores(seqs))
        return window_frame(seqs, int(self.k), seq_index, start,
                            {"score": score, "anomalous": score > float(self.z)})

    def score_traces(self, seqs: Sequences) -> pa.Table:
        """Per trace: ``score`` (largest window score), ``mean_z``, ``outlier_frac``,
        ``anomalous_windows``, ``timed_calls``."""
        return self.score_all(seqs)[0]

    def score_all(self, seqs: Sequences) -> tuple[pa.Table, np.ndarray]:
        """``(score_traces(seqs), score_windows(seqs))`` from one pass."""
        seqs = self._prepare(seqs)
        ev = self.event_scores(seqs)
        seq_index, _s, wscore = self._windows(seqs, ev)
        trace_ids, seq_trace = seqs.trace_index()
        n = len(trace_ids)
        call_trace = np.repeat(seq_trace, seqs.lengths) if len(seqs) else np.zeros(0, np.int64)
        x = _features(seqs)
        timed = np.isfinite(x).any(axis=1) if len(x) else np.zeros(0, bool)
        n_timed = np.bincount(call_trace, weights=timed.astype(float), minlength=n)
        tot = np.bincount(call_trace, weights=ev, minlength=n)
        out = np.bincount(call_trace, weights=(ev > float(self.z)).astype(float), minlength=n)
        _ids, tw = trace_groups(seqs, seq_index)
        table = pa.table({
            "trace_id": pa.array(trace_ids.astype(str), pa.string()),
            "score": per_trace_max(wscore, tw, n),
            "mean_z": np.divide(tot, n_timed, out=np.zeros(n), where=n_timed > 0),
            "outlier_frac": np.divide(out, n_timed, out=np.zeros(n), where=n_timed > 0),
            "anomalous_windows": np.bincount(tw, weights=(wscore > float(self.z)).astype(float), minlength=n).astype(np.int64),
            "timed_calls": n_timed.astype(np.int64),
        })
        return table, wscore
