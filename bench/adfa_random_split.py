"""Analysis: how much do ADFA-LD's published split and its size cost? (notes/issue-6-session3.md part D, -session4.md part F)

Not a result for the 0.93 aim. The published protocol trains on Training_Data_Master (833
normal traces) and tests on Validation_Data_Master (4,372 normal) + Attack_Data_Master (746).
Many later papers instead draw their training traces at random from all normal traces. This
script runs both protocols side by side for the same detectors (stide k=6, ngram k=6, cover,
tfidf): the random one pools the 5,205 normal traces, draws 833 for training (seed given,
default 0) and tests on the other 4,372 normal traces + the 746 attacks, so both test sets
have the same size and mix. With ``--fractions`` it draws other shares of the 5,205 normal
traces for training (a learning curve: does more normal data close the gap?) and tests on the
rest of the normals + the 746 attacks. No attack trace is ever trained on; nothing is tuned.

Run: ``.venv/bin/python bench/adfa_random_split.py [--seeds 0 1 2] [--fractions 0.16 0.3 ...]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _adfa import ZIP, scores_by_id
from syssense.detect.cover import CoverDetector
from syssense.detect.frequency import FrequencyDetector
from syssense.detect.ngram import NGram
from syssense.detect.stide import Stide
from syssense.detect.tfidf import TfidfDetector
from syssense.features import Sequences
from syssense.parse.registry import load

DETECTORS = {"stide k=6": lambda: Stide(k=6), "ngram k=6": lambda: NGram(k=6),
             "cover": CoverDetector, "tfidf": TfidfDetector, "frequency": FrequencyDetector}


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
    ap.add_argument("--fractions", type=float, nargs="+", default=None,
                    help="shares of all normal traces to train on (default: the published 833)")
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
    sizes = [len(training)] if args.fractions is None else [round(f * len(normal)) for f in args.fractions]
    per_size: dict[int, list[dict[str, float]]] = {}
    for n_train in sizes:
        for seed in args.seeds:
            perm = np.random.default_rng(seed).permutation(normal)
            tr, te_normal = perm[:n_train], perm[n_train:]
            r = aucs(seqs, tr, np.concatenate([te_normal, attack]),
                     np.r_[np.zeros(len(te_normal)), np.ones(len(attack))])
            rows[f"random split, {n_train} train / {len(te_normal)} normal test, seed {seed}"] = r
            per_size.setdefault(n_train, []).append(r)
            print(f"  done: {n_train} training traces, seed {seed} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if len(args.seeds) > 1:
        for n_train, runs in per_size.items():
            rows[f"random split, {n_train} train ({n_train / len(normal):.2f}), mean of {len(runs)} seeds"] = {
                d: float(np.mean([r[d] for r in runs])) for d in DETECTORS}
    print(f"{'protocol (test: the normals not trained on + 746 attacks)':72s}" + "".join(f"{d:>11s}" for d in DETECTORS))
    for label, r in rows.items():
        print(f"{label:72s}" + "".join(f"{r[d]:11.4f}" for d in DETECTORS))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
