"""Benchmark: stide on ADFA-LD (Creech & Hu 2013), issue 5 section 6.

Protocol: train on Training_Data_Master (833 normal traces), score Validation_Data_Master
(4,372 normal) and Attack_Data_Master (746 attacks) — 5,118 traces — and report the ROC
AUC (sklearn.metrics.roc_auc_score) of each per-trace column, plus the wall time of the
whole thing: load the zip through the ADFA-LD reader, train, score with Hamming distances.
One sequence per trace (ADFA-LD has no pids). Expected: stide's mismatch rate at k = 6
gives AUC about 0.83.

Run: ``.venv/bin/python bench/adfa_stide.py [--sweep]`` (``--sweep`` adds k = 2..10 and
t-stide / lookahead pairs). Timings were taken on a shared machine under load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from syssense.detect.lookahead import LookaheadPairs
from syssense.detect.stide import Stide, TStide
from syssense.features import Sequences
from syssense.parse.registry import load

ZIP = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "adfa-ld" / "ADFA-LD.zip"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP if ZIP.exists() else Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip"))
    ap.add_argument("--sweep", action="store_true", help="also k = 2..10, t-stide and lookahead pairs")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = load(args.zip)
    t_load = time.perf_counter() - t0
    train = ds.select({"split": ["training"]})
    test = ds.select({"split": ["validation", "attack"]})
    t1 = time.perf_counter()
    train_seqs = Sequences.from_events(train.events, by="trace")
    model = Stide(k=6).fit(train_seqs)
    t_train = time.perf_counter() - t1
    t2 = time.perf_counter()
    test_seqs = Sequences.from_events(test.events, vocab=model.vocab_, by="trace")
    res = model.score_traces(test_seqs)
    t_score = time.perf_counter() - t2
    total = time.perf_counter() - t0
    label = dict(zip(test.traces.column("trace_id").to_pylist(), test.traces.column("label").to_pylist(), strict=True))
    y = np.array([label[t] == "anomalous" for t in res.column("trace_id").to_pylist()])
    print(f"ADFA-LD: {train.traces.num_rows} training traces ({train_seqs.n_calls:,} calls), "
          f"{res.num_rows} test traces ({int(y.sum())} attacks, {test_seqs.n_calls:,} calls)")
    print(f"stide k=6: {len(model.db_):,} distinct windows; {int(res.column('n_windows').to_numpy().sum()):,} test windows")
    for col in ("mismatch_rate", "anomaly_signal", "max_lfc", "max_hamming"):
        print(f"  ROC AUC of {col:15s} {roc_auc_score(y, res.column(col).to_numpy()):.4f}")
    print(f"time: load {t_load:.2f} s + select {t1 - t0 - t_load:.2f} s + train {t_train:.2f} s + "
          f"score with Hamming {t_score:.2f} s = {total:.2f} s (target < 10 s; shared machine under load)")
    if not args.sweep:
        return
    print("\nsweep (mismatch rate AUC; lookahead: mismatch percentage AUC)")
    for k in range(2, 11):
        row = []
        for make in (lambda k=k: Stide(k=k), lambda k=k: TStide(k=k), lambda k=k: LookaheadPairs(k=k)):
            m = make().fit(train_seqs)
            r = m.score_traces(test_seqs)
            yy = np.array([label[t] == "anomalous" for t in r.column("trace_id").to_pylist()])
            row.append(f"{m.name} {roc_auc_score(yy, r.column('score').to_numpy()):.4f}")
        print(f"  k={k:2d}: " + "  ".join(row))


if __name__ == "__main__":
    main()
