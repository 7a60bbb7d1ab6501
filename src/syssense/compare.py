"""Scenario against baseline: how far each scenario's system-call windows stray from normal.

:func:`compare` learns the stide normal database (Forrest et al. 1996; Hofmeyr, Forrest &
Somayaji 1998) of a baseline scenario for every window size k, scores every scenario and
gives one row per scenario × mode × k:

==================  ======================================================================
column              meaning
==================  ======================================================================
scenario, mode, k   the group of traces and the window size
is_baseline         the baseline's own rows
holdout             baseline rows only: scored leave-one-run-out (each run against the
                    other runs) when the baseline has 2..20 runs; otherwise against itself
n_traces            traces in the group
n_windows           windows scored (all sequences of all traces)
coverage            fraction of windows found in the baseline database
mismatch_rate       1 − coverage
mean_hamming        mean over windows of the minimum Hamming distance to the database
                    (0 for a window that matches)
max_hamming         its maximum; ``anomaly_signal`` = max_hamming / k (S_A, Hofmeyr 1998)
max_lfc             maximum locality frame count (mismatches in the last L = 20 windows)
js_divergence       Jensen–Shannon divergence (base 2, 0..1) of the group's call histogram
                    against the baseline's (Lin 1991)
new_calls           number of calls the group makes and the baseline never does
new_call_names      those calls, comma-separated, most frequent first
==================  ======================================================================

The baseline is the traces whose ``scenario`` equals ``baseline`` or, when there are none,
whose ``category`` does. Each mode (single / multi) is compared with the baseline runs of
the same mode when there are any, else with all baseline runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.spatial.distance import jensenshannon

from .dataset import Dataset
from .detect.stide import Stide
from .errors import InputFormatError
from .features import GroupBy, Sequences

#: leave-one-run-out for the baseline only up to this many runs (else self-scoring)
MAX_HOLDOUT_RUNS = 20


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of two count vectors (Lin 1991)."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0 if p.sum() == q.sum() else 1.0
    return float(jensenshannon(p, q, base=2) ** 2)


def _labels(traces: pa.Table) -> tuple[list[str], list[str], list[Any]]:
    scen = traces.column("scenario").to_pylist()
    cat = traces.column("category").to_pylist()
    mode = traces.column("mode").to_pylist()
    run = traces.column("run").to_pylist()
    label = [s if s is not None else (c if c is not None else "unknown") for s, c in zip(scen, cat, strict=True)]
    return label, [m if m is not None else "-" for m in mode], run


def _baseline_mask(traces: pa.Table, baseline: str) -> np.ndarray:
    for col in ("scenario", "category"):
        mask = np.array([v == baseline for v in traces.column(col).to_pylist()], dtype=bool)
        if mask.any():
            return mask
    raise InputFormatError(f"no trace has scenario or category '{baseline}' to use as the baseline")


def compare(
    dataset: Dataset,
    baseline: str = "normal",
    ks: Iterable[int] = range(2, 11),
    by: GroupBy = "process",
    locality: int = 20,
) -> pa.Table:
    """One row per scenario × mode × k comparing each scenario with ``baseline``
    (see the module docstring for the columns)."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise InputFormatError("window sizes must be whole numbers of at least 1, e.g. -k 2..10")
    traces = dataset.traces
    if traces.num_rows == 0:
        raise InputFormatError("the dataset holds no traces to compare")
    is_base = _baseline_mask(traces, baseline)
    label, mode, run = _labels(traces)
    tid = traces.column("trace_id").to_pylist()
    seqs = Sequences.from_events(dataset.events, by=by)
    if len(seqs) == 0:
        raise InputFormatError("the dataset holds no system calls to compare")
    trace_pos = {t: i for i, t in enumerate(tid)}
    seq_trace = np.array([trace_pos.get(str(t), -1) for t in seqs.trace_ids], dtype=np.int64)
    seqs = seqs.take(np.flatnonzero(seq_trace >= 0))
    seq_trace = seq_trace[seq_trace >= 0]
    vocab_size = len(seqs.vocab)
    names = np.array(seqs.vocab.names, dtype=object)

    # groups: (label, mode) of each trace; baseline traces form their own group(s)
    groups = sorted({(label[i], mode[i], bool(is_base[i])) for i in range(len(tid))}, key=lambda g: (not g[2], g[0], g[1]))
    group_of_trace = np.array([groups.index((label[i], mode[i], bool(is_base[i]))) for i in range(len(tid))])
    seq_group = group_of_trace[seq_trace]

    # call histograms per group and per baseline mode
    code_seq = np.repeat(np.arange(len(seqs)), seqs.lengths)
    hist = np.zeros((len(groups), vocab_size), np.int64)
    np.add.at(hist, (seq_group[code_seq], seqs.codes), 1)
    base_modes = sorted({mode[i] for i in np.flatnonzero(is_base)})

    def baseline_seq_mask(m: str) -> np.ndarray:
        tr = is_base & (np.array(mode, dtype=object) == m) if m in base_modes else is_base
        return tr[seq_trace]

    base_hist = {m: np.bincount(seqs.codes[baseline_seq_mask(m)[code_seq]], minlength=vocab_size) for m in {*base_modes, *mode}}

    rows: list[dict[str, Any]] = []
    run_arr = np.array([r if r is not None else -1 for r in run], dtype=np.int64)
    for gi, (glabel, gmode, gbase) in enumerate(groups):
        gseq = np.flatnonzero(seq_group == gi)
        bmask = baseline_seq_mask(gmode)
        bh = base_hist[gmode]
        new = np.flatnonzero((hist[gi] > 0) & (bh == 0))
        new = new[np.argsort(-hist[gi][new], kind="stable")]
        freq = {
            "js_divergence": js_divergence(hist[gi], bh),
            "new_calls": len(new),
            "new_call_names": ",".join(str(names[c]) for c in new),
        }
        g_runs = np.unique(run_arr[seq_trace[gseq]])
        holdout = gbase and 2 <= len(np.unique(run_arr[seq_trace[np.flatnonzero(bmask)]])) <= MAX_HOLDOUT_RUNS
        for k in ks:
            parts = []
            if holdout:
                for r in g_runs:
                    test = gseq[run_arr[seq_trace[gseq]] == r]
                    train = np.flatnonzero(bmask & (run_arr[seq_trace] != r))
                    parts.append(_score(seqs, train, test, k, locality))
            else:
                parts.append(_score(seqs, np.flatnonzero(bmask), gseq, k, locality))
            a = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            n = len(a["mismatch"])
            mism = int(a["mismatch"].sum())
            max_ham = int(a["hamming"].max()) if n else 0
            rows.append(
                {
                    "scenario": glabel,
                    "mode": gmode,
                    "k": k,
                    "is_baseline": gbase,
                    "holdout": bool(holdout),
                    "n_traces": int(len(np.unique(seq_trace[gseq]))),
                    "n_windows": n,
                    "coverage": 1.0 - mism / n if n else float("nan"),
                    "mismatch_rate": mism / n if n else float("nan"),
                    "mean_hamming": float(a["hamming"].mean()) if n else float("nan"),
                    "max_hamming": max_ham,
                    "anomaly_signal": max_ham / k,
                    "max_lfc": int(a["lfc"].max()) if n else 0,
                    **freq,
                }
            )
    return pa.Table.from_pylist(rows)


def _score(seqs: Sequences, train: np.ndarray, test: np.ndarray, k: int, locality: int) -> dict[str, np.ndarray]:
    """Per-window mismatch, Hamming and LFC of sequences ``test`` against a stide model of ``train``."""
    model = Stide(k=k, locality=locality).fit(seqs.take(train))
    a = model.analyse(seqs.take(test))
    return {"mismatch": a["mismatch"], "hamming": a["hamming"].astype(np.int64), "lfc": a["lfc"].astype(np.int64)}
