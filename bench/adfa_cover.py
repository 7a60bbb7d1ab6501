"""Benchmark: the sequence-covering detector ("cover", Marteau 2019) on ADFA-LD (issue 6, section 4).

Protocol (Creech & Hu 2013; published split): train on Training_Data_Master (833 normal
traces), score Validation_Data_Master (4,372 normal) + Attack_Data_Master (746 attacks)
through ``syssense.evaluate`` and print ROC AUC with its 95 % bootstrap CI, detection rate
at 1 % and 5 % false alarms, per-recording figures, fit and score seconds, for

* ``cover`` (trace score = segments of the greedy longest-match covering / calls);
* the combination pre-registered in notes/issue-6-cover.md (commit cc79d9f):
  ``Ensemble(members=("cover", "ngram"), k=6, combine="z", folds=2, seed=0)``, robust
  z-scores calibrated on out-of-fold *training* scores (trace level only: the members'
  window layouts differ, so no per-recording figures);
* stide k = 6 (the reference, measured in the same run) and ngram k = 6.

Nothing is chosen on test traces. Also times building the suffix array on the whole
training corpus and scoring the ~2.4 M test calls, separately.

Run: ``.venv/bin/python bench/adfa_cover.py``. The machine has 2 CPU cores shared with
three other engineers' jobs: timings were taken under load (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from syssense.detect.cover import CoverDetector
from syssense.evaluate import evaluate
from syssense.features import Sequences
from syssense.parse import load

ZIP = Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip")


def line(row: dict, label: str, ref: dict | None = None) -> str:
    t = row["fit_seconds"] + row["score_seconds"]
    out = (f"  {label:34s} AUC {row['auc']:.4f} (95% CI {row['auc_lo']:.3f}-{row['auc_hi']:.3f})  "
           f"DR@1%FAR {row['dr_at_far_1']:.3f}  DR@5%FAR {row['dr_at_far_5']:.3f}  "
           f"fit {row['fit_seconds']:.2f} s  score {row['score_seconds']:.2f} s")
    if "rec_dr" in row:
        out += f"  rec DR {row['rec_dr']:.3f} rec FAR {row['rec_far']:.3f}"
    if ref is not None:
        rt = ref["fit_seconds"] + ref["score_seconds"]
        out += f"\n  {'':34s} vs stide k=6: AUC {row['auc'] - ref['auc']:+.4f}, time {t / rt:.2f}x"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 CPU cores shared with other engineers)")
    t0 = time.perf_counter()
    ds = load(args.zip)
    print(f"loaded ADFA-LD in {time.perf_counter() - t0:.1f} s")

    # index build and scoring throughput, on their own
    train = ds.select({"split": ["training"]})
    test = ds.select({"split": ["validation", "attack"]})
    train_seqs = Sequences.from_events(train.events)
    t1 = time.perf_counter()
    det = CoverDetector().fit(train_seqs)
    text, _sa = det.index()
    t_index = time.perf_counter() - t1
    test_seqs = Sequences.from_events(test.events, vocab=det.vocab_)
    det.segment_starts(test_seqs.take([0]).recode(det.vocab_))  # numba compile / cache load
    t2 = time.perf_counter()
    det.score_traces(test_seqs)
    t_score = time.perf_counter() - t2
    print(f"cover: {len(train_seqs)} training sequences, {train_seqs.n_calls:,} calls "
          f"(suffix array over {len(text):,} symbols with separators) built in {t_index:.2f} s; "
          f"{len(test_seqs)} test sequences, {test_seqs.n_calls:,} calls scored in {t_score:.2f} s "
          f"({test_seqs.n_calls / max(t_score, 1e-9) / 1e6:.1f} M calls/s)")

    t3 = time.perf_counter()
    ev = evaluate(ds, detectors=["stide", "ngram", "cover"], ks=6)
    t_eval = time.perf_counter() - t3
    rows = {(r["detector"], r["k"]): r for r in ev.rows}
    t4 = time.perf_counter()
    ev2 = evaluate(ds, detectors="ensemble", ks=6, recording=False,
                   params={"ensemble": {"members": ["cover", "ngram"], "combine": "z", "folds": 2, "seed": 0}})
    t_ens = time.perf_counter() - t4
    info = ev.info
    print(f"ADFA-LD: {info['n_train']} training traces -> {info['n_test_normal']} validation (normal) "
          f"+ {info['n_test_anomalous']} attack traces ({info['split']} split)")
    ref = rows[("stide", 6)]
    print(line(ref, "stide k=6 (reference)"))
    print(line(rows[("ngram", 6)], "ngram k=6", ref))
    print(line(rows[("cover", None)], "cover (segments / calls)", ref))
    print(line(ev2.rows[0], "cover + ngram k=6 (ensemble, z)", ref))
    print(f"evaluate: stide+ngram+cover {t_eval:.1f} s, ensemble {t_ens:.1f} s; "
          f"total {time.perf_counter() - t0:.1f} s; load average now {os.getloadavg()[0]:.2f} "
          "(shared 2-core machine: timings under load)")


if __name__ == "__main__":
    main()
