"""Diagnostic: which ADFA-LD attack classes do the detectors miss? (notes/issue-6-session3.md, E)

Not a result and not used to choose anything. For every detector scored by
bench/adfa_lstm_ensemble.py (saved in bench/out/adfa_session3_scores.npz), plus stide k=6 and
tfidf computed here, it prints, per attack class (ADFA-LD's attack folder names), the ROC
AUC of that class against all 4,372 validation normals and the fraction of the class
above the threshold that flags 5 % of the validation normals.

Run: ``.venv/bin/python bench/adfa_per_attack.py`` (after bench/adfa_lstm_ensemble.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _adfa import SAVED_SCORES, ZIP, published_split, saved_scores, scores_by_id
from syssense.detect.stide import Stide
from syssense.detect.tfidf import TfidfDetector
from syssense.features import Sequences

SAVED = {"lstm ens.": "ensemble_test", "ngram k=6": "ngram-6_test", "cover": "cover_test"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP)
    ap.add_argument("--scores", type=Path, default=SAVED_SCORES)
    args = ap.parse_args()
    saved, tids, _y = saved_scores(args.scores)
    ds, train, test = published_split(args.zip)
    group = dict(zip(ds.traces.column("trace_id").to_pylist(), ds.traces.column("group").to_pylist(), strict=True))
    scores = {name: saved[key] for name, key in SAVED.items()}
    for name, det in (("stide k=6", Stide(k=6)), ("tfidf", TfidfDetector())):
        det.fit(train)
        scores[name] = scores_by_id(det.score_traces(Sequences.from_events(test.events, vocab=det.vocab_, by="trace")), tids)
    cls = np.array([group[t] or "normal" for t in tids], dtype=object)
    normal = cls == "normal"
    classes = sorted(set(cls[~normal]))
    head = f"{'attack class':18s}{'traces':>7s}  " + "".join(f"{n:>21s}" for n in scores)
    print("per attack class: AUC against all validation normals / detection at 5 % false alarms")
    print(head)
    for c in [*classes, "all attacks"]:
        pick = ~normal if c == "all attacks" else cls == c
        cells = []
        for s in scores.values():
            thr = np.quantile(s[normal], 0.95)
            y = np.r_[np.zeros(normal.sum()), np.ones(pick.sum())]
            auc = roc_auc_score(y, np.r_[s[normal], s[pick]])
            cells.append(f"{auc:9.3f} / {np.mean(s[pick] > thr):5.2f}    ")
        print(f"{c:18s}{int(pick.sum()):7d}  " + "".join(f"{x:>21s}" for x in cells))


if __name__ == "__main__":
    main()
