"""Benchmark of the priv/recon interpretation and the HTML report (issue 7). Not a test.

1. interpret(): leave-one-run-out priv/recon scores on a synthetic dataset (3 runs of
   normal / priv / recon traces, a Markov-ish call stream), against a reference in the
   same run: the same computation with Python sets of window tuples.
2. write_report() on ADFA-LD (when ../shared/datasets/adfa-ld/ADFA-LD.zip is there).

Timings are wall-clock on a shared machine; run: .venv/bin/python bench/report.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from syssense.dataset import Dataset, traces_table
from syssense.interpret import interpret

K = 6


def synthetic(n_events: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"call{i}" for i in range(60)], dtype=object)
    specs = [(cat, run) for run in range(3) for cat in ("normal", "priv", "recon") for _ in range(20)]
    per = n_events // len(specs)
    trace_ids, names, seqs, rows = [], [], [], []
    base = rng.integers(0, 40, size=per)
    for i, (cat, run) in enumerate(specs):
        calls = base.copy()
        n_mut = per // 50
        pos = rng.integers(0, per, n_mut)
        offset = {"normal": 0, "priv": 40, "recon": 50}[cat]
        calls[pos] = rng.integers(0, 10, n_mut) + offset if cat != "normal" else rng.integers(0, 40, n_mut)
        trace_ids.append(np.full(per, i))
        names.append(calls)
        seqs.append(np.arange(per))
        rows.append({"trace_id": f"t{i}", "scenario": cat, "category": cat, "mode": "single", "run": run})
    tid = np.concatenate(trace_ids)
    events = pa.table({
        "trace_id": pa.array([f"t{i}" for i in tid]),
        "seq": pa.array(np.concatenate(seqs)),
        "pid": pa.array(tid + 100),
        "syscall": pa.array(vocab[np.concatenate(names)].tolist()),
        "kind": pa.array(["syscall"] * len(tid)),
    })
    return Dataset(traces_table(rows), events)


def reference(ds: Dataset, k: int) -> dict[str, tuple[float, float]]:
    """The same leave-one-run-out scores with Python sets of tuples."""
    meta = {r["trace_id"]: r for r in ds.traces.to_pylist()}
    ev = ds.events.select(["trace_id", "syscall"]).to_pydict()
    calls: dict[str, list[str]] = {}
    for t, c in zip(ev["trace_id"], ev["syscall"], strict=True):
        calls.setdefault(t, []).append(c)
    wins = {t: [tuple(c[i : i + k]) for i in range(len(c) - k + 1)] for t, c in calls.items()}
    out = {}
    for run in sorted({m["run"] for m in meta.values()}):
        other = [t for t in wins if meta[t]["run"] != run]
        normal = {w for t in other if meta[t]["category"] == "normal" for w in wins[t]}
        priv = {w for t in other if meta[t]["category"] == "priv" for w in wins[t]} - normal
        recon = {w for t in other if meta[t]["category"] == "recon" for w in wins[t]} - normal
        for t in wins:
            if meta[t]["run"] == run:
                w = wins[t]
                out[t] = (sum(x in priv for x in w) / len(w), sum(x in recon for x in w) / len(w))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    ds = synthetic(n)
    print(f"synthetic dataset: {len(ds)} traces, {ds.events.num_rows:,} events, k={K}")
    t = time.perf_counter()
    q = interpret(ds, k=K, holdout="run")
    t_vec = time.perf_counter() - t
    t = time.perf_counter()
    ref = reference(ds, K)
    t_ref = time.perf_counter() - t
    got = {r["trace_id"]: (r["priv_score"], r["recon_score"]) for r in q.to_pylist()}
    agree = all(abs(got[t][0] - ref[t][0]) < 1e-12 and abs(got[t][1] - ref[t][1]) < 1e-12 for t in ref)
    print(f"interpret (vectorised):   {t_vec:8.2f} s  {ds.events.num_rows / t_vec / 1e6:6.2f} M events/s")
    print(f"reference (python sets):  {t_ref:8.2f} s  {ds.events.num_rows / t_ref / 1e6:6.2f} M events/s")
    print(f"speed-up: {t_ref / t_vec:.1f}x; scores identical: {agree}")

    adfa = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adfa-ld" / "ADFA-LD.zip"
    if adfa.exists():
        from syssense.parse.registry import load
        from syssense.report.html import write_report

        t = time.perf_counter()
        ds = load(adfa)
        t_load = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_report(ds, Path(tmp) / "adfa.html")
            t_rep = time.perf_counter() - t
        print(f"ADFA-LD: {len(ds)} traces, {ds.events.num_rows:,} events: load {t_load:.1f} s, report k=2..10 "
              f"{t_rep:.1f} s ({t_rep / t_load:.1f}x the load time)")
    else:
        print(f"ADFA-LD not found at {adfa}: report benchmark skipped")
    print("(timings taken on a shared 2-core machine under load from other work)")


if __name__ == "__main__":
    main()
