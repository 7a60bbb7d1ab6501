"""Labelled evaluation of detectors: ROC AUC, detection at fixed false-alarm rates,
per-recording detection, timings, and ROC curves (DESIGN.md, "Compare, interpret,
evaluate").

Protocol (honest by construction):

* **training** uses normal traces only: the dataset's published training split when it
  has one (``traces.split == "training"``, e.g. ADFA-LD's Training_Data_Master), else a
  random ``train_fraction`` of the normal traces (``seed``). The vocabulary comes from
  the training traces alone; calls first seen in test traces are "unknown";
* **testing** uses every other trace labelled ``normal`` or ``anomalous`` (``unknown``
  labels are left out). No threshold, k or parameter is chosen on test traces: AUC and
  the detection rates at 1 % / 5 % false alarms are read off the whole ROC curve;
* **trace level**: one score per trace (higher = more anomalous); ROC AUC
  (``sklearn.metrics.roc_auc_score``) with a percentile bootstrap 95 % confidence
  interval over test traces (``n_bootstrap`` resamples, stratified by label); detection
  rate (true-positive rate) at 1 % and 5 % false-positive rate, the largest TPR whose FPR
  does not exceed the target (``sklearn.metrics.roc_curve``);
* **per-recording** (the LID-DS convention, Grimmer et al., "A Modern and Sophisticated
  Host Based Intrusion Detection Data Set", 2019/2021): the alarm threshold is the
  largest window score the detector gives its own *training* traces (so training data
  alone fixes it). A window scoring above it raises an alarm. An anomalous recording is
  detected when any of its windows alarms (``rec_dr``); in normal recordings every run of
  consecutive alarming windows counts as **one** false alarm (``rec_false_alarms``), and
  ``rec_far`` is the fraction of normal recordings with at least one alarm. A recording
  is a trace;
* **calibrated operating point** (``calibrate=RATE``): the verdict threshold a deployed
  model would use, set from the training traces alone (:meth:`Detector.calibrate`: k-fold
  cross-validation over the training traces, the ``1 − RATE`` quantile of held-out
  training-trace scores). ``cal_far`` and ``cal_dr`` are the shares of normal and
  anomalous *test* traces scoring above it: how well a threshold chosen without test
  data transfers to new runs.

:func:`evaluate` returns an :class:`Evaluation`: ``rows`` (one dict per detector and k,
the leaderboard), ``curves`` (ROC arrays per detector and k, for plotting) and ``scores``
(per test trace, per detector and k, with its label).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .dataset import Dataset
from .errors import SyssenseError
from .features import Sequences, Vocabulary

#: detectors whose trace score does not depend on k: evaluated once (k = None)
K_FREE = {"frequency", "hmm", "lstm", "cover", "tfidf"}
#: the order of ``detectors="all"`` ("lstm" needs the optional PyTorch and minutes of training: ask for it by name)
ALL = ("stide", "tstide", "lookahead", "ngram", "hmm", "frequency", "timing", "ensemble", "cover", "tfidf")

ProgressFn = Callable[[str, int, int], None]


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    * ``rows``: one dict per (detector, k): ``detector``, ``k`` (None for k-free
      detectors), ``auc``, ``auc_lo``, ``auc_hi`` (95 % bootstrap CI), ``dr_at_far_1``,
      ``dr_at_far_5``, ``rec_threshold``, ``rec_dr``, ``rec_false_alarms``, ``rec_far``,
      with ``calibrate``: ``cal_rate``, ``cal_threshold``, ``cal_far``, ``cal_dr``,
      ``calibrate_seconds``; ``fit_seconds``, ``score_seconds``, ``n_train``, ``n_test_normal``,
      ``n_test_anomalous``; a detector that cannot run on the data has ``skipped`` (the
      reason) and no figures;
    * ``curves``: ``{(detector, k): {"fpr": array, "tpr": array, "thresholds": array}}``;
    * ``scores``: Arrow table ``detector, k, trace_id, label, score`` of every test trace;
    * ``info``: how the data was split (``split``: "published" or "random", counts).
    """

    rows: list[dict[str, Any]]
    curves: dict[tuple[str, int | None], dict[str, np.ndarray]]
    scores: pa.Table
    info: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pa.Table:
        """The leaderboard as an Arrow table (best AUC first)."""
        return pa.Table.from_pylist(self.leaderboard())

    def leaderboard(self) -> list[dict[str, Any]]:
        """Rows sorted by AUC (skipped ones last)."""
        return sorted(self.rows, key=lambda r: (r.get("auc") is None, -(r.get("auc") or 0.0)))

    def best(self) -> dict[str, Any]:
        return self.leaderboard()[0]


