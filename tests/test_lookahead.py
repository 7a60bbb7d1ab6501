"""Lookahead pairs (Forrest et al. 1996) on the paper's worked example."""

import pytest

from syssense.detect.lookahead import LookaheadPairs, max_mismatches
from syssense.features import Sequences

NORMAL = ["open", "read", "mmap", "mmap", "open", "getrlimit", "mmap", "close"]
NEW = ["open", "read", "mmap", "open", "open", "getrlimit", "mmap", "close"]


def test_forrest_1996_lookahead_pairs_k4():
    model = LookaheadPairs(k=4).fit(Sequences.from_lists([NORMAL]))
    # the paper's table of successors at positions 1, 2, 3
    assert model.database() == {
        ("open", 1, "read"), ("open", 1, "getrlimit"), ("open", 2, "mmap"), ("open", 3, "mmap"), ("open", 3, "close"),
        ("read", 1, "mmap"), ("read", 2, "mmap"), ("read", 3, "open"),
        ("mmap", 1, "mmap"), ("mmap", 1, "open"), ("mmap", 1, "close"), ("mmap", 2, "open"),
        ("mmap", 2, "getrlimit"), ("mmap", 3, "getrlimit"), ("mmap", 3, "mmap"),
        ("getrlimit", 1, "mmap"), ("getrlimit", 2, "close"),
    }
    assert model.n_pairs_ == 17
    row = model.score_traces(Sequences.from_lists([NEW], trace_ids=["new"])).to_pylist()[0]
    # open-3-open, read-2-open, open-1-open, open-2-getrlimit: 4 of at most (k-1)(L-k/2) = 18
    assert row["mismatches"] == 4
    assert row["max_mismatches"] == 18 == max_mismatches(8, 4)
    assert row["mismatch_pct"] == pytest.approx(100 * 4 / 18)
    assert row["score"] == pytest.approx(4 / 18)
    # per k-window: mismatching pairs anchored at the window's first call
    assert model.score_windows(Sequences.from_lists([NEW])).tolist() == [1, 1, 0, 2, 0]
    assert model.score_trace(Sequences.from_lists([NORMAL])) == 0.0


def test_lookahead_unknown_calls_short_sequences_and_incremental():
    model = LookaheadPairs(k=3).fit(Sequences.from_lists([list("abc")]))
    t = model.score_traces(Sequences.from_lists([list("abz"), list("a")], trace_ids=["x", "y"])).to_pylist()
    rows = {r["trace_id"]: r for r in t}
    assert rows["x"]["mismatches"] == 2 and rows["x"]["max_mismatches"] == 3  # a-2-z, b-1-z
    assert rows["y"]["max_mismatches"] == 0 and rows["y"]["score"] == 0.0
    model.partial_fit(Sequences.from_lists([list("abz")]))
    assert model.score_trace(Sequences.from_lists([list("abz")])) == 0.0
    assert ("b", 1, "z") in model.database()
