"""HMM partial_fit and merge on ADFA-LD against training on everything at once.

    .venv/bin/python bench/hmm_update.py

The 833 ADFA-LD training traces are split in two halves (A, B; fixed seed). Four models,
same parameters (10 states, 30 iterations):
  full   = fit(A + B)                  (the reference, measured in the same run)
  update = fit(A).partial_fit(B)
  merged = fit(A).merge(fit(B))
  half   = fit(A)                      (what the update starts from)
For each: training time, mean per-call log-likelihood of the training traces (A + B) and of
the validation traces, and ROC AUC (Validation normal vs Attack, trace score = mean per-call
NLL). The machine is shared with other jobs, so times are under load.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from syssense.detect.hmm import HMMDetector
from syssense.features import Sequences
from syssense.parse.registry import load

ADFA = Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip")


def main() -> None:
    ds = load(ADFA, "adfa-ld")
    seqs = Sequences.from_events(ds.events, by="trace")
    split = dict(zip(ds.traces.column("trace_id").to_pylist(), ds.traces.column("split").to_pylist(), strict=True))
    label = dict(zip(ds.traces.column("trace_id").to_pylist(), ds.traces.column("label").to_pylist(), strict=True))
    ids = np.array([str(t) for t in seqs.trace_ids])
    sp = np.array([split[t] for t in ids])
    train_idx = np.flatnonzero(sp == "training")
    rng = np.random.default_rng(0)
    rng.shuffle(train_idx)
    half_a, half_b = np.sort(train_idx[: len(train_idx) // 2]), np.sort(train_idx[len(train_idx) // 2:])
    test_idx = np.flatnonzero(sp != "training")
    A, B, T = seqs.take(half_a), seqs.take(half_b), seqs.take(test_idx)
    train_all = seqs.take(np.sort(train_idx))
    y = np.array([label[t] != "normal" for t in ids[test_idx]])
    val = seqs.take(np.flatnonzero(sp == "validation"))
    print(f"A: {len(A)} traces {A.n_calls} calls; B: {len(B)} traces {B.n_calls} calls; "
          f"test: {len(T)} traces ({int(y.sum())} attacks)")

    def timed(f):
        t0 = time.perf_counter()
        out = f()
        return out, time.perf_counter() - t0

    models = {}
    models["full"], t_full = timed(lambda: HMMDetector().fit(train_all))
    half, t_a = timed(lambda: HMMDetector().fit(A))
    models["half"] = half
    models["update"], t_up = timed(lambda: copy.deepcopy(half).partial_fit(B))
    mb, t_b = timed(lambda: HMMDetector().fit(B))
    models["merged"], t_m = timed(lambda: copy.deepcopy(half).merge(mb))
    times = {"full": t_full, "half": t_a, "update": t_a + t_up, "merged": t_a + t_b + t_m}
    print(f"{'model':8} {'train s':>8} {'x full':>7} {'ll/call train':>14} {'ll/call valid':>14} {'AUC':>6}")
    for name, m in models.items():
        ll_train = m.call_logprob(train_all).sum() / train_all.n_calls
        ll_val = m.call_logprob(val).sum() / val.n_calls
        auc = roc_auc_score(y, m.score_traces(T).column("score").to_numpy())
        print(f"{name:8} {times[name]:8.1f} {times[name] / t_full:7.2f} {ll_train:14.4f} {ll_val:14.4f} {auc:6.3f}")
    print(f"(update step alone: {t_up:.1f} s, {models['update'].iterations_} iterations; merge step alone: {t_m:.3f} s, "
          f"state matching cost {models['merged'].merge_cost_:.3f})")


if __name__ == "__main__":
    main()
