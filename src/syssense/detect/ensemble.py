"""Ensemble: several detectors' trace scores combined into one, without test labels.

Scores of different detectors live on different scales (a mismatch rate, nats per call,
a Hellinger distance), so each member's score is first *calibrated against normal
behaviour* and the calibrated scores are averaged (score-level fusion; Kittler et al.,
"On combining classifiers", IEEE TPAMI 1998; Kim et al. 2016, arXiv:1611.01726, average
the normalised scores of their LSTM ensemble members likewise):

1. the training traces are split into ``folds`` parts (seeded); each member is trained
   on all parts but one and scores the held-out part, which gives every member an
   *out-of-fold* distribution of scores of normal traces it has not seen (in-sample
   scores would be too optimistic: stide's are all 0);
2. every member is then trained on all training traces;
3. a new trace's member score s becomes
   * ``combine="z"`` (default): the robust z-score (s − median) / scale of the
     out-of-fold normal scores (scale = IQR / 1.349, else the standard deviation, else 1);
   * ``combine="rank"``: the fraction of out-of-fold normal scores below s (the
     empirical CDF; saturates at 1 beyond the largest normal score);
4. the ensemble score is the mean over members.

Only normal training traces are used, so the combination needs no test labels.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ModelFormatError
from ..features import Sequences, Vocabulary
from .base import DETECTORS, Detector, register

DEFAULT_MEMBERS = ("ngram", "frequency")


def robust_z(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Robust z-score of ``scores`` against normal ``calibration`` scores: (s − median) / scale,
    scale = IQR / 1.349 (the standard deviation of a normal law), else the standard deviation,
    else 1 (Rousseeuw & Croux 1993 on robust scale)."""
    c = np.asarray(calibration, np.float64)
    med = float(np.median(c))
    iqr = float(np.subtract(*np.percentile(c, [75, 25])))
    scale = iqr / 1.349 if iqr > 0 else float(np.std(c))
    if not scale > 0:
        scale = 1.0
    return (np.asarray(scores, np.float64) - med) / scale


def _make(name: str, k: int, seed: int) -> Detector:
    from . import load_all_detectors, make_detector

    load_all_detectors()
    params: dict[str, Any] = {}
    if name in DETECTORS:
        sig = inspect.signature(DETECTORS[name].__init__).parameters
        if "k" in sig:
            params["k"] = int(k)
        if "seed" in sig:
            params["seed"] = int(seed)
    return make_detector(name, **params)


