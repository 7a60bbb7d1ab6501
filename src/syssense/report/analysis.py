"""The numbers behind the report's figures, computed from a dataset in a few vectorised passes.

Window sets follow stide (Forrest et al., 1996; Hofmeyr, Forrest & Somayaji, 1998): the
normal database is the set of distinct k-windows of the baseline's per-process sequences;
a window *matches* when it is in that set; coverage = fraction of a trace's windows that
match; mismatch rate = 1 − coverage; the locality frame count (LFC) of a window is the
number of mismatches among the last L windows of its sequence (L = 20); the minimum
Hamming distance of a window is the fewest positions in which it differs from a normal
window.

Baseline traces are never scored against windows they contributed themselves: a
baseline trace of run *r* is compared with the baseline windows of the other runs
(leave-one-run-out; leave-one-trace-out when the baseline has a single run). Other
traces are compared with the whole baseline.

When :mod:`syssense.compare` is installed its table is used for the coverage figure;
these functions are the report's own, exact, reading of the same definitions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import roc_auc_score, roc_curve

from ..dataset import Dataset
from ..features import PAD, GroupBy
from ..interpret import WindowIndex, _category_mask, _held_out_member, window_index

LFC_FRAME = 20
#: characters of a call's arguments shown inline; the rest (up to ARGS_FULL) behind a click
ARGS_SHOWN = 240
ARGS_FULL = 20_000


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + " …"


def _str(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def trace_labels(traces: pa.Table, command_chars: int = 40) -> list[str]:
    """A short readable label per trace: ``scenario[/mode] run N: command`` (the command
    for single-command traces only; the mode only when the scenario name lacks it)."""
    out = []
    cols = ["trace_id", "scenario", "mode", "run", "command"]
    for r in traces.select(cols).to_pylist():
        scen = r.get("scenario") or r["trace_id"]
        mode = r.get("mode")
        label = scen if not mode or mode in scen.split("-") else f"{scen}/{mode}"
        if r.get("run") is not None:
            label += f" run {r['run']}"
        cmd = (r.get("command") or "").strip()
        if cmd and mode != "multi" and "\n" not in cmd:
            label += ": " + (cmd if len(cmd) <= command_chars else cmd[: command_chars - 1] + "…")
        out.append(label)
    return out


# --------------------------------------------------------------------------- summary


def summary_rows(ds: Dataset) -> list[dict[str, Any]]:
    """One row per scenario × mode: traces, runs, system calls, distinct calls, unparsed lines."""
    ev = ds.events
    per_trace = pa.table({"trace_id": _str(ev.column("trace_id")), "kind": _str(ev.column("kind")),
                          "syscall": _str(ev.column("syscall"))})
    sys_only = per_trace.filter(pc.equal(per_trace.column("kind"), "syscall"))
    calls = dict(zip(*sys_only.group_by("trace_id").aggregate([("kind", "count")]).to_pydict().values(), strict=True)) \
        if sys_only.num_rows else {}
    unparsed_tab = per_trace.filter(pc.equal(per_trace.column("kind"), "unparsed"))
    unparsed = dict(zip(*unparsed_tab.group_by("trace_id").aggregate([("kind", "count")]).to_pydict().values(), strict=True)) \
        if unparsed_tab.num_rows else {}
    names: dict[tuple[str, str], set[str]] = {}
    if sys_only.num_rows:
        pairs = sys_only.group_by(["trace_id", "syscall"]).aggregate([]).to_pydict()
        tmap = {}
        for r in ds.traces.select(["trace_id", "scenario", "mode"]).to_pylist():
            tmap[r["trace_id"]] = (r.get("scenario") or "?", r.get("mode") or "")
        for tid, name in zip(pairs["trace_id"], pairs["syscall"], strict=True):
            names.setdefault(tmap.get(tid, ("?", "")), set()).add(name)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in ds.traces.to_pylist():
        key = (r.get("scenario") or "?", r.get("mode") or "")
        row = rows.setdefault(key, {"scenario": key[0], "category": r.get("category") or "", "mode": key[1],
                                    "traces": 0, "runs": set(), "calls": 0, "distinct_calls": 0,
                                    "unparsed_lines": 0, "failed": 0})
        row["traces"] += 1
        if r.get("run") is not None:
            row["runs"].add(r["run"])
        row["calls"] += int(calls.get(r["trace_id"], 0))
        n_unp = r.get("n_unparsed")
        row["unparsed_lines"] += int(n_unp) if n_unp is not None else int(unparsed.get(r["trace_id"], 0))
        if r.get("status") not in (None, "ok"):
            row["failed"] += 1
    out = []
    for key in sorted(rows):
        row = rows[key]
        row["runs"] = len(row["runs"])
        row["distinct_calls"] = len(names.get(key, ()))
        out.append(row)
    return out


# --------------------------------------------------------------------------- frequency


def call_counts(ds: Dataset, by: str = "scenario") -> dict[str, dict[str, int]]:
    """System-call counts per value of a traces column (``scenario`` or ``category``)."""
    ev = ds.events
    t = pa.table({"trace_id": _str(ev.column("trace_id")), "kind": _str(ev.column("kind")),
                  "syscall": _str(ev.column("syscall"))})
    t = t.filter(pc.equal(t.column("kind"), "syscall"))
    if t.num_rows == 0:
        return {}
    g = t.group_by(["trace_id", "syscall"]).aggregate([("kind", "count")]).to_pydict()
    key_of = {r["trace_id"]: (r.get(by) or "?") for r in ds.traces.select(["trace_id", by]).to_pylist()}
    out: dict[str, dict[str, int]] = {}
    for tid, name, n in zip(g["trace_id"], g["syscall"], g["kind_count"], strict=True):
        d = out.setdefault(key_of.get(tid, "?"), {})
        d[name] = d.get(name, 0) + int(n)
    return out


def baseline_counts(ds: Dataset, baseline: str | Sequence[str]) -> dict[str, int]:
    """Call counts of all baseline traces together."""
    sel = ds.traces.filter(pa.array(_category_mask(ds.traces, baseline)))
    if sel.num_rows == 0:
        return {}
    sub = ds.select({"trace_id": sel.column("trace_id").to_pylist()})
    merged: dict[str, int] = {}
    for d in call_counts(sub).values():
        for k, v in d.items():
            merged[k] = merged.get(k, 0) + v
    return merged


def paired_baselines(ds: Dataset, baseline: str | Sequence[str]) -> dict[str, list[str]]:
    """For every non-baseline scenario, the baseline scenarios to compare its call
    distribution with: those whose names share the most '-'-separated words with it
    (``stress-cpu`` -> ``stress-normal``; ``priv-single`` -> ``normal-single``), else all."""
    mask = _category_mask(ds.traces, baseline)
    scen = [s or "?" for s in ds.traces.column("scenario").to_pylist()]
    base = sorted({s for s, m in zip(scen, mask, strict=True) if m})
    others = sorted({s for s, m in zip(scen, mask, strict=True) if not m} - set(base))
    out = {}
    for name in others:
        words = set(name.split("-"))
        overlap = {b: len(words & set(b.split("-"))) for b in base}
        best = max(overlap.values(), default=0)
        out[name] = [b for b in base if overlap[b] == best] if best > 0 else list(base)
    return out


def new_calls(normal: Mapping[str, int], counts: Mapping[str, Mapping[str, int]]) -> dict[str, list[tuple[str, int]]]:
    """Calls of each group never seen in the baseline, most frequent first."""
    return {name: sorted(((c, n) for c, n in d.items() if normal.get(c, 0) == 0), key=lambda x: -x[1])
            for name, d in counts.items()}


# --------------------------------------------------------------------------- stide windows


@dataclass
class StideView:
    """Per-window stide results for one k over a whole dataset (see module docstring)."""

    index: WindowIndex
    trace_row: np.ndarray  # per window: row in ds.traces (-1 if unknown)
    is_base_trace: np.ndarray  # per traces row
    match: np.ndarray  # per window bool
    lfc: np.ndarray  # per window int
    normal_ids: np.ndarray  # distinct window ids of the whole baseline
    holdout: str
    mode_code: np.ndarray | None = None  # per window: 1.. = its mode's baseline, 0 = pooled baseline
    seen: np.ndarray | None = None  # (mode_code * n_distinct + id) -> in that baseline set
    scored: np.ndarray | None = None  # per window: False for baseline traces that cannot be held out


def stide_view(ds: Dataset, k: int, baseline: str | Sequence[str] = "normal", by: GroupBy = "process",
               frame: int = LFC_FRAME, index: WindowIndex | None = None) -> StideView:
    """Match / mismatch and LFC of every window of every trace against the baseline.

    As in :func:`syssense.compare.compare`, a trace is compared with the baseline runs of
    its own mode (single / multi) when there are any, else with all baseline runs.
    """
    idx = index if index is not None else window_index(ds.events, k, by)
    traces = ds.traces
    pos = {t: i for i, t in enumerate(traces.column("trace_id").to_pylist())}
    trow_of_trace = np.array([pos.get(str(t), -1) for t in idx.trace_ids], dtype=np.int64)
    wrow = trow_of_trace[idx.trace] if len(idx.ids) else np.zeros(0, np.int64)
    is_base = _category_mask(traces, baseline)
    valid = wrow >= 0
    safe_row = np.maximum(wrow, 0)
    wbase = valid & is_base[safe_row]
    n_ids = max(idx.n_distinct, 1)
    # mode of each trace; a mode without baseline traces falls back to the pooled baseline (code 0)
    modes = [m or "-" for m in traces.column("mode").to_pylist()]
    base_modes = sorted({m for m, b in zip(modes, is_base, strict=True) if b})
    code = {m: i + 1 for i, m in enumerate(base_modes)}
    tmode = np.array([code.get(m, 0) for m in modes], dtype=np.int64)
    wmode = tmode[safe_row]
    key = wmode * n_ids + idx.ids  # window id within its mode's baseline
    n_keys = n_ids * (len(base_modes) + 1)
    seen = np.zeros(n_keys, bool)
    seen[key[wbase]] = True  # per-mode baseline sets
    seen[idx.ids[wbase]] = True  # pooled baseline set (mode code 0)
    match = seen[key] & valid if len(idx.ids) else np.zeros(0, bool)
    runs = traces.column("run").to_numpy(zero_copy_only=False)
    run_null = pc.is_null(traces.column("run")).to_numpy(zero_copy_only=False)
    runs = np.where(run_null, -1, runs).astype(np.int64)
    holdout = "run" if len(np.unique(runs[is_base])) >= 2 else "trace"
    scored = valid.copy()
    if wbase.any():
        group = runs[safe_row] if holdout == "run" else safe_row
        held = _held_out_member(key, group, wbase, n_keys, True)
        match[wbase] = held[wbase]
        # a baseline trace whose mode has no other baseline run (or trace) cannot be held out: unscored
        tgroup = runs if holdout == "run" else np.arange(len(runs))
        n_groups = {m: len(np.unique(tgroup[is_base & (tmode == m)])) for m in np.unique(tmode[is_base])}
        lonely = np.array([bool(b) and n_groups.get(m, 0) < 2 for b, m in zip(is_base, tmode, strict=True)])
        scored &= ~lonely[safe_row]
    lfc = _lfc(~match, idx, frame)
    normal_ids = np.flatnonzero(seen[:n_ids])
    return StideView(idx, wrow, is_base, match, lfc, normal_ids, holdout, wmode, seen, scored)


def _lfc(mismatch: np.ndarray, idx: WindowIndex, frame: int) -> np.ndarray:
    """Mismatches among the last ``frame`` windows of the same sequence (vectorised)."""
    n = len(mismatch)
    if n == 0:
        return np.zeros(0, np.int64)
    c = np.cumsum(mismatch.astype(np.int64))
    j = np.arange(n, dtype=np.int64)
    first = j - idx.start  # index of the first window of this window's sequence
    lo = np.maximum(j - frame + 1, first)
    before = np.where(lo > 0, c[np.maximum(lo - 1, 0)], 0)
    return c - before


def trace_scores(view: StideView) -> pa.Table:
    """Per trace: windows, coverage, mismatch rate, max LFC."""
    n = view.is_base_trace.shape[0]
    ok = (view.trace_row >= 0) if view.scored is None else view.scored
    rows = view.trace_row[ok]
    n_win = np.bincount(rows, minlength=n)
    n_match = np.bincount(rows, weights=view.match[ok], minlength=n)
    max_lfc = np.zeros(n, np.int64)
    np.maximum.at(max_lfc, rows, view.lfc[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.where(n_win > 0, n_match / np.maximum(n_win, 1), np.nan)
    return pa.table({"n_windows": n_win, "coverage": pa.array(cov, mask=np.isnan(cov)),
                     "mismatch_rate": pa.array(1 - cov, mask=np.isnan(cov)), "max_lfc": max_lfc})


def coverage_rows(ds: Dataset, ks: Sequence[int], baseline: str | Sequence[str] = "normal",
                  by: GroupBy = "process", views: dict[int, StideView] | None = None) -> list[dict[str, Any]]:
    """Coverage and mismatch rate per scenario × mode × k (windows pooled over runs)."""
    out = []
    traces = ds.traces
    scen = traces.column("scenario").to_pylist()
    cat = traces.column("category").to_pylist()
    mode = traces.column("mode").to_pylist()
    keys = sorted({(s or "?", m or "", c or "") for s, m, c in zip(scen, mode, cat, strict=True)})
    key_index = {key[:2]: i for i, key in enumerate(keys)}
    trace_key = np.array([key_index[(s or "?", m or "")] for s, m in zip(scen, mode, strict=True)], np.int64)
    for k in ks:
        view = views[k] if views and k in views else stide_view(ds, k, baseline, by)
        ok = (view.trace_row >= 0) if view.scored is None else view.scored
        g = trace_key[view.trace_row[ok]]
        n = np.bincount(g, minlength=len(keys))
        m = np.bincount(g, weights=view.match[ok], minlength=len(keys))
        lf = np.zeros(len(keys), np.int64)
        np.maximum.at(lf, g, view.lfc[ok])
        for i, (s, md, c) in enumerate(keys):
            if n[i] == 0:
                continue
            out.append({"scenario": s, "category": c, "mode": md, "k": int(k), "windows": int(n[i]),
                        "coverage": float(m[i] / n[i]), "mismatch_rate": float(1 - m[i] / n[i]),
                        "max_lfc": int(lf[i])})
    return out


def mismatch_tracks(ds: Dataset, view: StideView, per_group: int = 1, max_windows: int = 4000) -> list[dict[str, Any]]:
    """Tracks for the mismatch figure: the baseline trace with the most windows, and per
    non-baseline scenario × mode the run with the highest max LFC."""
    traces = ds.traces
    labels = trace_labels(traces)
    ok = view.trace_row >= 0
    rows = view.trace_row[ok]
    scores = trace_scores(view)
    max_lfc = scores.column("max_lfc").to_numpy()
    n_win = scores.column("n_windows").to_numpy()
    cats = traces.column("category").to_pylist()
    keys = [(s or "?", m or "") for s, m in zip(traces.column("scenario").to_pylist(), traces.column("mode").to_pylist(), strict=True)]
    chosen: list[tuple[int, bool]] = []
    base_rows = np.flatnonzero(view.is_base_trace & (n_win > 0))
    if len(base_rows):
        chosen.append((int(base_rows[np.argmax(n_win[base_rows])]), True))
    by_key: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(keys):
        if not view.is_base_trace[i] and n_win[i] > 0:
            by_key.setdefault(key, []).append(i)
    for key in sorted(by_key):
        cand = sorted(by_key[key], key=lambda i: (-max_lfc[i], -n_win[i]))[:per_group]
        chosen += [(i, False) for i in cand]
    mism = ~view.match[ok]
    lfc = view.lfc[ok]
    out = []
    for i, is_b in chosen:
        sel = rows == i
        out.append({"label": labels[i], "category": cats[i], "baseline": is_b,
                    "mismatch": mism[sel][:max_windows], "lfc": lfc[sel][:max_windows]})
    return out


def _min_hamming(cands: np.ndarray, db: np.ndarray, chunk: int = 2_000_000, vocab_size: int | None = None) -> np.ndarray:
    """Minimum Hamming distance of each candidate window to a database of windows.

    Uses stide's indexed window database (:mod:`syssense.detect._windowdb`) when
    available, else a chunked brute force.
    """
    if len(db) == 0:
        return np.full(len(cands), cands.shape[1] if cands.ndim == 2 else 0, np.int64)
    if len(cands) == 0:
        return np.zeros(0, np.int64)
    if vocab_size is not None and len(db) * len(cands) > 5_000_000:
        try:
            from ..detect._windowdb import WindowDB

            wdb = WindowDB.from_rows(db.shape[1], vocab_size, np.ascontiguousarray(db, np.int32))
            return np.asarray(wdb.min_hamming(np.ascontiguousarray(cands, np.int32)), np.int64)
        except Exception:  # noqa: BLE001, S110 - another stage's index; the brute force below is exact
            pass
    out = np.empty(len(cands), np.int64)
    step = max(1, chunk // max(len(db), 1))
    for s in range(0, len(cands), step):
        block = cands[s : s + step]
        d = (block[:, None, :] != db[None, :, :]).sum(axis=2)
        out[s : s + step] = d.min(axis=1)
    return out


def anomalous_windows(ds: Dataset, view: StideView, top: int = 15, priv_ids: np.ndarray | None = None,
                      recon_ids: np.ndarray | None = None, max_candidates: int = 1000,
                      per_trace: int = 2) -> list[dict[str, Any]]:
    """The most anomalous distinct windows outside the baseline, decoded back to the log.

    Ranked by locality frame count (burst of mismatches), then minimum Hamming distance to
    the normal database, then how often they occur; at most ``per_trace`` per trace and no
    two overlapping windows of one process. Each carries its calls with
    their arguments, return values, pid, sequence numbers and log lines.
    """
    idx = view.index
    ok = (view.trace_row >= 0) & ~view.match
    ok[ok] = ~view.is_base_trace[view.trace_row[ok]]
    cand = np.flatnonzero(ok)
    if len(cand) == 0:
        return []
    # best occurrence (highest LFC) of each distinct mismatching window
    order = cand[np.lexsort((cand, -view.lfc[cand]))]
    wid = idx.ids[order]
    _, first = np.unique(wid, return_index=True)
    best = order[np.sort(first)]
    best = best[np.argsort(-view.lfc[best], kind="stable")]
    # candidates: the strongest few of every trace (so every anomalous trace can be shown), capped
    tr = view.trace_row[best]
    order_t = np.argsort(tr, kind="stable")
    tr_sorted = tr[order_t]
    first_of = np.searchsorted(tr_sorted, tr_sorted, side="left")
    rank_in_trace = np.empty(len(best), np.int64)
    rank_in_trace[order_t] = np.arange(len(best)) - first_of
    best = best[rank_in_trace < max(per_trace * 4, 8)][:max_candidates]
    normal_db = idx.distinct[view.normal_ids]
    ham = np.zeros(len(best), np.int64)
    mcode = view.mode_code[best] if view.mode_code is not None else np.zeros(len(best), np.int64)
    n_ids = max(idx.n_distinct, 1)
    for m in np.unique(mcode):
        sel = mcode == m
        db = normal_db if view.seen is None else idx.distinct[np.flatnonzero(view.seen[m * n_ids:(m + 1) * n_ids])]
        ham[sel] = _min_hamming(idx.distinct[idx.ids[best[sel]]], db, vocab_size=len(idx.seqs.vocab))
    n_traces = np.bincount(idx.ids[cand], minlength=idx.n_distinct)  # occurrences
    rank = np.lexsort((-n_traces[idx.ids[best]], -ham, -view.lfc[best]))
    best, ham = best[rank], ham[rank]
    # at most ``per_trace`` windows of one trace, and never two overlapping windows of one process,
    # so that one burst does not fill the list (a loop over at most max_candidates windows)
    chosen: list[int] = []
    per: dict[int, int] = {}
    taken: dict[int, list[int]] = {}
    for j, w in enumerate(best.tolist()):
        t, s, st = int(view.trace_row[w]), int(idx.seq_index[w]), int(idx.start[w])
        if per.get(t, 0) >= per_trace or any(abs(st - o) < idx.k for o in taken.get(s, ())):
            continue
        chosen.append(j)
        per[t] = per.get(t, 0) + 1
        taken.setdefault(s, []).append(st)
        if len(chosen) == top:
            break
    best, ham = best[chosen], ham[chosen]
    ev = ds.events
    traces = ds.traces
    labels = trace_labels(traces)
    names = idx.seqs.vocab.names
    k = idx.k
    seq_of = idx.seq_index[best]
    flat = idx.seqs.offsets[seq_of] + idx.start[best]
    rows_needed = []
    for f, s in zip(flat, seq_of, strict=True):
        end = idx.seqs.offsets[s + 1]
        rows_needed.append([int(idx.seqs.rows[p]) for p in range(f, min(f + k, end))])
    flat_rows = sorted({r for rs in rows_needed for r in rs})
    take = ev.take(pa.array(flat_rows, pa.int64())).select(
        ["seq", "line", "pid", "ts", "syscall", "args", "ret", "errno", "fd_paths", "duration"]).to_pylist()
    by_row = dict(zip(flat_rows, take, strict=True))
    priv_set = set(priv_ids.tolist()) if priv_ids is not None else set()
    recon_set = set(recon_ids.tolist()) if recon_ids is not None else set()
    normal_calls = set(np.unique(normal_db).tolist()) if len(normal_db) else set()
    out = []
    for j, (w, rs) in enumerate(zip(best, rows_needed, strict=True)):
        trow = int(view.trace_row[w])
        tr = traces.slice(trow, 1).to_pylist()[0]
        calls = []
        codes = idx.distinct[idx.ids[w]]
        for pos_, r in enumerate(rs):
            e = by_row[r]
            code = int(codes[pos_])
            calls.append({
                "name": e["syscall"], "args": _clip(e["args"] or "", ARGS_SHOWN),
                "args_more": _clip(e["args"] or "", ARGS_FULL) if len(e["args"] or "") > ARGS_SHOWN else "",
                "ret": e["ret"], "errno": e["errno"] or "",
                "seq": e["seq"], "line": e["line"], "ts": e["ts"], "new": code not in normal_calls and code != PAD,
                "fd_paths": _fd_paths(e.get("fd_paths"), e["args"] or ""),
            })
        wid_ = int(idx.ids[w])
        out.append({
            "rank": j + 1, "trace_id": tr["trace_id"], "trace": labels[trow], "category": tr.get("category") or "",
            "source": tr.get("source") or "", "pid": int(idx.seqs.pids[idx.seq_index[w]]),
            "lfc": int(view.lfc[w]), "hamming": int(ham[j]), "k": k,
            "occurrences": int(n_traces[wid_]),
            "lines": (calls[0]["line"], calls[-1]["line"]) if calls else (None, None),
            "seqs": (calls[0]["seq"], calls[-1]["seq"]) if calls else (None, None),
            "window": " → ".join(names[int(c)] for c in codes if c != PAD),
            "signature": ", ".join(s for s, on in (("priv", wid_ in priv_set), ("recon", wid_ in recon_set)) if on),
            "calls": calls,
        })
    return out


def _fd_paths(raw: str | None, args: str = "") -> str:
    """Decoded descriptor paths not already visible in the argument text (strace -yy prints them inline)."""
    if not raw:
        return ""
    try:
        d = json.loads(raw)
    except (ValueError, TypeError):
        return str(raw)
    if isinstance(d, dict):
        return ", ".join(f"{k}={v}" for k, v in d.items() if f"<{v}>" not in args)
    return str(d)


# --------------------------------------------------------------------------- ROC


def roc_rows(ds: Dataset, views: Mapping[int, StideView], baseline: str | Sequence[str] = "normal",
             categories: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """ROC of stide's per-trace mismatch rate: baseline traces (held out) against the others.

    One curve per k (sklearn's ``roc_curve``); ``categories`` limits the positives.
    """
    traces = ds.traces
    cats = np.array([c or "" for c in traces.column("category").to_pylist()], dtype=object)
    out = []
    for k, view in sorted(views.items()):
        sc = trace_scores(view)
        score = sc.column("mismatch_rate").to_numpy(zero_copy_only=False)
        valid = ~np.isnan(score.astype(float))
        pos = ~view.is_base_trace
        if categories:
            pos = pos & np.isin(cats, list(categories))
        use = valid & (view.is_base_trace | pos)
        y = pos[use].astype(int)
        if y.min(initial=1) == y.max(initial=0):
            continue
        fpr, tpr, _ = roc_curve(y, score[use].astype(float))
        out.append({"label": f"stide mismatch rate, k={k}", "k": k, "fpr": fpr, "tpr": tpr,
                    "auc": float(roc_auc_score(y, score[use].astype(float))),
                    "positives": int(y.sum()), "negatives": int((1 - y).sum())})
    return out


# --------------------------------------------------------------------------- timing


def timing_samples(ds: Dataset, by: str = "category", max_per_group: int = 200_000) -> dict[str, dict[str, np.ndarray]]:
    """Per group: per-process inter-arrival times (Tᵢ − Tᵢ₋₁) and call durations, seconds.

    Vectorised over integer trace codes (the dictionary indices of ``trace_id``).
    """
    ev = ds.events
    out: dict[str, dict[str, np.ndarray]] = {}
    kind = ev.column("kind").combine_chunks() if ev.num_rows else None
    if kind is None:
        return out
    is_sys = pc.fill_null(pc.equal(pc.cast(kind, pa.string()) if not pa.types.is_dictionary(kind.type)
                                   else kind.dictionary_decode(), "syscall"), False)
    t = ev.select(["trace_id", "pid", "seq", "ts", "duration"]).filter(is_sys)
    if t.num_rows == 0:
        return out
    tid = t.column("trace_id").combine_chunks()
    if not pa.types.is_dictionary(tid.type):
        tid = tid.dictionary_encode()
    names = np.array(tid.dictionary.to_pylist(), dtype=object)
    code = tid.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    pid = pc.fill_null(t.column("pid"), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    seq = t.column("seq").to_numpy(zero_copy_only=False).astype(np.int64)
    ts = pc.fill_null(t.column("ts"), np.nan).to_numpy(zero_copy_only=False).astype(float)
    dur = pc.fill_null(t.column("duration"), np.nan).to_numpy(zero_copy_only=False).astype(float)
    order = np.lexsort((seq, pid, code))
    code, pid, ts, dur = code[order], pid[order], ts[order], dur[order]
    same = np.zeros(len(ts), bool)
    same[1:] = (code[1:] == code[:-1]) & (pid[1:] == pid[:-1])
    gap = np.full(len(ts), np.nan)
    gap[1:] = ts[1:] - ts[:-1]
    gap[~same] = np.nan
    key_of = {r["trace_id"]: (r.get(by) or "?") for r in ds.traces.select(["trace_id", by]).to_pylist()}
    group_names = sorted({key_of.get(n, "?") for n in names})
    gidx = {g: i for i, g in enumerate(group_names)}
    code_group = np.array([gidx[key_of.get(n, "?")] for n in names], dtype=np.int64)
    g = code_group[code]
    rng = np.random.default_rng(0)
    for i, name in enumerate(group_names):
        sel = g == i
        d = {}
        for qname, arr in (("inter-arrival time", gap[sel]), ("duration", dur[sel])):
            a = arr[np.isfinite(arr) & (arr > 0)]
            if len(a) > max_per_group:
                a = rng.choice(a, max_per_group, replace=False)
            if len(a):
                d[qname] = a
        if d:
            out[name] = d
    return out
