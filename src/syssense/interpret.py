"""The priv/recon quadrants (DESIGN.md, "Compare, interpret, evaluate").

The windows (length-k call sequences, per process) seen in runs of the *priv* category
and never in the *normal* baseline form the **priv signature**; likewise the **recon
signature**. A trace's priv score and recon score are the fractions of its windows that
fall in each signature, and the pair places it in one of four quadrants:

=================  =================  =============================================
priv score         recon score        quadrant
=================  =================  =============================================
high               low                "stronger anomalous behaviour"
low                low                "benign or low-signal behaviour"
high               high               "controlled or expected privileged behaviour"
low                high               "reconnaissance"
=================  =================  =============================================

The window sets follow stide (Forrest et al., 1996, "A Sense of Self for Unix
Processes"; Hofmeyr, Forrest and Somayaji, 1998): a window "seen" in a set of traces
is an exact k-window present in any of their per-process sequences.

**No trace is scored against a signature built from itself.** With ``holdout="run"``
(the default when the dataset has two or more run numbers) the traces are split into
folds by their ``run`` number: a trace of run *r* is scored against a normal set and
signatures built only from the traces of the *other* runs (leave-one-run-out). That
also holds the baseline out: a normal trace of run *r* is compared with normal windows
of the other runs, so it can score above zero when normal behaviour itself varies.
With ``holdout="trace"`` (the default when there is only one run) each trace is held out
on its own (leave-one-trace-out). ``holdout="none"`` scores in sample and is reported as
such (priv traces then always score high: only useful to inspect the signatures).

Everything is vectorised: every distinct window gets one integer id over the whole
dataset, and the held-out set operations are counts over (fold, window) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .dataset import Dataset
from .errors import SyssenseError
from .features import GroupBy, Sequences, sliding_windows

STRONGER = "stronger anomalous behaviour"
BENIGN = "benign or low-signal behaviour"
CONTROLLED = "controlled or expected privileged behaviour"
RECON = "reconnaissance"
QUADRANTS = (STRONGER, BENIGN, CONTROLLED, RECON)

#: default thresholds on the priv and recon scores (fraction of a trace's windows).
DEFAULT_PRIV_THRESHOLD = 0.10
DEFAULT_RECON_THRESHOLD = 0.10
DEFAULT_K = 6

Holdout = Literal["auto", "run", "trace", "none"]


def quadrant_name(priv_score: float, recon_score: float, priv_threshold: float = DEFAULT_PRIV_THRESHOLD,
                  recon_threshold: float = DEFAULT_RECON_THRESHOLD) -> str:
    """The quadrant of one (priv, recon) score pair; a score at the threshold counts as high."""
    high_p = priv_score >= priv_threshold
    high_r = recon_score >= recon_threshold
    if high_p and not high_r:
        return STRONGER
    if high_p and high_r:
        return CONTROLLED
    if high_r:
        return RECON
    return BENIGN


def quadrant_names(priv: np.ndarray, recon: np.ndarray, priv_threshold: float, recon_threshold: float) -> list[str | None]:
    """Vectorised :func:`quadrant_name`; ``None`` where a score is NaN (no windows)."""
    priv = np.asarray(priv, dtype=float)
    recon = np.asarray(recon, dtype=float)
    hp = priv >= priv_threshold
    hr = recon >= recon_threshold
    idx = np.where(hp & ~hr, 0, np.where(hp & hr, 2, np.where(hr, 3, 1)))
    valid = ~(np.isnan(priv) | np.isnan(recon))
    return [QUADRANTS[i] if ok else None for i, ok in zip(idx.tolist(), valid.tolist(), strict=True)]


@dataclass
class WindowIndex:
    """Every length-k window of a dataset with a dataset-wide integer id per distinct window.

    ``ids[j]`` is the id of window ``j``; ``trace[j]`` the index of its trace in
    ``trace_ids``; ``distinct[i]`` the calls (vocabulary ids) of window id ``i``.
    """

    seqs: Sequences
    k: int
    ids: np.ndarray  # int64 per window
    trace: np.ndarray  # int64 per window: index into trace_ids
    trace_ids: np.ndarray  # object, distinct trace ids having windows
    distinct: np.ndarray  # (n_distinct, k) int32
    seq_index: np.ndarray  # per window: index into seqs
    start: np.ndarray  # per window: start position inside its sequence

    @property
    def n_distinct(self) -> int:
        return len(self.distinct)


def window_index(events: pa.Table, k: int = DEFAULT_K, by: GroupBy = "process",
                 seqs: Sequences | None = None) -> WindowIndex:
    """Build the :class:`WindowIndex` of an events table (one vocabulary for all traces).

    Pass ``seqs`` (``Sequences.from_events(events, by=by)``) to reuse them across window sizes.
    Windows are keyed as bit-packed int64 when ``k`` × bits-per-call fits (exact), else by
    their raw bytes.
    """
    if k < 1:
        raise SyssenseError(f"window size k must be at least 1, not {k}")
    if seqs is None:
        seqs = Sequences.from_events(events, by=by)
    w = sliding_windows(seqs, k)
    if len(w):
        rows = np.ascontiguousarray(w.data, dtype=np.int32)
        bits = max(1, (len(seqs.vocab) - 1).bit_length())
        if bits * k <= 62:
            keyed = rows[:, 0].astype(np.int64)
            for i in range(1, k):
                keyed <<= bits
                keyed |= rows[:, i]
        else:
            keyed = rows.view(np.dtype((np.void, rows.dtype.itemsize * k))).ravel()
        _, first, inverse = np.unique(keyed, return_index=True, return_inverse=True)
        distinct = rows[first]
    else:
        inverse = np.zeros(0, np.int64)
        distinct = np.zeros((0, k), np.int32)
    uniq, seq_trace = _trace_index(seqs)
    trace = seq_trace[w.seq_index] if len(w) else np.zeros(0, np.int64)
    return WindowIndex(seqs, k, inverse.astype(np.int64).ravel(), trace.astype(np.int64), uniq,
                       distinct, w.seq_index, w.start)


_TRACE_INDEX_CACHE: dict[int, tuple[Sequences, tuple[np.ndarray, np.ndarray]]] = {}


def _trace_index(seqs: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """``seqs.trace_index()``, computed once per Sequences object."""
    hit = _TRACE_INDEX_CACHE.get(id(seqs))
    if hit is not None and hit[0] is seqs:
        return hit[1]
    out = seqs.trace_index()
    _TRACE_INDEX_CACHE.clear()
    _TRACE_INDEX_CACHE[id(seqs)] = (seqs, out)
    return out


def _category_mask(traces: pa.Table, value: str | Sequence[str]) -> np.ndarray:
    """Traces whose category or scenario equals ``value`` (or one of the values)."""
    values = [value] if isinstance(value, str) else list(value)
    vs = pa.array(values, pa.string())
    m = pc.or_(pc.fill_null(pc.is_in(traces.column("category"), value_set=vs), False),
               pc.fill_null(pc.is_in(traces.column("scenario"), value_set=vs), False))
    return m.to_numpy(zero_copy_only=False).astype(bool)


def _held_out_member(win_ids: np.ndarray, win_group: np.ndarray, member: np.ndarray, n_ids: int,
                     holdout: bool) -> np.ndarray:
    """For each window occurrence: is its id seen in a ``member`` occurrence of *another* group?

    ``member`` marks the occurrences that build the set (e.g. windows of priv traces).
    With ``holdout=False`` the group is ignored (in-sample membership).
    """
    if not member.any():
        return np.zeros(len(win_ids), bool)
    if not holdout:
        seen = np.zeros(n_ids, bool)
        seen[win_ids[member]] = True
        return seen[win_ids]
    key = win_group.astype(np.int64) * n_ids + win_ids
    pairs = np.unique(key[member])  # distinct (group, window) among members
    groups_with = np.bincount(pairs % n_ids, minlength=n_ids)  # groups containing each id
    own = np.isin(key, pairs)  # this occurrence's own group has the id as a member
    return (groups_with[win_ids] - own.astype(np.int64)) > 0


def interpret(
    dataset: Dataset,
    baseline: str | Sequence[str] = "normal",
    priv: str | Sequence[str] = "priv",
    recon: str | Sequence[str] = "recon",
    k: int = DEFAULT_K,
    priv_threshold: float = DEFAULT_PRIV_THRESHOLD,
    recon_threshold: float = DEFAULT_RECON_THRESHOLD,
    holdout: Holdout = "auto",
    by: GroupBy = "process",
    index: WindowIndex | None = None,
) -> pa.Table:
    """Priv score, recon score and quadrant of every trace (DESIGN.md's priv/recon quadrants).

    ``baseline``, ``priv`` and ``recon`` name a category or a scenario (or several).
    Returns one row per trace: ``trace_id, scenario, category, mode, run, n_windows,
    priv_windows, recon_windows, priv_score, recon_score, quadrant``. The table's schema
    metadata records ``k``, both thresholds, the holdout actually used and the sizes of
    the (in-sample) signatures. Traces without system calls get null scores and quadrant.
    """
    if holdout not in ("auto", "run", "trace", "none"):
        raise SyssenseError(f"unknown holdout '{holdout}': choose auto, run, trace or none")
    for name, t in (("priv", priv_threshold), ("recon", recon_threshold)):
        if not 0.0 <= t <= 1.0:
            raise SyssenseError(f"the {name} threshold must be a fraction between 0 and 1, not {t}")
    traces = dataset.traces
    if traces.num_rows == 0:
        raise SyssenseError("the dataset has no traces to interpret")
    is_base = _category_mask(traces, baseline)
    is_priv = _category_mask(traces, priv)
    is_recon = _category_mask(traces, recon)
    for what, mask, val in (("baseline", is_base, baseline), ("priv", is_priv, priv), ("recon", is_recon, recon)):
        if not mask.any():
            raise SyssenseError(
                f"no {what} traces: no trace has category or scenario {val!r}; "
                "capture the behaviour set (syssense run behaviour) or name another with an option"
            )
    runs = traces.column("run").to_numpy(zero_copy_only=False)
    runs = np.where(pc.is_null(traces.column("run")).to_numpy(zero_copy_only=False), -1, runs).astype(np.int64)
    if holdout == "auto":
        holdout = "run" if len(np.unique(runs[is_priv | is_recon | is_base])) >= 2 else "trace"

    idx = index if index is not None else window_index(dataset.events, k, by)
    k = idx.k
    all_ids = traces.column("trace_id").to_pylist()
    pos = {t: i for i, t in enumerate(all_ids)}
    # window -> row in the traces table
    trace_row = np.array([pos.get(str(t), -1) for t in idx.trace_ids], dtype=np.int64)
    wrow = trace_row[idx.trace] if len(idx.ids) else np.zeros(0, np.int64)
    keep = wrow >= 0
    ids, wrow = idx.ids[keep], wrow[keep]
    n_ids = max(idx.n_distinct, 1)

    if holdout == "run":
        group = runs[wrow]
    elif holdout == "trace":
        group = wrow
    else:
        group = np.zeros(len(wrow), np.int64)
    held = holdout != "none"
    in_normal = _held_out_member(ids, group, is_base[wrow], n_ids, held)
    in_priv = _held_out_member(ids, group, is_priv[wrow], n_ids, held) & ~in_normal
    in_recon = _held_out_member(ids, group, is_recon[wrow], n_ids, held) & ~in_normal

    n = traces.num_rows
    n_win = np.bincount(wrow, minlength=n)
    p_cnt = np.bincount(wrow, weights=in_priv, minlength=n)
    r_cnt = np.bincount(wrow, weights=in_recon, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_score = np.where(n_win > 0, p_cnt / np.maximum(n_win, 1), np.nan)
        r_score = np.where(n_win > 0, r_cnt / np.maximum(n_win, 1), np.nan)
    quad = quadrant_names(p_score, r_score, priv_threshold, recon_threshold)

    # in-sample signature sizes, for the record
    def _set(mask: np.ndarray) -> np.ndarray:
        return np.unique(ids[mask[wrow]])

    normal_set = _set(is_base)
    priv_sig = np.setdiff1d(_set(is_priv), normal_set)
    recon_sig = np.setdiff1d(_set(is_recon), normal_set)
    nan_to_null = lambda a: pa.array(a, pa.float64(), mask=np.isnan(a))  # noqa: E731
    out = pa.table(
        {
            "trace_id": pa.array(all_ids, pa.string()),
            "scenario": traces.column("scenario"),
            "category": traces.column("category"),
            "mode": traces.column("mode"),
            "run": traces.column("run"),
            "n_windows": pa.array(n_win.astype(np.int64)),
            "priv_windows": pa.array(p_cnt.astype(np.int64)),
            "recon_windows": pa.array(r_cnt.astype(np.int64)),
            "priv_score": nan_to_null(p_score),
            "recon_score": nan_to_null(r_score),
            "quadrant": pa.array(quad, pa.string()),
        }
    )
    meta = {
        "k": str(k),
        "priv_threshold": repr(float(priv_threshold)),
        "recon_threshold": repr(float(recon_threshold)),
        "holdout": holdout,
        "by": by,
        "baseline_windows": str(len(normal_set)),
        "priv_signature": str(len(priv_sig)),
        "recon_signature": str(len(recon_sig)),
    }
    return out.replace_schema_metadata(meta)


def signatures(dataset: Dataset, baseline: str | Sequence[str] = "normal", priv: str | Sequence[str] = "priv",
               recon: str | Sequence[str] = "recon", k: int = DEFAULT_K, by: GroupBy = "process",
               index: WindowIndex | None = None) -> dict[str, list[tuple[str, ...]]]:
    """The in-sample priv and recon signatures as lists of call-name windows (for display)."""
    idx = index if index is not None else window_index(dataset.events, k, by)
    traces = dataset.traces
    pos = {t: i for i, t in enumerate(traces.column("trace_id").to_pylist())}
    trace_row = np.array([pos.get(str(t), -1) for t in idx.trace_ids], dtype=np.int64)
    wrow = trace_row[idx.trace] if len(idx.ids) else np.zeros(0, np.int64)
    keep = wrow >= 0
    ids, wrow = idx.ids[keep], wrow[keep]
    out: dict[str, list[tuple[str, ...]]] = {}
    normal = np.unique(ids[_category_mask(traces, baseline)[wrow]])
    names = np.array(idx.seqs.vocab.names, dtype=object)
    for label, value in (("priv", priv), ("recon", recon)):
        sig = np.setdiff1d(np.unique(ids[_category_mask(traces, value)[wrow]]), normal)
        out[label] = [tuple(names[row]) for row in idx.distinct[sig]]
    return out


def metadata(table: pa.Table) -> dict[str, str]:
    """The schema metadata :func:`interpret` attached, as a str dict."""
    raw = table.schema.metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items()}