@register
class Ensemble(Detector):
    """Mean of calibrated member scores (see the module docstring).

    Parameters: ``members`` detector names (default ngram + frequency), ``k`` passed to
    members that take a window length, ``combine`` ``"z"`` or ``"rank"``, ``folds`` for
    the out-of-fold calibration, ``seed``.
    """

    name = "ensemble"
    incremental = False
    default_threshold = 3.0

    def __init__(self, members: list[str] | tuple[str, ...] = DEFAULT_MEMBERS, k: int = 6,
                 combine: str = "z", folds: int = 2, seed: int = 0) -> None:
        self.members = list(members)
        self.k = k
        self.combine = combine
        self.folds = folds
        self.seed = seed

    # ------------------------------------------------------------------ learning
    def _fit(self, seqs: Sequences, reset: bool) -> None:
        if self.combine not in ("z", "rank"):
            raise ValueError(f"combine must be 'z' or 'rank', not {self.combine!r}")
        if not self.members:
            raise ValueError("an ensemble needs at least one member")
        trace_ids, seq_trace = seqs.trace_index()
        n = len(trace_ids)
        folds = max(2, int(self.folds))
        rng = np.random.default_rng(int(self.seed))
        fold_of_trace = rng.permutation(n) % folds if n >= folds else np.zeros(n, np.int64)
        calib: list[np.ndarray] = []
        self.members_ = []
        for name in self.members:
            oof: list[np.ndarray] = []
            if n >= folds:
                for f in range(folds):
                    tr = np.flatnonzero(fold_of_trace[seq_trace] != f)
                    te = np.flatnonzero(fold_of_trace[seq_trace] == f)
                    m = _make(name, int(self.k), int(self.seed)).fit(seqs.take(tr))
                    oof.append(m.score_traces(seqs.take(te)).column("score").to_numpy())
            full = _make(name, int(self.k), int(self.seed)).fit(seqs)
            full.vocab_ = Vocabulary(self.vocab_.to_list())
            if not oof:  # a single trace: in-sample scores are all there is
                oof.append(full.score_traces(seqs).column("score").to_numpy())
            calib.append(np.sort(np.concatenate(oof).astype(np.float64)))
            self.members_.append(full)
        self.calibration_ = calib

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i, (m, c) in enumerate(zip(self.members_, self.calibration_, strict=True)):
            out[f"calib{i}"] = c
            for key, value in m._state().items():
                out[f"m{i}_{key}"] = np.asarray(value)
        return out

    def _extra_header(self) -> dict[str, Any]:
        return {"members": [{"name": m.name, "params": m.get_params(), "extra": m._extra_header()}
                            for m in self.members_]}

    def _set_extra_header(self, extra: dict[str, Any]) -> None:
        self._member_headers = list(extra.get("members", []))

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from . import load_all_detectors

        load_all_detectors()
        headers = getattr(self, "_member_headers", [])
        self.members_, self.calibration_ = [], []
        for i, h in enumerate(headers):
            if h.get("name") not in DETECTORS:
                raise ModelFormatError(f"the ensemble holds a '{h.get('name')}' member this syssense does not know")
            m = DETECTORS[h["name"]](**h.get("params", {}))
            m.vocab_ = Vocabulary(self.vocab_.to_list())
            m._set_extra_header(h.get("extra", {}))
            prefix = f"m{i}_"
            m._set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            self.members_.append(m)
            self.calibration_.append(arrays[f"calib{i}"].astype(np.float64))

    # ------------------------------------------------------------------ scoring
    def _calibrate(self, i: int, s: np.ndarray) -> np.ndarray:
        c = self.calibration_[i]
        if len(c) == 0:
            return np.asarray(s, np.float64)
        if self.combine == "rank":
            return np.searchsorted(c, s, side="left") / len(c)
        return robust_z(c, s)

    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Mean over members of their window scores, each put on its member's trace-score
        calibration (an approximation: members' window and trace scores share units)."""
        self._check_fitted()
        parts = [self._calibrate(i, m.score_windows(seq)) for i, m in enumerate(self.members_)]
        return np.mean(parts, axis=0)

    def score_traces(self, seqs: Sequences) -> pa.Table:
        """Per trace: ``score`` (mean calibrated member score), and per member its raw
        score (``<member>``) and calibrated score (``<member>_cal``)."""
        return self._score(seqs, windows=False)[0]

    def score_all(self, seqs: Sequences) -> tuple[pa.Table, np.ndarray]:
        """``(score_traces(seqs), score_windows(seqs))``, members scoring once each."""
        table, windows = self._score(seqs, windows=True)
        assert windows is not None
        return table, windows

    def _score(self, seqs: Sequences, windows: bool) -> tuple[pa.Table, np.ndarray | None]:
        self._check_fitted()
        seqs = self._prepare(seqs)
        cols: dict[str, Any] = {}
        cal, wins = [], []
        trace_ids = None
        for i, m in enumerate(self.members_):
            if windows and hasattr(m, "score_all"):
                t, w = m.score_all(seqs)
            else:
                t = m.score_traces(seqs)
                w = m.score_windows(seqs) if windows else None
            if trace_ids is None:
                trace_ids = t.column("trace_id")
            raw = t.column("score").to_numpy()
            c = self._calibrate(i, raw)
            key = m.name if m.name not in cols else f"{m.name}{i}"
            cols[key] = raw
            cols[f"{key}_cal"] = c
            cal.append(c)
            if w is not None:
                wins.append(self._calibrate(i, np.asarray(w, np.float64)))
        table = pa.table({"trace_id": trace_ids, "score": np.mean(cal, axis=0), **cols})
        return table, (np.mean(wins, axis=0) if windows else None)
