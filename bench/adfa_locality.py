"""ADFA-LD, round G of notes/issue-6-session4.md: locality trace scores (Hofmeyr, Forrest & Somayaji 1998).

Pre-registered before any of these scores: G1 stide k=6 ``trace_score="lfc"`` (largest
locality frame count, L = 20), G2 cover ``trace_score="lfc"`` (most covering breaks among
20 consecutive calls), G3 ngram k=6 ``trace_score="max"`` (largest mean surprisal of a
6-call window); each beside its whole-trace version from the same run. Published split:
833 Training -> 4,372 Validation vs 746 Attack, one sequence per trace, through
``syssense.evaluate`` (AUC with 1,000-resample bootstrap CI, DR at 1 % / 5 % FAR).

Run: ``.venv/bin/python bench/adfa_locality.py``.
"""

from __future__ import annotations

import os
import time

from _adfa import ZIP
from syssense.evaluate import evaluate
from syssense.parse.registry import load

RUNS = [  # (label, detector, params)
    ("stide k=6, mismatch rate", "stide", {}),
    ("G1 stide k=6, max LFC (L=20)", "stide", {"trace_score": "lfc", "locality": 20}),
    ("cover, breaks per call", "cover", {}),
    ("G2 cover, max breaks per 20 calls", "cover", {"trace_score": "lfc", "locality": 20}),
    ("ngram k=6, mean surprisal", "ngram", {}),
    ("G3 ngram k=6, max 6-call window", "ngram", {"trace_score": "max"}),
]


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    ds = load(ZIP)
    for label, name, params in RUNS:
        t0 = time.perf_counter()
        row = evaluate(ds, detectors=name, ks=6, n_bootstrap=1000, recording=False, by="trace",
                       params={name: params}).rows[0]
        print(f"  {label:36s} AUC {row['auc']:.4f} (95% CI {row['auc_lo']:.3f}-{row['auc_hi']:.3f})  "
              f"DR@1%FAR {row['dr_at_far_1']:.3f}  DR@5%FAR {row['dr_at_far_5']:.3f}  "
              f"fit {row['fit_seconds']:.2f} s  score {row['score_seconds']:.2f} s  ({time.perf_counter() - t0:.1f} s)",
              flush=True)


if __name__ == "__main__":
    main()
