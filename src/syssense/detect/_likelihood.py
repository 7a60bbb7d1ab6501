"""Shared scoring of detectors that give every call a negative log-likelihood.

The n-gram model, the HMM and the LSTM language model all score a call by how surprising
it is given what came before; a window's score is the mean per-call NLL of its calls and a
trace's score the mean per-call NLL of all its calls (Kim et al. 2016 for the LSTM; the
probabilistic "sense of self" for n-grams and HMMs). Subclasses implement
:meth:`_prepared_call_nll`; everything else is here once.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import pyarrow as pa

from ..features import UNKNOWN, Sequences, window_starts
from .base import Detector, per_trace_max, trace_groups, window_frame


class CallLikelihoodDetector(Detector):
    """A detector whose scores are means of per-call negative log-likelihoods."""

    #: trace score: "mean" per-call NLL, or "max" window mean (subclasses may expose it)
    trace_score: str = "mean"

    @abstractmethod
    def _prepared_call_nll(self, seqs: Sequences) -> np.ndarray:
        """Per-call NLL (nats), flat in ``seqs.codes`` order; ``seqs`` already in ``vocab_`` ids."""

    def _window_sums(self, seqs: Sequences, nll: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(seq_index, start, mean NLL)`` of every length-k window, via one cumulative sum."""
        k = int(self.k)  # type: ignore[attr-defined]
        seq_index, start, flat_start, _padded = window_starts(seqs, k)
        cs = np.zeros(len(nll) + 1)
        np.cumsum(nll, out=cs[1:])
        end = np.minimum(flat_start + k, seqs.offsets[1:][seq_index])
        length = end - flat_start
        score = np.divide(cs[end] - cs[flat_start], length, out=np.zeros(len(length)), where=length > 0)
        return seq_index, start, score

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Mean per-call negative log-likelihood (nats) in every length-k window."""
        seqs = self._prepare(self._as_sequences(seq))
        return self._window_sums(seqs, self._prepared_call_nll(seqs))[2]

    def window_table(self, seqs: Sequences) -> pa.Table:
        seqs = self._prepare(seqs)
        seq_index, start, score = self._window_sums(seqs, self._prepared_call_nll(seqs))
        return window_frame(seqs, int(self.k), seq_index, start, {"score": score})  # type: ignore[attr-defined]

    def score_traces(self, seqs: Sequences) -> pa.Table:
        """Per trace: ``score``, ``mean_nll`` (per call), ``max_window_nll``, ``n_calls``,
        ``unknown_calls`` (calls absent from the training vocabulary)."""
        return self.score_all(seqs)[0]

    def score_all(self, seqs: Sequences) -> tuple[pa.Table, np.ndarray]:
        """``(score_traces(seqs), score_windows(seqs))`` from one pass over the calls."""
        seqs = self._prepare(seqs)
        nll = self._prepared_call_nll(seqs)
        seq_index, _start, wscore = self._window_sums(seqs, nll)
        trace_ids, seq_trace = seqs.trace_index()
        n = len(trace_ids)
        call_trace = np.repeat(seq_trace, seqs.lengths) if len(seqs) else np.zeros(0, np.int64)
        n_calls = np.bincount(call_trace, minlength=n)
        mean = np.divide(np.bincount(call_trace, weights=nll, minlength=n), n_calls,
                         out=np.zeros(n), where=n_calls > 0)
        _ids, tw = trace_groups(seqs, seq_index)
        wmax = per_trace_max(wscore, tw, n)
        unknown = np.bincount(call_trace, weights=(seqs.codes == UNKNOWN).astype(np.float64), minlength=n)
        table = pa.table({
            "trace_id": pa.array(trace_ids.astype(str), pa.string()),
            "score": wmax if self.trace_score == "max" else mean,
            "mean_nll": mean,
            "max_window_nll": wmax,
            "n_calls": n_calls.astype(np.int64),
            "unknown_calls": unknown.astype(np.int64),
        })
        return table, wscore
