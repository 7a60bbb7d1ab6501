"""The report's own stide reading agrees with the stide detector, and holds the baseline out."""

from __future__ import annotations

import numpy as np
import pytest

from syssense.features import Sequences
from syssense.report import analysis as A
from test_report_fixtures import fixture_dataset


@pytest.fixture(scope="module")
def ds():
    return fixture_dataset()


def test_matches_the_stide_detector_outside_the_baseline(ds) -> None:
    from syssense.detect.stide import Stide

    view = A.stide_view(ds, 6)
    mine = dict(zip(ds.traces.column("trace_id").to_pylist(), A.trace_scores(view).to_pylist(), strict=True))
    model = Stide(k=6).fit(Sequences.from_events(ds.select({"category": ["normal"]}).events))
    theirs = {r["trace_id"]: r for r in model.score_traces(Sequences.from_events(ds.events)).to_pylist()}
    for tid in ("priv-0", "priv-1", "recon-0", "xss-0"):
        assert mine[tid]["mismatch_rate"] == pytest.approx(theirs[tid]["mismatch_rate"])
        assert mine[tid]["max_lfc"] == theirs[tid]["max_lfc"]
        assert mine[tid]["n_windows"] == theirs[tid]["n_windows"]


def test_baseline_is_held_out(ds) -> None:
    view = A.stide_view(ds, 6)
    assert view.holdout == "run"
    scores = A.trace_scores(view).column("mismatch_rate").to_pylist()
    # normal runs differ a little (dates, pids): scored against the other run they are not perfect
    assert 0 < scores[0] < 0.1 and 0 < scores[1] < 0.1


def test_coverage_rows_and_lfc_bounds(ds) -> None:
    rows = A.coverage_rows(ds, [2, 4, 8])
    by = {(r["scenario"], r["k"]): r for r in rows}
    # coverage falls as k grows (longer windows are rarer)
    assert by[("priv", 2)]["coverage"] >= by[("priv", 4)]["coverage"] >= by[("priv", 8)]["coverage"]
    view = A.stide_view(ds, 6)
    assert view.lfc.max() <= A.LFC_FRAME and view.lfc.min() >= 0
    assert np.all(view.lfc[view.match & (view.index.start == 0)] == 0)


def test_anomalous_windows_decode_to_log_lines(ds) -> None:
    view = A.stide_view(ds, 6)
    wins = A.anomalous_windows(ds, view, top=10)
    assert wins and all(w["category"] != "normal" for w in wins)
    per_trace: dict[str, int] = {}
    for w in wins:
        per_trace[w["trace_id"]] = per_trace.get(w["trace_id"], 0) + 1
        assert len(w["calls"]) == 6
        assert [c["line"] for c in w["calls"]] == sorted(c["line"] for c in w["calls"])
        assert " → ".join(c["name"] for c in w["calls"]) == w["window"]
        assert 1 <= w["hamming"] <= 6
    assert max(per_trace.values()) <= 2
    lfcs = [w["lfc"] for w in wins]
    assert lfcs[0] == max(lfcs)


def test_paired_baselines() -> None:
    from test_interpret import NORMAL, make_dataset

    ds = make_dataset([("normal-single", "normal", 0, NORMAL), ("normal-multi", "normal", 0, NORMAL),
                       ("stress-normal", "normal", 0, NORMAL), ("stress-cpu", "cpu", 0, NORMAL),
                       ("priv-single", "priv", 0, NORMAL), ("odd", "other", 0, NORMAL)])
    pairs = A.paired_baselines(ds, "normal")
    assert pairs["stress-cpu"] == ["stress-normal"]
    assert pairs["priv-single"] == ["normal-single"]
    assert pairs["odd"] == ["normal-multi", "normal-single", "stress-normal"]


def test_lonely_baseline_trace_is_not_scored() -> None:
    from test_interpret import NORMAL, PRIV, make_dataset

    ds = make_dataset([("normal", "normal", 0, NORMAL), ("priv", "priv", 0, PRIV)])
    view = A.stide_view(ds, 3)
    scores = A.trace_scores(view).to_pylist()
    assert scores[0]["coverage"] is None and scores[0]["n_windows"] == 0  # nothing to hold it out against
    assert scores[1]["coverage"] == pytest.approx((len(NORMAL) - 2) / (len(PRIV) - 2))
    rows = A.coverage_rows(ds, [3])
    assert [r["scenario"] for r in rows] == ["priv"]


def test_timing_samples_match_a_plain_python_reading(ds) -> None:
    samples = A.timing_samples(ds, "category")
    rows = [r for r in ds.events.select(["trace_id", "pid", "seq", "ts", "kind"]).to_pylist() if r["kind"] == "syscall"]
    traces = dict(zip(ds.traces.column("trace_id").to_pylist(), ds.traces.column("category").to_pylist(), strict=True))
    rows.sort(key=lambda r: (r["trace_id"], r["pid"], r["seq"]))
    expect: dict[str, list[float]] = {}
    for a, b in zip(rows, rows[1:], strict=False):
        if a["trace_id"] == b["trace_id"] and a["pid"] == b["pid"] and b["ts"] - a["ts"] > 0:
            expect.setdefault(traces[a["trace_id"]], []).append(b["ts"] - a["ts"])
    assert set(samples) == set(expect)
    for cat, gaps in expect.items():
        got = np.sort(samples[cat]["inter-arrival time"])
        assert np.allclose(got, np.sort(gaps))
