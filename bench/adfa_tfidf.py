"""Benchmark: the tf-idf nearest-neighbour detector on ADFA-LD, and the pre-registered fusion
(issue 6, section 4, third attempt; notes/issue-6-session3.md parts B and C).

B: ``TfidfDetector(n=3)`` trained on Training_Data_Master (833 traces), scored on
Validation_Data_Master + Attack_Data_Master: AUC with bootstrap CI, DR at 1 %/5 % FAR, fit and
score seconds, and stide k=6 from the same run as the reference.
C: mean robust z-score of the LSTM ensemble (A), tfidf, cover and ngram k=6, each calibrated
on its scores of the 10 % of training traces held out in bench/adfa_lstm_ensemble.py (which
must have run first and saved bench/out/adfa_session3_scores.npz); tfidf's calibration model
is fitted on the other 90 %. Nothing here is chosen on the test traces.

Run: ``.venv/bin/python bench/adfa_tfidf.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _adfa import SAVED_SCORES, ZIP, published_split, report, saved_scores, scores_by_id
from syssense.detect.ensemble import robust_z
from syssense.detect.stide import Stide
from syssense.detect.tfidf import TfidfDetector
from syssense.features import Sequences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP)
    ap.add_argument("--scores", type=Path, default=SAVED_SCORES)
    args = ap.parse_args()
    saved, tids, y = saved_scores(args.scores)
    held_set = set(saved["heldout_trace_id"].tolist())

    t0 = time.perf_counter()
    _ds, train_seqs, test = published_split(args.zip)
    print(f"loaded in {time.perf_counter() - t0:.1f} s", flush=True)

    t1 = time.perf_counter()
    det = TfidfDetector(n=3).fit(train_seqs)
    fit_s = time.perf_counter() - t1
    test_seqs = Sequences.from_events(test.events, vocab=det.vocab_, by="trace")
    t2 = time.perf_counter()
    res = det.score_traces(test_seqs)
    score_s = time.perf_counter() - t2
    s_tfidf = scores_by_id(res, tids)
    print(f"tfidf: {len(det.terms()):,} training n-gram terms (n = 1..3); test {len(tids)} traces, "
          f"{int(y.sum())} attacks, {test_seqs.n_calls:,} calls")
    print("pre-registered result B:")
    report("tfidf n=3, nearest neighbour", y, s_tfidf, f"fit {fit_s:.2f} s, score {score_s:.2f} s")

    t3 = time.perf_counter()
    st = Stide(k=6).fit(train_seqs)
    s_stide = scores_by_id(st.score_traces(Sequences.from_events(test.events, vocab=st.vocab_, by="trace")), tids)
    report("stide k=6 (reference)", y, s_stide, f"fit+score {time.perf_counter() - t3:.2f} s")

    held = np.flatnonzero([t in held_set for t in train_seqs.trace_ids])
    rest = np.flatnonzero([t not in held_set for t in train_seqs.trace_ids])
    calib_tfidf = TfidfDetector(n=3).fit(train_seqs.take(rest)).score_traces(train_seqs.take(held)).column("score").to_numpy()
    members = {
        "LSTM ensemble": (saved["ensemble_calib"], saved["ensemble_test"]),
        "tfidf": (calib_tfidf, s_tfidf),
        "cover": (saved["cover_calib"], saved["cover_test"]),
        "ngram k=6": (saved["ngram-6_calib"], saved["ngram-6_test"]),
    }
    fused = np.mean([robust_z(c, s) for c, s in members.values()], axis=0)
    print("pre-registered result C:")
    report("fusion: " + " + ".join(members), y, fused)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
