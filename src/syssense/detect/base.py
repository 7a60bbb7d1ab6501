"""The one interface every detector follows, and the data-only model file.

Shaped like scikit-learn estimators: the constructor only stores parameters; ``fit``
learns and returns ``self``; learned state ends in ``_``; scoring is vectorised over many
sequences at once; any detector can be swapped for another.

Scores are "higher = more anomalous" for every detector.

Model files are ``.npz`` archives written with ``allow_pickle=False`` holding NumPy arrays
and one JSON header (``__header__``): format name, format version, detector name,
parameters and vocabulary. Loading never runs code from the file.
"""

from __future__ import annotations

import json
import os
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from .._atomic import atomic_path
from ..errors import ModelFormatError, SyssenseError
from ..features import Sequences, Vocabulary, window_rows

MODEL_FORMAT = "syssense-model"
MODEL_VERSION = 1

#: name -> detector class, filled by :func:`register`.
DETECTORS: dict[str, type[Detector]] = {}


def without_hamming(method: Callable[..., Any]) -> dict[str, Any]:
    """``{"hamming": False}`` for the stide family's scoring methods (their minimum Hamming
    distances are the slow part and are not needed for a score), else ``{}``."""
    import inspect

    return {"hamming": False} if "hamming" in inspect.signature(method).parameters else {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available by its ``name``."""
    DETECTORS[cls.name] = cls
    return cls


class NotFittedError(ModelFormatError):
    """A detector used before ``fit``."""


class Detector(ABC):
    """Base class: ``fit``/``partial_fit`` on normal sequences, then score others.

    Subclasses set ``name``, store parameters in ``__init__``, and implement
    :meth:`_fit`, :meth:`score_windows`, :meth:`score_traces`, :meth:`_state` and
    :meth:`_set_state`. Where training on two halves and merging equals training on
    the whole, they implement :meth:`_merge` too.
    """

    name: ClassVar[str] = "base"
    #: whether partial_fit/merge are supported
    incremental: ClassVar[bool] = False
    #: trace verdict when the model is not calibrated: ``score > default_threshold`` is anomalous
    default_threshold: ClassVar[float] = 0.0
    #: whether ``syssense train`` calibrates thresholds unless told not to (see :meth:`calibrate`)
    calibrate_by_default: ClassVar[bool] = True

    vocab_: Vocabulary

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable)."""
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------------ learning
    def fit(self, seqs: Sequences) -> Self:
        """Learn normal behaviour from ``seqs``; forget anything learned before."""
        self._forget_calibration()
        self.vocab_ = Vocabulary(seqs.vocab.to_list())
        self._fit(seqs.recode(self.vocab_), reset=True)
        return self

    def partial_fit(self, seqs: Sequences) -> Self:
        """Add more normal sequences to what was learned (retraining on new normal runs)."""
        if not self.incremental:
            raise ModelFormatError(f"the {self.name} detector cannot be updated; retrain it with fit")
        if not self.is_fitted():
            return self.fit(seqs)
        self._forget_calibration()  # thresholds were set for the model before this update
        self.vocab_.extend(seqs.vocab.to_list())
        self._fit(seqs.recode(self.vocab_), reset=False)
        return self

    def merge(self, other: Detector) -> Self:
        """Fold another model of the same kind and parameters into this one."""
        if type(other) is not type(self):
            raise ModelFormatError(f"cannot merge a {other.name} model into a {self.name} model")
        if other.get_params() != self.get_params():
            raise ModelFormatError(
                f"cannot merge {self.name} models with different parameters: {self.get_params()} vs {other.get_params()}"
            )
        self._check_fitted()
        other._check_fitted()
        self._forget_calibration()  # thresholds were set for this model alone
        self.vocab_.extend(other.vocab_.to_list())
        self._merge(other, other.vocab_.mapping_to(self.vocab_))
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "vocab_")

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(f"the {self.name} detector has not been trained yet; call fit first")

    @abstractmethod
    def _fit(self, seqs: Sequences, reset: bool) -> None:
        """Learn from ``seqs`` (already in ``self.vocab_`` ids)."""

    def _merge(self, other: Detector, id_map: np.ndarray) -> None:
        """Fold ``other`` in; ``id_map`` maps other's ids to ours."""
        raise ModelFormatError(f"{self.name} models cannot be merged")

    # ------------------------------------------------------------------ thresholds
    def calibrate(self, seqs: Sequences, false_alarm_rate: float = 0.01, folds: int = 5, seed: int = 0,
                  progress: Callable[[int, int], None] | None = None) -> Self:
        """Set verdict thresholds from normal traces the model has not seen (k-fold cross-validation).

        ``seqs`` are the normal sequences the model was trained on. Their traces are dealt at
        random (``seed``) into ``folds`` groups (a trace's processes stay together); for each
        group a fresh model with these parameters is fitted on the other groups and scores
        the group. Then ``threshold_`` = the ``1 − false_alarm_rate`` quantile of those
        held-out trace scores, so about that share of unseen normal traces score above it, and
        ``window_threshold_`` the same quantile of the held-out window scores. Window scores
        that are only ever 0 or 1 (stide's and cover's miss tests) keep the default window
        threshold: any miss counts, and the locality frame count decides alerts. The model
        itself is not changed; calling ``fit``, ``partial_fit`` or ``merge`` forgets the
        calibration. Cost: ``folds`` extra trainings and one scoring pass over ``seqs``.
        """
        self._check_fitted()
        if not 0.0 < false_alarm_rate < 1.0:
            raise SyssenseError(f"the false-alarm rate must be between 0 and 1 (exclusive), not {false_alarm_rate:g}")
        if folds < 2:
            raise SyssenseError(f"calibration needs at least 2 folds, not {folds}")
        trace_ids, trace_of_seq = seqs.trace_index()
        if len(trace_ids) < 2:
            raise SyssenseError("calibration needs at least two normal traces: one to train on, one to hold out")
        folds = min(folds, len(trace_ids))
        fold_of_trace = np.random.default_rng(seed).permutation(len(trace_ids)) % folds
        fold_of_seq = fold_of_trace[trace_of_seq]
        trace_scores: list[np.ndarray] = []
        window_scores: list[np.ndarray] = []
        for fold in range(folds):
            held = np.flatnonzero(fold_of_seq == fold)
            fold_model = type(self)(**self.get_params()).fit(seqs.take(np.flatnonzero(fold_of_seq != fold)))
            held_out = seqs.take(held)
            if hasattr(fold_model, "score_all"):  # trace and window scores from one pass
                table, windows = fold_model.score_all(held_out)
            else:
                table = fold_model.score_traces(held_out, **without_hamming(fold_model.score_traces))
                windows = fold_model.score_windows(held_out)
            trace_scores.append(np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=np.float64))
            window_scores.append(np.asarray(windows, dtype=np.float64))
            if progress is not None:
                progress(fold + 1, folds)
        traces = np.concatenate(trace_scores)
        traces = traces[np.isfinite(traces)]
        windows = np.concatenate(window_scores)
        windows = windows[np.isfinite(windows)]
        if len(traces) == 0:
            raise SyssenseError("calibration found no scorable held-out trace")
        binary_windows = bool(len(windows) == 0 or np.isin(windows, (0.0, 1.0)).all())
        self.threshold_ = float(np.quantile(traces, 1.0 - false_alarm_rate, method="higher"))
        self.window_threshold_ = None if binary_windows else float(np.quantile(windows, 1.0 - false_alarm_rate, method="higher"))
        self.verdict_calibration_ = {
            "false_alarm_rate": float(false_alarm_rate), "folds": int(folds), "seed": int(seed),
            "held_out_traces": int(len(traces)), "held_out_windows": int(len(windows)),
            "threshold": self.threshold_, "window_threshold": self.window_threshold_,
        }
        return self

    def verdict_threshold(self) -> float:
        """Trace verdict threshold: the calibrated one if any, else the detector's default."""
        value = getattr(self, "threshold_", None)
        return float(self.default_threshold if value is None else value)

    def window_verdict_threshold(self) -> float:
        """Window threshold: the calibrated one if any, else the detector's default."""
        value = getattr(self, "window_threshold_", None)
        return float(self.default_threshold if value is None else value)

    def _forget_calibration(self) -> None:
        for attr in ("threshold_", "window_threshold_", "verdict_calibration_"):
            self.__dict__.pop(attr, None)

    def _set_calibration(self, calibration: dict[str, Any] | None) -> None:
        if not calibration:
            return
        try:
            threshold = float(calibration["threshold"])
            window = calibration.get("window_threshold")
            window = None if window is None else float(window)
        except (KeyError, TypeError, ValueError):
            raise ModelFormatError("the model's calibration record is damaged: retrain the model") from None
        self.threshold_, self.window_threshold_, self.verdict_calibration_ = threshold, window, dict(calibration)

    # ------------------------------------------------------------------ scoring
    def _as_sequences(self, seq: np.ndarray | Sequences) -> Sequences:
        """``seq`` as :class:`Sequences`: an array is one sequence of ids in ``vocab_``."""
        self._check_fitted()
        return seq if isinstance(seq, Sequences) else Sequences.single(seq, self.vocab_)

    def _prepare(self, seqs: Sequences) -> Sequences:
        self._check_fitted()
        return seqs.recode(self.vocab_)

    @abstractmethod
    def score_windows(self, seq: np.ndarray | Sequences) -> np.ndarray:
        """Per-window anomaly scores of one sequence (ids in ``vocab_``) or of all
        windows of a :class:`Sequences` (in :func:`~syssense.features.sliding_windows` order)."""

    @abstractmethod
    def score_traces(self, seqs: Sequences) -> pa.Table:
        """One row per trace: ``trace_id``, ``score`` (higher = more anomalous) and
        detector-specific columns."""

    def window_table(self, seqs: Sequences) -> pa.Table:
        """One row per window (in :func:`~syssense.features.sliding_windows` order):
        ``window``, ``seq_index``, ``trace_id``, ``pid``, ``start`` (position in its
        sequence), ``length`` (calls covered) and ``score``. Detectors may add columns."""
        from ..features import window_starts

        k = int(getattr(self, "k", 1) or 1)
        scores = np.asarray(self.score_windows(seqs), dtype=np.float64)
        seq_index, start, _flat, _padded = window_starts(seqs, k)
        if len(scores) != len(seq_index):  # detector with its own window layout
            return pa.table({"window": np.arange(len(scores)), "score": scores})
        return window_frame(seqs, k, seq_index, start, {"score": scores})

    def explain(self, seqs: Sequences, top: int = 10) -> pa.Table:
        """Where ``seqs`` depart most from normal: the ``top`` highest-scoring *distinct*
        windows (score above 0), with ``calls`` (names as logged), ``score`` (the highest any copy of the
        window got), ``count`` (how many times it occurs) and where it first occurs
        (``trace_id``, ``pid``, ``seq_index``, ``position``). Ties are broken by count,
        then by first appearance. Detectors with a more specific explanation (ngram's
        least probable transitions, cover's breaks, ...) override this."""
        table = self.window_table(seqs, **without_hamming(self.window_table))
        if "seq_index" not in table.column_names:
            raise SyssenseError(f"the {self.name} detector's window scores do not map to positions in the traces")
        score = np.asarray(table.column("score").to_numpy(zero_copy_only=False), np.float64)
        seq_index = table.column("seq_index").to_numpy()
        start = table.column("start").to_numpy()
        length = table.column("length").to_numpy()
        k = int(getattr(self, "k", 1) or 1)
        flat = seqs.offsets[:-1][seq_index] + start
        windows = window_rows(seqs, k, flat, seqs.lengths[seq_index] < k, seq_index)
        if len(windows) == 0:
            distinct_of = np.zeros(0, np.int64)
        else:
            row_key = np.ascontiguousarray(windows).view(np.dtype((np.void, windows.dtype.itemsize * k))).ravel()
            _u, distinct_of = np.unique(row_key, return_inverse=True)
            distinct_of = distinct_of.reshape(-1)
        n = int(distinct_of.max()) + 1 if len(distinct_of) else 0
        best = np.full(n, -np.inf)
        np.maximum.at(best, distinct_of, np.nan_to_num(score, nan=-np.inf))
        count = np.bincount(distinct_of, minlength=n)
        first = np.full(n, len(score), np.int64)
        np.minimum.at(first, distinct_of, np.arange(len(score)))
        order = np.lexsort((first, -count, -best))
        order = order[best[order] > 0][: int(top)]  # a window scoring 0 is as normal as it gets
        pick = first[order]
        names = np.array(seqs.vocab.names, dtype=object)
        return pa.table({
            "calls": pa.array([" ".join(names[windows[w, : max(int(length[w]), 1)]]) for w in pick], pa.string()),
            "score": best[order],
            "count": count[order].astype(np.int64),
            "trace_id": pa.array(seqs.trace_ids[seq_index[pick]].astype(str), pa.string()),
            "pid": seqs.pids[seq_index[pick]].astype(np.int64),
            "seq_index": seq_index[pick].astype(np.int64),
            "position": start[pick].astype(np.int64),
        })

    def score_trace(self, seqs: Sequences) -> float:
        """The anomaly score of the (single) trace in ``seqs``."""
        table = self.score_traces(seqs)
        if table.num_rows != 1:
            raise ValueError(f"score_trace expects one trace, got {table.num_rows}")
        return float(table.column("score")[0].as_py())

    # ------------------------------------------------------------------ persistence
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (no object arrays)."""

    @abstractmethod
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore learned arrays saved by :meth:`_state`."""

    def _extra_header(self) -> dict[str, Any]:
        """Small JSON-able learned values to save beside the arrays."""
        return {}

    def _set_extra_header(self, extra: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore values saved by :meth:`_extra_header` (default: nothing)."""

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to ``path`` (a data-only ``.npz``), atomically."""
        self._check_fitted()
        header = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "detector": self.name,
            "params": self.get_params(),
            "vocab": self.vocab_.to_list(),
            "extra": self._extra_header(),
            "train": getattr(self, "train_info_", {}),
            "calibration": getattr(self, "verdict_calibration_", None),
        }
        arrays = {f"s_{k}": np.asarray(v) for k, v in self._state().items()}
        for key, value in arrays.items():
            if value.dtype == object:
                raise TypeError(f"state array {key} of {self.name} is an object array")
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Detector:
        """Load a model written by :meth:`save`; any detector class can load any model."""
        return load_model(path, expect=None if cls is Detector else cls)


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a model file (one clear sentence if it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__header__" not in z.files:
                raise ModelFormatError(f"{path} is not a syssense model file (no header)")
            header = json.loads(bytes(z["__header__"]).decode())
    except (zipfile.BadZipFile, ValueError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path} is not a syssense model file ({type(exc).__name__})") from None
    if header.get("format") != MODEL_FORMAT:
        raise ModelFormatError(f"{path} is not a syssense model file")
    if header.get("version") != MODEL_VERSION:
        raise ModelFormatError(
            f"{path} is a syssense model of format version {header.get('version')}; "
            f"this syssense reads version {MODEL_VERSION}: retrain the model"
        )
    return header


def load_model(path: str | os.PathLike[str], expect: type[Detector] | None = None) -> Detector:
    """Load any saved detector, checking kind and version."""
    from . import load_all_detectors

    load_all_detectors()
    header = read_header(path)
    name = header.get("detector")
    if name not in DETECTORS:
        raise ModelFormatError(f"{path} holds a '{name}' model, a detector this syssense does not know")
    klass = DETECTORS[name]
    if expect is not None and not issubclass(klass, expect):
        raise ModelFormatError(f"{path} holds a {name} model, not a {expect.name} model")
    model = klass(**header.get("params", {}))
    model.vocab_ = Vocabulary(header.get("vocab", []))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k[2:]: z[k] for k in z.files if k.startswith("s_")}
    model._set_extra_header(header.get("extra", {}))
    model.train_info_ = dict(header.get("train") or {})
    model._set_state(arrays)
    if not isinstance(header.get("calibration") or {}, dict):
        raise ModelFormatError(f"{path}: the model's calibration record is damaged: retrain the model")
    model._set_calibration(header.get("calibration"))
    return model


