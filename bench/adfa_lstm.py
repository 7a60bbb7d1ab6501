"""Benchmark: the LSTM language-model detector on ADFA-LD (issue 6, section 4).

Protocol (Creech & Hu 2013; Kim et al. 2016, arXiv:1611.01726): train on
Training_Data_Master (833 normal traces; the detector holds out 10 % of them, seeded, for
early stopping), score Validation_Data_Master (4,372 normal) + Attack_Data_Master (746) and
report ROC AUC, detection rate at 1 % and 5 % false alarms, fit and score seconds. One
sequence per trace. Also the combination fixed before any test score was seen
(notes/issue-6-lstm.md): mean of the robust z-scores of lstm and ngram k=6, each calibrated
on the held-out 10 % of the training traces, and ngram k=6 alone as a reference from the
same run. Nothing here is chosen on the test traces.

Run: ``.venv/bin/python bench/adfa_lstm.py`` (needs ``pip install 'syssense[lstm]'``).
The machine is shared with other engineers' jobs: timings were taken under load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from _adfa import ZIP, report
from syssense.detect.ensemble import robust_z
from syssense.detect.lstm import LSTMDetector
from syssense.detect.ngram import NGram
from syssense.features import Sequences
from syssense.parse.registry import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP)
    ap.add_argument("--seed", type=int, default=0, help="LSTM initialisation and hold-out split (default 0)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = load(args.zip)
    train = ds.select({"split": ["training"]})
    test = ds.select({"split": ["validation", "attack"]})
    train_seqs = Sequences.from_events(train.events, by="trace")
    print(f"loaded in {time.perf_counter() - t0:.1f} s: {len(train_seqs)} training traces "
          f"({train_seqs.n_calls:,} calls, {len(train_seqs.vocab) - 2} calls in the vocabulary)")

    det = LSTMDetector(seed=args.seed)
    with Progress(TextColumn("lstm training"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs"),
                  TextColumn("held-out NLL {task.fields[nll]}"), TimeElapsedColumn()) as bar:
        task = bar.add_task("fit", total=det.epochs, nll="-")
        det.progress = lambda i, n, ll: bar.update(task, completed=i, nll=f"{ll:.3f}")
        t1 = time.perf_counter()
        det.fit(train_seqs)
        fit_s = time.perf_counter() - t1
    info = det.train_info_
    for e in info["epochs"]:
        print(f"    epoch {e['epoch']:2d}: train NLL {e['train_nll']:.3f}, held-out NLL {e['heldout_nll']:.3f}, "
              f"{e['seconds']:.1f} s")
    print(f"  kept epoch {info['kept_epoch']} (lowest held-out NLL; {info['heldout_traces']} held-out "
          f"training traces, trained on {info['train_traces']})")

    test_seqs = Sequences.from_events(test.events, vocab=det.vocab_, by="trace")
    t2 = time.perf_counter()
    res = det.score_traces(test_seqs)
    score_s = time.perf_counter() - t2
    label = dict(zip(test.traces.column("trace_id").to_pylist(), test.traces.column("label").to_pylist(), strict=True))
    tids = res.column("trace_id").to_pylist()
    y = np.array([label[t] == "anomalous" for t in tids])
    s_lstm = res.column("score").to_numpy()
    print(f"test: {len(tids)} traces ({int(y.sum())} attacks), {test_seqs.n_calls:,} calls")
    report("lstm (mean NLL per call)", y, s_lstm, f"fit {fit_s:.1f} s, score {score_s:.1f} s")

    # ngram k=6 reference, and the pre-registered z-score combination
    held_ids = set(info["heldout_trace_ids"])
    held = np.flatnonzero([t in held_ids for t in train_seqs.trace_ids])
    rest = np.flatnonzero([t not in held_ids for t in train_seqs.trace_ids])
    t3 = time.perf_counter()
    ng = NGram(k=6).fit(train_seqs)
    s_ng = dict(zip(*(ng.score_traces(test_seqs).column(c).to_pylist() for c in ("trace_id", "score")), strict=True))
    s_ng = np.array([s_ng[t] for t in tids])
    ng_s = time.perf_counter() - t3
    report("ngram k=6 (reference)", y, s_ng, f"fit+score {ng_s:.1f} s")
    cal_lstm = det.score_traces(train_seqs.take(held)).column("score").to_numpy()
    cal_ng = NGram(k=6).fit(train_seqs.take(rest)).score_traces(train_seqs.take(held)).column("score").to_numpy()
    combo = (robust_z(cal_lstm, s_lstm) + robust_z(cal_ng, s_ng)) / 2
    report("lstm + ngram k=6 (mean z)", y, combo)
    print(f"total {time.perf_counter() - t0:.1f} s (2 CPU cores shared with other engineers' jobs: timings under load)")


if __name__ == "__main__":
    main()
