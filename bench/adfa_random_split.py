"""Analysis: how much does ADFA-LD's published split cost? (notes/issue-6-session3.md, part D)

Not a result for the 0.93 aim. The published protocol trains on Training_Data_Master (833
normal traces) and tests on Validation_Data_Master (4,372 normal) + Attack_Data_Master (746).
Many later papers instead draw their training traces at random from all normal traces. This
script runs both protocols side by side for the same detectors (stide k=6, ngram k=6, cover,
tfidf): the random one pools the 5,205 normal traces, draws 833 for training (seed given,
default 0) and tests on the other 4,372 normal traces + the 746 attacks, so both test sets
have the same size and mix. No attack trace is ever trained on; nothing is tuned.

Run: ``.venv/bin/python bench/adfa_random_split.py [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _adfa import ZIP, scores_by_id
from syssense.detect.cover import CoverDetector
from syssense.detect.ngram import NGram
from syssense.detect.stide import Stide
from syssense.detect.tfidf import TfidfDetector
from syssense.features import Sequences
from syssense.parse.registry import load

DETECTORS = {"stide k=6": lambda: Stide(k=6), "ngram k=6": lambda: NGram(k=6),
             "cover": CoverDetector, "tfidf": TfidfDetector}


def aucs(seqs: Sequences, train: np.ndarray, test: np.ndarray, y: np.ndarray) -> dict[str, float]:
    out = {}
    for name, make in DETECTORS.items():
        det = make().fit(seqs.take(train))
        scores = scores_by_id(det.score_traces(seqs.take(test)), list(seqs.trace_ids[test]))
        out[name] = float(roc_auc_score(y, scores))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = load(args.zip)
    seqs = Sequences.from_events(ds.events, by="trace")
    split = dict(zip(ds.traces.column("trace_id").to_pylist(), ds.traces.column("split").to_pylist(), strict=True))
    kind = np.array([split[t] for t in seqs.trace_ids])
    training = np.flatnonzero(kind == "training")
    validation = np.flatnonzero(kind == "validation")
    attack = np.flatnonzero(kind == "attack")
    print(f"loaded in {time.perf_counter() - t0:.1f} s: {len(training)} training, {len(validation)} validation, "
          f"{len(attack)} attack traces")
    rows = {"published split": aucs(seqs, training, np.concatenate([validation, attack]),
                                    np.r_[np.zeros(len(validation)), np.ones(len(attack))])}
    normal = np.concatenate([training, validation])
    for seed in args.seeds:
        perm = np.random.default_rng(seed).permutation(normal)
        tr, te_normal = perm[: len(training)], perm[len(training):]
        rows[f"random split, seed {seed}"] = aucs(seqs, tr, np.concatenate([te_normal, attack]),
                                                   np.r_[np.zeros(len(te_normal)), np.ones(len(attack))])
    print(f"{'protocol (833 training normals; 4,372 test normals + 746 attacks)':68s}" + "".join(f"{d:>11s}" for d in DETECTORS))
    for label, r in rows.items():
        print(f"{label:68s}" + "".join(f"{r[d]:11.4f}" for d in DETECTORS))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