def per_trace_sum(values: np.ndarray, trace_of_window: np.ndarray, n_traces: int) -> np.ndarray:
    """Sum ``values`` per trace (``np.bincount`` helper)."""
    return np.bincount(trace_of_window, weights=values.astype(np.float64), minlength=n_traces)


def per_trace_max(values: np.ndarray, trace_of_window: np.ndarray, n_traces: int, fill: float = 0.0) -> np.ndarray:
    """Maximum of ``values`` per trace, ``fill`` for traces without windows."""
    out = np.full(n_traces, fill, dtype=np.float64)
    if len(values) == 0:
        return out
    values = np.asarray(values, dtype=np.float64)
    trace_of_window = np.asarray(trace_of_window)
    if len(trace_of_window) > 1 and not (np.diff(trace_of_window) >= 0).all():
        order = np.argsort(trace_of_window, kind="stable")
        trace_of_window, values = trace_of_window[order], values[order]
    starts = np.flatnonzero(np.concatenate([[True], trace_of_window[1:] != trace_of_window[:-1]]))
    out[trace_of_window[starts]] = np.maximum.reduceat(values, starts)
    return out


def window_frame(seqs: Sequences, k: int, seq_index: np.ndarray, start: np.ndarray, columns: dict[str, np.ndarray]) -> pa.Table:
    """Per-window table: position columns (see :meth:`Detector.window_table`) + ``columns``."""
    lengths = seqs.lengths[seq_index] if len(seq_index) else np.zeros(0, np.int64)
    base = {
        "window": np.arange(len(seq_index), dtype=np.int64),
        "seq_index": seq_index.astype(np.int64),
        "trace_id": pa.array(seqs.trace_ids[seq_index].astype(str) if len(seq_index) else [], pa.string()),
        "pid": seqs.pids[seq_index].astype(np.int64),
        "start": start.astype(np.int64),
        "length": np.minimum(lengths - start, k).astype(np.int64),
    }
    base.update(columns)
    return pa.table(base)


def trace_groups(seqs: Sequences, seq_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(trace_ids, trace_of_window)`` for windows belonging to sequences ``seq_index``."""
    uniq, inverse = seqs.trace_index()
    return uniq, inverse[seq_index] if len(seq_index) else np.zeros(0, np.int64)
