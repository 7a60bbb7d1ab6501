"""Benchmark: Kim et al. 2016's LSTM ensemble on ADFA-LD (issue 6, section 4, third attempt).

Pre-registered in notes/issue-6-session3.md (part A) before any test score: three system-call
language models (one layer of 200 units, one of 400, two of 400; embedding 32; every other
setting `LSTMDetector`'s default) trained on Training_Data_Master with 10 % of it held out for
early stopping (seed 0, the same traces for all three), trace score = mean NLL per call, and
the ensemble = mean robust z-score of the members, each calibrated on its scores of those
held-out training traces. Also from the same run: every member alone, and the references
ngram k=6 and cover with their calibration scores (fitted on the other 90 % of the training
traces). Every per-trace score is saved to bench/out/adfa_session3_scores.npz for
bench/adfa_tfidf.py (part C). Nothing here is chosen on the test traces.

Run: ``.venv/bin/python bench/adfa_lstm_ensemble.py`` (needs ``pip install 'syssense[lstm]'``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from _adfa import SAVED_SCORES, ZIP, published_split, report, scores_by_id
from syssense.detect.cover import CoverDetector
from syssense.detect.ensemble import robust_z
from syssense.detect.lstm import LSTMDetector
from syssense.detect.ngram import NGram
from syssense.features import Sequences

MEMBERS = {"lstm-200": (200, 1), "lstm-400": (400, 1), "lstm-2x400": (400, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ZIP)
    ap.add_argument("--out", type=Path, default=SAVED_SCORES)
    args = ap.parse_args()
    t0 = time.perf_counter()
    _ds, train_seqs, test = published_split(args.zip)
    print(f"loaded in {time.perf_counter() - t0:.1f} s: {len(train_seqs)} training traces "
          f"({train_seqs.n_calls:,} calls)", flush=True)
    label = dict(zip(test.traces.column("trace_id").to_pylist(), test.traces.column("label").to_pylist(), strict=True))

    saved: dict[str, np.ndarray] = {}
    held_ids: list[str] | None = None
    tids: list[str] | None = None
    y = None
    for name, (hidden, layers) in MEMBERS.items():
        det = LSTMDetector(hidden=hidden, layers=layers)
        with Progress(TextColumn(f"{name} training"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs"),
                      TextColumn("held-out NLL {task.fields[nll]}"), TimeElapsedColumn()) as bar:
            task = bar.add_task("fit", total=det.epochs, nll="-")
            det.progress = lambda i, n, ll, task=task, bar=bar: bar.update(task, completed=i, nll=f"{ll:.3f}")
            t1 = time.perf_counter()
            det.fit(train_seqs)
            fit_s = time.perf_counter() - t1
        info = det.train_info_
        curve = ", ".join(f"{e['heldout_nll']:.3f}" for e in info["epochs"])
        print(f"  {name}: kept epoch {info['kept_epoch']} of {len(info['epochs'])}; held-out NLL per epoch: {curve}")
        if held_ids is None:
            held_ids = list(info["heldout_trace_ids"])
        elif list(info["heldout_trace_ids"]) != held_ids:
            raise SystemExit("the members held out different training traces; the calibration would differ")
        test_seqs = Sequences.from_events(test.events, vocab=det.vocab_, by="trace")
        held_set = set(held_ids)
        held = np.flatnonzero([t in held_set for t in train_seqs.trace_ids])
        t2 = time.perf_counter()
        res = det.score_traces(test_seqs)
        score_s = time.perf_counter() - t2
        if tids is None:
            tids = res.column("trace_id").to_pylist()
            y = np.array([label[t] == "anomalous" for t in tids])
            print(f"test: {len(tids)} traces ({int(y.sum())} attacks), {test_seqs.n_calls:,} calls", flush=True)
        saved[f"{name}_test"] = scores_by_id(res, tids)
        saved[f"{name}_calib"] = det.score_traces(train_seqs.take(held)).column("score").to_numpy()
        saved[f"{name}_fit_s"] = np.array(fit_s)
        saved[f"{name}_score_s"] = np.array(score_s)
        report(name, y, saved[f"{name}_test"], f"fit {fit_s:.1f} s, score {score_s:.1f} s")

    assert tids is not None and y is not None and held_ids is not None
    ens = np.mean([robust_z(saved[f"{m}_calib"], saved[f"{m}_test"]) for m in MEMBERS], axis=0)
    saved["ensemble_test"] = ens
    saved["ensemble_calib"] = np.mean([robust_z(saved[f"{m}_calib"], saved[f"{m}_calib"]) for m in MEMBERS], axis=0)
    print("pre-registered result A:")
    report("LSTM ensemble (mean z of 3)", y, ens,
           f"fit {sum(float(saved[f'{m}_fit_s']) for m in MEMBERS):.0f} s in all")

    # references from the same run, with their calibration scores on the held-out 10 %
    held_set = set(held_ids)
    held = np.flatnonzero([t in held_set for t in train_seqs.trace_ids])
    rest = np.flatnonzero([t not in held_set for t in train_seqs.trace_ids])
    for name, make in (("ngram-6", lambda: NGram(k=6)), ("cover", CoverDetector)):
        t3 = time.perf_counter()
        det = make().fit(train_seqs)
        saved[f"{name}_test"] = scores_by_id(det.score_traces(Sequences.from_events(test.events, vocab=det.vocab_, by="trace")), tids)
        took = time.perf_counter() - t3
        part = make().fit(train_seqs.take(rest))
        saved[f"{name}_calib"] = part.score_traces(train_seqs.take(held)).column("score").to_numpy()
        report(f"{name} (reference)", y, saved[f"{name}_test"], f"fit+score {took:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, trace_id=np.array(tids), y=y, heldout_trace_id=np.array(held_ids), **saved)
    print(f"scores saved to {args.out}; total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
