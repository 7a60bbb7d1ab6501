"""Benchmark: the tfidf detector's fit and score speed on the largest UNM set, against stide
k=6 and the frequency detector (also one-class nearest neighbour) in the same run.

UNM sendmail (the stide set, 15.8 M calls, 13,831 processes): a random half of the normal
traces (seed 0) trains, the other half plus the intrusions are scored, one sequence per
process, as in bench/leaderboard.py. Prints seconds, calls per second, the ratio to stide
k=6, and the peak resident memory the process has reached after each step.

Run: ``.venv/bin/python bench/tfidf.py``.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from syssense.detect.frequency import FrequencyDetector
from syssense.detect.stide import Stide
from syssense.detect.tfidf import TfidfDetector
from syssense.evaluate import split_dataset
from syssense.features import Sequences
from syssense.parse.registry import load

SENDMAIL = Path("/work/shared/datasets/unm/stide")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    t0 = time.perf_counter()
    ds = load(SENDMAIL, "unm")
    train_ids, test_ids, _label, _info = split_dataset(ds, 0.5, 0)
    seqs = Sequences.from_events(ds.events, by="process")
    train, test = seqs.for_traces(train_ids), seqs.for_traces(test_ids)
    print(f"loaded in {time.perf_counter() - t0:.1f} s: {len(train)} training processes ({train.n_calls:,} calls), "
          f"{len(test)} test processes ({test.n_calls:,} calls); peak RSS so far {peak_mb():,.0f} MB")
    ref = None
    for name, make in (("stide k=6", lambda: Stide(k=6)), ("frequency (nn)", FrequencyDetector),
                       ("tfidf n=3", TfidfDetector)):
        t1 = time.perf_counter()
        det = make().fit(train)
        fit_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        det.score_traces(test)
        score_s = time.perf_counter() - t2
        total = fit_s + score_s
        ref = ref or total
        print(f"  {name:15s} fit {fit_s:6.2f} s, score {score_s:6.2f} s ({test.n_calls / score_s / 1e6:5.2f} M calls/s); "
              f"fit+score = {total / ref:5.1f}x stide k=6; peak RSS {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
