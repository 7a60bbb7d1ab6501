"""compare: scenario x mode x k rows against a baseline (hand-made event tables)."""

import numpy as np
import pyarrow as pa
import pytest

from syssense.compare import compare, js_divergence
from syssense.dataset import Dataset
from syssense.errors import InputFormatError


def _dataset():
    normal = ["open", "read", "mmap", "mmap", "open", "getrlimit", "mmap", "close"]
    traces, events = [], []
    spec = [("n1", "normal", "single", 1, normal), ("n2", "normal", "single", 2, normal),
            ("n3", "normal", "single", 3, normal[:6] + ["read"] + normal[6:]),
            ("r1", "recon", "single", 1, normal[:3] + ["socket", "connect", "socket"] + normal[3:])]
    for tid, scen, mode, run, calls in spec:
        cat = "normal" if scen == "normal" else "recon"
        traces.append({"trace_id": tid, "scenario": scen, "category": cat, "mode": mode, "run": run})
        for i, c in enumerate(calls):
            events.append({"trace_id": tid, "seq": i, "pid": 100, "syscall": c, "kind": "syscall"})
    return Dataset(pa.Table.from_pylist(traces), pa.Table.from_pylist(events))


def test_compare_rows_per_scenario_mode_k():
    t = compare(_dataset(), baseline="normal", ks=range(2, 5))
    rows = t.to_pylist()
    assert [(r["scenario"], r["k"]) for r in rows] == [("normal", 2), ("normal", 3), ("normal", 4),
                                                         ("recon", 2), ("recon", 3), ("recon", 4)]
    base = {r["k"]: r for r in rows if r["is_baseline"]}
    recon = {r["k"]: r for r in rows if not r["is_baseline"]}
    # the baseline is scored leave-one-run-out: run 3 has an extra 'read' the others lack
    assert all(r["holdout"] for r in base.values())
    assert 0 < base[4]["mismatch_rate"] < recon[4]["mismatch_rate"]
    # recon, k=4: 8 windows, of which only those away from the inserted calls match
    r4 = recon[4]
    assert r4["n_windows"] == 8 and r4["n_traces"] == 1
    assert r4["coverage"] == pytest.approx(1 - r4["mismatch_rate"])
    assert r4["max_hamming"] >= 3 and r4["anomaly_signal"] == pytest.approx(r4["max_hamming"] / 4)
    assert r4["max_lfc"] == round(r4["mismatch_rate"] * 8)  # all mismatches fall within 20 windows
    assert r4["new_calls"] == 2 and r4["new_call_names"] == "socket,connect"
    assert r4["js_divergence"] > base[4]["js_divergence"] >= 0
    # coverage falls (or stays) as k grows for the anomalous scenario
    assert recon[2]["coverage"] >= recon[3]["coverage"] >= recon[4]["coverage"]


def test_compare_errors_and_js():
    with pytest.raises(InputFormatError, match="baseline"):
        compare(_dataset(), baseline="nothing")
    with pytest.raises(InputFormatError, match="window sizes"):
        compare(_dataset(), ks=[0])
    assert js_divergence(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)
    assert js_divergence(np.array([3, 1]), np.array([6, 2])) == pytest.approx(0.0)
