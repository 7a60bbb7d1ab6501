"""Hidden Markov model of system calls (Warrender, Forrest & Pearlmutter, "Detecting
Intrusions Using System Calls: Alternative Data Models", IEEE S&P 1999).

A categorical HMM (hidden states emit system calls) is trained by Baum-Welch on normal
sequences with ``hmmlearn`` (an optional dependency: ``pip install 'syssense[hmm]'``),
using the scaled forward-backward implementation (~0.2 s per iteration on ADFA-LD's
308,077 training calls, one core). Scoring runs its own scaled forward pass, vectorised
over all sequences at once (one NumPy step per position, not per call):

* per-call score = −ln P(call_t | call_1 .. call_{t−1}) under the model (nats);
* window score (length ``k``, step 1) = mean per-call score in the window;
* trace score = mean per-call score over the trace (the per-call negative log-likelihood).

Calls never seen in training keep a small emission probability (``floor``) so that a new
call is very unlikely rather than impossible.

Updating and merging. Besides the parameters, a model keeps the expected counts of its
last Baum-Welch E-step (Rabiner 1989, eqs. 40a-c): sequence starts per state, transitions
per state pair and calls emitted per state and call name. The parameters are these counts
normalised, so the counts are the model's sufficient statistics.

* ``partial_fit(new)`` continues Baum-Welch on the new traces only, starting from the
  current parameters (hmmlearn ``init_params=""``), with the current counts as a Dirichlet
  prior (pseudo-counts). Each M-step therefore sets the parameters to
  normalise(old counts + expected counts of the new traces). The result equals one more
  Baum-Welch run on old + new data in which the old traces' E-step is frozen at the last
  one they had (incremental EM, Neal & Hinton 1998). It is not exactly "additive": the
  old traces are not re-estimated under the new parameters, and EM finds a local optimum,
  so training on everything at once can end elsewhere. The log-likelihood of the new
  traces does not go down (tested).
* ``merge(other)`` needs the same number of hidden states (one clear error otherwise).
  Hidden states are arbitrary labels, so ``other``'s states are first matched to ours by
  the assignment that minimises the total Hellinger distance between their emission
  distributions (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``) over the
  union vocabulary. The counts of matched states are then added and normalised: every
  row of the start, transition and emission matrices becomes the average of the two
  models' rows weighted by how many calls (starts, transitions) that state accounted for
  in each model's training. Merging a model with itself gives the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import numpy as np

from ..errors import SyssenseError
from ..features import Sequences
from ._likelihood import CallLikelihoodDetector
from .base import Detector, register

_COUNTING: type | None = None


def _require_hmmlearn():
    """hmmlearn's ``CategoricalHMM`` subclassed to keep the sufficient statistics of its
    last E-step (``counts_``) and to keep rows whose counts are all zero valid."""
    global _COUNTING
    if _COUNTING is not None:
        return _COUNTING
    try:
        from hmmlearn.hmm import CategoricalHMM
    except ImportError:  # pragma: no cover - depends on the environment
        raise SyssenseError(
            "the hmm detector needs the optional package hmmlearn: pip install 'syssense[hmm]'"
        ) from None

    class CountingHMM(CategoricalHMM):
        counts_: dict[str, np.ndarray]

        def _do_mstep(self, stats):  # noqa: ANN001 - hmmlearn's signature
            # the numerators of the M-step: prior pseudo-counts (alpha - 1) + expected counts
            self.counts_ = {
                "start": np.asarray(self.startprob_prior, np.float64) - 1 + stats["start"],
                "trans": np.asarray(self.transmat_prior, np.float64) - 1 + stats["trans"],
                "obs": np.asarray(self.emissionprob_prior, np.float64) - 1 + stats["obs"],
            }
            super()._do_mstep(stats)
            self.startprob_ = _normalise(self.counts_["start"], np.asarray(self.startprob_))
            self.transmat_ = _normalise(self.counts_["trans"], np.asarray(self.transmat_))
            self.emissionprob_ = _normalise(self.counts_["obs"], np.asarray(self.emissionprob_))

    _COUNTING = CountingHMM
    return CountingHMM


def _normalise(counts: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` scaled to sum to 1 (the last axis); a row without counts keeps
    ``fallback``'s row, or becomes uniform when that is not a distribution either."""
    counts = np.maximum(np.asarray(counts, np.float64), 0.0)
    total = counts.sum(axis=-1, keepdims=True)
    out = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    empty = (total <= 0).reshape(-1)
    if empty.any():
        fb = np.asarray(fallback, np.float64).reshape(out.shape)
        fb_ok = np.isclose(fb.sum(axis=-1, keepdims=True), 1.0) & (fb >= 0).all(axis=-1, keepdims=True)
        uniform = np.full_like(fb, 1.0 / out.shape[-1])
        fixed = np.where(fb_ok, fb, uniform)
        if out.ndim == 1:
            out = fixed
        else:
            out[empty] = fixed[empty]
    return out