# --------------------------------------------------------------------------- metrics


def bootstrap_auc(y: np.ndarray, s: np.ndarray, n_bootstrap: int = 1000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of ROC AUC, resampling positives and negatives separately
    (stratified).

    Vectorised: scores are put into tie groups once; each resample is a pair of count
    vectors over the groups (``np.bincount``), and its AUC is the Mann-Whitney statistic
    Σ_g P_g (N_<g + N_g / 2) / (n_pos n_neg), ties counting one half.
    """
    y = np.asarray(y, bool)
    s = np.asarray(s, np.float64)
    if not y.any() or y.all() or n_bootstrap <= 0:
        return float("nan"), float("nan")
    _u, group = np.unique(s, return_inverse=True)
    group = group.reshape(-1)
    G = int(group.max()) + 1
    gpos, gneg = group[y], group[~y]
    npos, nneg = len(gpos), len(gneg)
    rng = np.random.default_rng(seed)
    out = np.empty(n_bootstrap)
    chunk = max(1, 4_000_000 // (npos + nneg + G))
    for lo in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - lo)
        rows = np.arange(b, dtype=np.int64)[:, None] * G
        P = np.bincount((rows + gpos[rng.integers(0, npos, (b, npos))]).ravel(), minlength=b * G).reshape(b, G)
        N = np.bincount((rows + gneg[rng.integers(0, nneg, (b, nneg))]).ravel(), minlength=b * G).reshape(b, G)
        below = np.cumsum(N, axis=1) - N
        out[lo : lo + b] = (P * (below + 0.5 * N)).sum(axis=1) / (npos * nneg)
    a = (1 - level) / 2
    return float(np.quantile(out, a)), float(np.quantile(out, 1 - a))


def dr_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float) -> float:
    """Largest detection rate (TPR) whose false-alarm rate (FPR) is at most ``far``."""
    ok = fpr <= far + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def alarm_runs(alarm: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the number of runs of consecutive ``True`` in ``alarm`` (windows in
    order, ``group`` non-decreasing within runs): consecutive alarms count once."""
    alarm = np.asarray(alarm, bool)
    if len(alarm) == 0:
        return np.zeros(n_groups, np.int64)
    start = alarm.copy()
    start[1:] &= ~(alarm[:-1] & (group[1:] == group[:-1]))
    return np.bincount(group[start], minlength=n_groups).astype(np.int64)


# --------------------------------------------------------------------------- data


SPLITS = ("auto", "published", "random")


def split_dataset(ds: Dataset, train_fraction: float = 0.5, seed: int = 0,
                  split: str = "auto") -> tuple[list[str], list[str], dict[str, str], dict[str, Any]]:
    """``(train_ids, test_ids, label_of, info)`` following the protocol above.

    ``split``: ``"auto"`` uses the published training split when the dataset has one, else a
    random ``train_fraction`` of the normal traces; ``"published"`` insists on the published
    split; ``"random"`` ignores it and draws ``train_fraction`` of *all* normal traces (the
    protocol of many later ADFA-LD papers; normal traces of any published split are pooled).
    """
    if split not in SPLITS:
        raise SyssenseError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
    t = ds.traces
    ids = np.array(t.column("trace_id").to_pylist(), dtype=object)
    label = np.array([x or "unknown" for x in t.column("label").to_pylist()], dtype=object)
    split_col = np.array([x or "" for x in t.column("split").to_pylist()], dtype=object)
    normal = label == "normal"
    anomalous = label == "anomalous"
    if not anomalous.any():
        raise SyssenseError("evaluate needs traces labelled anomalous; this dataset has none")
    published = (split_col == "training") & normal
    if split == "published" and not published.any():
        raise SyssenseError("this dataset has no published training split; use --split auto or random")
    if published.any() and split != "random":
        train = published
        how = "published"
    else:
        if not 0.0 < train_fraction < 1.0:
            raise SyssenseError(f"--train-fraction must be between 0 and 1, not {train_fraction}")
        rng = np.random.default_rng(seed)
        idx = np.flatnonzero(normal)
        n_train = int(round(train_fraction * len(idx)))
        if len(idx) < 2 or n_train < 1 or n_train >= len(idx):
            raise SyssenseError("evaluate needs at least two normal traces: one to train on and one to test")
        train = np.zeros(len(ids), bool)
        train[rng.choice(idx, n_train, replace=False)] = True
        how = "random"
    test = (normal | anomalous) & ~train
    if not (test & normal).any():
        raise SyssenseError("evaluate needs normal test traces besides the training ones")
    info = {"split": how, "train_fraction": None if how == "published" else train_fraction,
            "seed": None if how == "published" else seed, "n_train": int(train.sum()),
            "n_test_normal": int((test & normal).sum()), "n_test_anomalous": int((test & anomalous).sum())}
    return list(ids[train]), list(ids[test]), dict(zip(ids, label, strict=True)), info


def _has_times(events: pa.Table) -> bool:
    for c in ("ts", "duration"):
        if c in events.column_names and events.column(c).null_count < events.num_rows:
            return True
    return False


def _restrict(seqs: Sequences, train_ids: list[str]) -> tuple[Sequences, Sequences]:
    """Training and test sequences, in a vocabulary built from training calls only."""
    wanted = set(train_ids)
    in_train = np.array([t in wanted for t in seqs.trace_ids], bool)
    train = seqs.take(np.flatnonzero(in_train))
    test = seqs.take(np.flatnonzero(~in_train))
    names = seqs.vocab.names
    used = np.unique(train.codes)
    vocab = Vocabulary(names[int(i)] for i in used if int(i) > 1)
    return train.recode(vocab), test.recode(vocab)


def _parse_ks(ks: int | Iterable[int] | str) -> list[int]:
    if isinstance(ks, int):
        return [ks]
    if isinstance(ks, str):
        text = ks.strip()
        try:
            if ".." in text:
                a, b = text.split("..", 1)
                lo, hi = int(a), int(b)
                if lo > hi:
                    raise ValueError
                return list(range(lo, hi + 1))
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise SyssenseError(f"cannot read k '{ks}': write a number (6), a range (3..10) or a list (3,6,9)") from None
    out = [int(k) for k in ks]
    if not out or min(out) < 1:
        raise SyssenseError("k must be at least 1")
    return out


def _detector_names(detectors: str | Sequence[str]) -> list[str]:
    from .detect import load_all_detectors

    known = load_all_detectors()
    names = [detectors] if isinstance(detectors, str) else list(detectors)
    out: list[str] = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                out.extend(d for d in ALL if d in known)
            elif part not in known:
                raise SyssenseError(f"unknown detector '{part}': choose one of {', '.join(sorted(known))} or all")
            else:
                out.append(part)
    return list(dict.fromkeys(out))


def _make(name: str, k: int | None, params: dict[str, Any] | None) -> Any:
    from .detect import DETECTORS

    cls = DETECTORS[name]
    sig = inspect.signature(cls.__init__).parameters
    kw = dict(params or {})
    if k is not None and "k" in sig:
        kw["k"] = int(k)
    return cls(**kw)


# --------------------------------------------------------------------------- evaluate


def evaluate(
    dataset: Dataset | str | os.PathLike[str],
    detectors: str | Sequence[str] = "all",
    ks: int | Iterable[int] | str = 6,
    train_fraction: float = 0.5,
    seed: int = 0,
    n_bootstrap: int = 1000,
    recording: bool = True,
    params: dict[str, dict[str, Any]] | None = None,
    by: str = "process",
    progress: ProgressFn | None = None,
    split: str = "auto",
    calibrate: float | None = None,
    folds: int = 5,
) -> Evaluation:
    """Train every detector on normal training traces and score the test traces.

    ``dataset``: a :class:`~syssense.dataset.Dataset` or any path :func:`syssense.load`
    reads. ``detectors``: a name, a list of names, or ``"all"``. ``ks``: an int, a list,
    or ``"3..10"``. ``params``: extra constructor parameters per detector name.
    ``split``: ``"auto"``, ``"published"`` or ``"random"`` (see :func:`split_dataset`).
    ``calibrate``: a false-alarm rate; also report the operating point of a threshold
    calibrated on the training traces (``folds``-fold; see the module docstring).
    ``recording``: also compute the per-recording (LID-DS) figures (needs window scores
    of training and test traces). ``progress(label, done, total)`` is called after each
    (detector, k). See the module docstring for the protocol and :class:`Evaluation` for
    the result.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    from .detect.base import without_hamming

    if not isinstance(dataset, Dataset):
        from .parse.registry import load

        dataset = load(dataset)
    names = _detector_names(detectors)
    k_list = _parse_ks(ks)
    if calibrate is not None and not 0.0 < calibrate < 1.0:
        raise SyssenseError(f"the calibration false-alarm rate must be between 0 and 1 (exclusive), not {calibrate:g}")
    if calibrate is not None and folds < 2:
        raise SyssenseError(f"calibration needs at least 2 folds, not {folds}")
    train_ids, test_ids, label_of, info = split_dataset(dataset, train_fraction, seed, split)
    events = dataset.events
    wanted = pa.array(train_ids + test_ids, pa.string())
    events = events.filter(pc.is_in(pc.cast(events.column("trace_id"), pa.string()), value_set=wanted))
    timed = _has_times(events)
    plain = Sequences.from_events(events, by=by)  # type: ignore[arg-type]
    seqs_plain = _restrict(plain, train_ids)
    seqs_timed = None
    if timed and "timing" in names:
        from .detect.timing import TimedSequences

        seqs_timed = _restrict(TimedSequences.from_events(events, by=by), train_ids)  # type: ignore[arg-type]

    jobs: list[tuple[str, int | None]] = []
    for name in names:
        if name in K_FREE:
            jobs.append((name, None))
        else:
            jobs.extend((name, k) for k in k_list)

    rows: list[dict[str, Any]] = []
    curves: dict[tuple[str, int | None], dict[str, np.ndarray]] = {}
    score_parts: list[pa.Table] = []
    for done, (name, k) in enumerate(jobs, start=1):
        row: dict[str, Any] = {"detector": name, "k": k, **{x: info[x] for x in ("n_train", "n_test_normal", "n_test_anomalous")}}
        if name == "timing" and seqs_timed is None:
            row["skipped"] = "no timestamps or durations in this dataset"
            rows.append(row)
            if progress:
                progress(f"{name}", done, len(jobs))
            continue
        train, test = seqs_timed if name == "timing" else seqs_plain
        det = _make(name, k, (params or {}).get(name))
        if progress is not None and hasattr(type(det), "progress"):  # HMM training iterations
            det.progress = lambda i, n, _ll, d=done, lab=name: progress(f"{lab} iteration {i}/{n}", d - 1, len(jobs))
        t0 = time.perf_counter()
        det.fit(train)
        t1 = time.perf_counter()
        w_test = None
        if recording and hasattr(det, "score_all"):
            table, w_test = det.score_all(test)
        else:  # the stide family's score needs no Hamming distances
            table = det.score_traces(test, **without_hamming(det.score_traces))
        t2 = time.perf_counter()
        tids = table.column("trace_id").to_pylist()
        s = np.asarray(table.column("score").to_numpy(zero_copy_only=False), np.float64)
        s = np.nan_to_num(s, nan=0.0, posinf=np.finfo(np.float64).max)
        y = np.array([label_of[t] == "anomalous" for t in tids], bool)
        fpr, tpr, thr = roc_curve(y, s)
        lo, hi = bootstrap_auc(y, s, n_bootstrap, seed)
        row.update({
            "auc": float(roc_auc_score(y, s)), "auc_lo": lo, "auc_hi": hi,
            "dr_at_far_1": dr_at_far(fpr, tpr, 0.01), "dr_at_far_5": dr_at_far(fpr, tpr, 0.05),
        })
        if recording:
            row.update(_per_recording(det, train, test, label_of, w_test))
        if calibrate is not None:
            t3 = time.perf_counter()
            det.calibrate(train, false_alarm_rate=calibrate, folds=folds, seed=seed)
            above = s > det.threshold_
            row.update({"cal_rate": calibrate, "cal_threshold": det.threshold_,
                        "cal_far": float(above[~y].mean()) if (~y).any() else float("nan"),
                        "cal_dr": float(above[y].mean()) if y.any() else float("nan"),
                        "calibrate_seconds": round(time.perf_counter() - t3, 3)})
        row["fit_seconds"] = round(t1 - t0, 3)
        row["score_seconds"] = round(t2 - t1, 3)
        rows.append(row)
        curves[(name, k)] = {"fpr": fpr, "tpr": tpr, "thresholds": thr}
        score_parts.append(pa.table({
            "detector": pa.array([name] * len(tids), pa.string()),
            "k": pa.array([k] * len(tids), pa.int64()),
            "trace_id": pa.array(tids, pa.string()),
            "label": pa.array([label_of[t] for t in tids], pa.string()),
            "score": s,
        }))
        if progress:
            progress(f"{name}" + (f" k={k}" if k is not None else ""), done, len(jobs))
    empty = pa.schema([("detector", pa.string()), ("k", pa.int64()), ("trace_id", pa.string()),
                       ("label", pa.string()), ("score", pa.float64())]).empty_table()
    scores = pa.concat_tables(score_parts) if score_parts else empty
    return Evaluation(rows, curves, scores, info)


def _per_recording(det: Any, train: Sequences, test: Sequences, label_of: dict[str, str],
                   w_test: np.ndarray | None = None) -> dict[str, Any]:
    """LID-DS per-recording figures (see the module docstring)."""
    w_train = np.asarray(det.score_windows(train), np.float64)
    w_test = np.asarray(det.score_windows(test) if w_test is None else w_test, np.float64)
    from .features import window_starts

    k = int(getattr(det, "k", 1) or 1)
    seq_index, _s, _f, _p = window_starts(test, k)
    if len(w_test) != len(seq_index):  # a detector with its own window layout
        return {}
    theta = float(np.nanmax(w_train)) if len(w_train) else 0.0
    trace_ids, seq_trace = test.trace_index()
    win_trace = seq_trace[seq_index]
    alarm = w_test > theta + 1e-12
    # runs of consecutive alarms inside one sequence (process), summed per trace
    runs_seq = alarm_runs(alarm, seq_index, len(test))
    runs = np.bincount(seq_trace, weights=runs_seq, minlength=len(trace_ids)).astype(np.int64)
    any_alarm = np.bincount(win_trace, weights=alarm.astype(float), minlength=len(trace_ids)) > 0
    anomalous = np.array([label_of[t] == "anomalous" for t in trace_ids], bool)
    return {
        "rec_threshold": theta,
        "rec_dr": float(any_alarm[anomalous].mean()) if anomalous.any() else float("nan"),
        "rec_false_alarms": int(runs[~anomalous].sum()),
        "rec_far": float(any_alarm[~anomalous].mean()) if (~anomalous).any() else float("nan"),
    }