def _pad_columns(a: np.ndarray, width: int) -> np.ndarray:
    """``a`` with zero columns appended up to ``width`` columns."""
    if a.shape[1] >= width:
        return a
    return np.concatenate([a, np.zeros((a.shape[0], width - a.shape[1]))], axis=1)


@register
class HMMDetector(CallLikelihoodDetector):
    """Categorical HMM over system calls (Warrender et al. 1999), trained with hmmlearn.

    Parameters: ``n_states`` hidden states (default 10), ``n_iter`` Baum-Welch iterations
    (default 30), ``tol`` convergence threshold on the log-likelihood gain, ``seed``,
    ``k`` the window length for :meth:`score_windows` (the model itself does not use it),
    ``floor`` the emission probability kept for every call. Learned: ``startprob_``,
    ``transmat_``, ``emissionprob_`` (states × vocabulary) and the expected counts behind
    them (``start_counts_``, ``trans_counts_``, ``obs_counts_``) that ``partial_fit`` and
    ``merge`` use (see the module docstring for what each gives).

    Set the attribute ``progress`` to a callable ``(iteration, n_iter, loglik)`` to follow
    training (the command line shows a progress bar with it).
    """

    name = "hmm"
    incremental = True
    default_threshold = 4.0

    progress: Callable[[int, int, float], None] | None = None

    def __init__(self, n_states: int = 10, n_iter: int = 30, tol: float = 1e-3, seed: int = 0,
                 k: int = 6, floor: float = 1e-6) -> None:
        self.n_states = n_states
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.k = k
        self.floor = floor

    # ------------------------------------------------------------------ learning
    def _fit(self, seqs: Sequences, reset: bool) -> None:
        import warnings

        CountingHMM = _require_hmmlearn()
        if seqs.n_calls == 0:
            raise SyssenseError("the hmm detector needs at least one system call to train on")
        nonempty = seqs.lengths > 0
        lengths = seqs.lengths[nonempty]
        X = seqs.codes.reshape(-1, 1).astype(np.int64)
        V = len(self.vocab_)
        N = int(self.n_states)
        update = not reset and hasattr(self, "emissionprob_")
        if update:
            self._check_counts("update")
            # the current counts are a Dirichlet prior: alpha - 1 = counts
            model = CountingHMM(n_components=N, n_iter=1, random_state=int(self.seed), n_features=V,
                                init_params="", params="ste", implementation="scaling",
                                startprob_prior=1.0 + self.start_counts_,
                                transmat_prior=1.0 + self.trans_counts_,
                                emissionprob_prior=1.0 + _pad_columns(self.obs_counts_, V))
            model.startprob_ = self.startprob_.copy()
            model.transmat_ = self.transmat_.copy()
            model.emissionprob_ = self._emission(V)  # new calls start at the floor, not at 0
        else:
            model = CountingHMM(n_components=N, n_iter=1, random_state=int(self.seed),
                                n_features=V, init_params="ste", params="ste", implementation="scaling")
        prev = -np.inf
        n_iter = int(self.n_iter)
        ll = float("nan")
        it = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for it in range(n_iter):
                model.fit(X, lengths)
                model.init_params = ""
                hist = model.monitor_.history
                ll = float(hist[-1]) if len(hist) else float("nan")
                if self.progress is not None:
                    self.progress(it + 1, n_iter, ll)
                if np.isfinite(prev) and ll - prev < float(self.tol):
                    break
                prev = ll
        self.startprob_ = np.asarray(model.startprob_, np.float64)
        self.transmat_ = np.asarray(model.transmat_, np.float64)
        self.emissionprob_ = np.asarray(model.emissionprob_, np.float64)
        counts = getattr(model, "counts_", None)
        if counts is not None:
            self.start_counts_ = np.maximum(counts["start"], 0.0)
            self.trans_counts_ = np.maximum(counts["trans"], 0.0)
            self.obs_counts_ = np.maximum(counts["obs"], 0.0)
        else:  # hmmlearn did not hand out its statistics: no update/merge rather than a wrong one
            self.start_counts_ = self.trans_counts_ = self.obs_counts_ = None
        self.train_loglik_ = ll
        self.iterations_ = it + 1
        self.n_train_calls_ = int(seqs.n_calls) + (int(getattr(self, "n_train_calls_", 0) or 0) if update else 0)

    def _check_counts(self, what: str) -> None:
        if getattr(self, "obs_counts_", None) is None:
            raise SyssenseError(
                f"this hmm model holds no training counts (saved by an older syssense), so it cannot {what}; retrain it"
            )

    # ------------------------------------------------------------------ merging
    def merge(self, other: Detector) -> Self:
        """Fold another HMM into this one: states matched by emission distributions, then
        expected counts added (see the module docstring). Needs the same ``n_states``,
        ``k`` and ``floor``; training-only parameters (``n_iter``, ``tol``, ``seed``) may
        differ and this model's are kept."""
        if not isinstance(other, HMMDetector):
            raise SyssenseError(f"cannot merge a {other.name} model into an hmm model")
        if int(other.n_states) != int(self.n_states):
            raise SyssenseError(
                f"cannot merge hmm models with different numbers of hidden states ({self.n_states} and {other.n_states})"
            )
        for p in ("k", "floor"):
            if getattr(other, p) != getattr(self, p):
                raise SyssenseError(
                    f"cannot merge hmm models with different {p} ({getattr(self, p)} and {getattr(other, p)})"
                )
        self._check_fitted()
        other._check_fitted()
        self._check_counts("be merged")
        other._check_counts("be merged")
        self.vocab_.extend(other.vocab_.to_list())
        self._merge(other, other.vocab_.mapping_to(self.vocab_))
        return self

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        from scipy.optimize import linear_sum_assignment

        assert isinstance(other, HMMDetector)
        V = len(self.vocab_)
        # other's emission columns moved to our (union) vocabulary ids
        o_obs = np.zeros((other.obs_counts_.shape[0], V))
        np.add.at(o_obs, (slice(None), id_map[: other.obs_counts_.shape[1]]), other.obs_counts_)
        o_emis = np.zeros_like(o_obs)
        np.add.at(o_emis, (slice(None), id_map[: other.emissionprob_.shape[1]]), other.emissionprob_)
        s_emis = _pad_columns(self.emissionprob_, V)
        # Hellinger distance between every pair of emission distributions
        cost = np.sqrt(np.maximum(0.0, 1.0 - np.sqrt(s_emis) @ np.sqrt(o_emis).T))
        cost += 1e-12 * (1 - np.eye(len(cost)))  # ties keep the states' own order
        _rows, perm = linear_sum_assignment(cost)
        self.merge_cost_ = float(cost[_rows, perm].sum())
        start = self.start_counts_ + other.start_counts_[perm]
        trans = self.trans_counts_ + other.trans_counts_[perm][:, perm]
        obs = _pad_columns(self.obs_counts_, V) + o_obs[perm]
        self.startprob_ = _normalise(start, self.startprob_)
        self.transmat_ = _normalise(trans, self.transmat_)
        self.emissionprob_ = _normalise(obs, s_emis)
        self.start_counts_, self.trans_counts_, self.obs_counts_ = start, trans, obs
        self.n_train_calls_ = int(getattr(self, "n_train_calls_", 0) or 0) + int(getattr(other, "n_train_calls_", 0) or 0)

    def _state(self) -> dict[str, np.ndarray]:
        state = {"startprob": self.startprob_, "transmat": self.transmat_, "emissionprob": self.emissionprob_}
        if getattr(self, "obs_counts_", None) is not None:
            state.update(start_counts=self.start_counts_, trans_counts=self.trans_counts_, obs_counts=self.obs_counts_)
        return state

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.startprob_ = arrays["startprob"]
        self.transmat_ = arrays["transmat"]
        self.emissionprob_ = arrays["emissionprob"]
        # models saved before the counts were kept load, but cannot be updated or merged
        self.start_counts_ = arrays.get("start_counts")
        self.trans_counts_ = arrays.get("trans_counts")
        self.obs_counts_ = arrays.get("obs_counts")

    def _extra_header(self) -> dict[str, Any]:
        return {"train_loglik": getattr(self, "train_loglik_", None), "iterations": getattr(self, "iterations_", None),
                "n_train_calls": getattr(self, "n_train_calls_", None)}

    def _set_extra_header(self, extra: dict[str, Any]) -> None:
        self.train_loglik_ = extra.get("train_loglik")
        self.iterations_ = extra.get("iterations")
        self.n_train_calls_ = extra.get("n_train_calls")

    # ------------------------------------------------------------------ scoring
    def _emission(self, V: int) -> np.ndarray:
        e = self.emissionprob_
        if e.shape[1] < V:  # vocabulary grew: new calls only get the floor
            e = np.concatenate([e, np.zeros((e.shape[0], V - e.shape[1]))], axis=1)
        e = e + float(self.floor)
        return e / e.sum(axis=1, keepdims=True)

    def call_logprob(self, seqs: Sequences) -> np.ndarray:
        """ln P(call_t | earlier calls of its sequence) for every call (scaled forward pass,
        all sequences advanced together one position at a time)."""
        seqs = self._prepare(seqs)
        out = np.zeros(seqs.n_calls)
        if seqs.n_calls == 0:
            return out
        B = self._emission(len(self.vocab_)).T  # (V, N)
        A = self.transmat_
        lengths = seqs.lengths
        order = np.argsort(-lengths, kind="stable")
        sl = lengths[order]
        starts = seqs.offsets[:-1][order]
        n_active = np.searchsorted(-sl, -np.arange(1, int(sl[0]) + 1), side="right")  # active at t
        alpha = np.zeros((len(order), A.shape[0]))
        for t in range(int(sl[0])):
            nb = int(n_active[t])
            pos = starts[:nb] + t
            emit = B[seqs.codes[pos]]
            a = (self.startprob_[None, :] if t == 0 else alpha[:nb] @ A) * emit
            c = a.sum(axis=1)
            alpha[:nb] = a / c[:, None]
            out[pos] = np.log(c)
        return out

    def _prepared_call_nll(self, seqs: Sequences) -> np.ndarray:
        return -self.call_logprob(seqs)
