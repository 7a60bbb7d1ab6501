"""Sequence-covering detector (Marteau 2019): hand-worked coverings, separators, unseen
calls, optimality of greedy longest match, merge == whole, save/load, explain, evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syssense.detect import load_model, make_detector
from syssense.detect.cover import CoverDetector, suffix_array
from syssense.errors import ModelFormatError
from syssense.features import Sequences, Vocabulary

ADFA_SMALL = Path(__file__).parent / "data" / "evaluate" / "adfa-small"


def seqs(*traces: str, vocab: Vocabulary | None = None) -> Sequences:
    return Sequences.from_lists([t.split() for t in traces], vocab=vocab)


def rows(table, col: str) -> list:
    return table.column(col).to_pylist()


def naive_factors(train: list[list[int]]) -> set[tuple[int, ...]]:
    return {tuple(s[i:j]) for s in train for i in range(len(s)) for j in range(i + 1, len(s) + 1)}


def naive_greedy(factors: set[tuple[int, ...]], q: list[int]) -> list[int]:
    """Segment lengths of the greedy longest-match covering (the definition, by brute force)."""
    out, p = [], 0
    while p < len(q):
        n = 1
        while p + n < len(q) and tuple(q[p : p + n + 1]) in factors:
            n += 1
        out.append(n)
        p += n
    return out


def min_cover(factors: set[tuple[int, ...]], q: list[int]) -> int:
    """Fewest segments covering q (dynamic programming; unseen single calls allowed)."""
    best = [0] + [10**9] * len(q)
    for j in range(1, len(q) + 1):
        for i in range(j):
            if j - i == 1 or tuple(q[i:j]) in factors:
                best[j] = min(best[j], best[i] + 1)
    return best[len(q)]


def test_hand_worked_covering() -> None:
    det = CoverDetector().fit(seqs("open read write close", "open mmap close"))
    v = det.vocab_
    # open read write | close open mmap? no: "close open" never seen -> open read write close | open mmap close
    t = seqs("open read write close open mmap close", "read write read write", vocab=v)
    seg = det.segments(t)
    assert rows(seg, "length") == [4, 3, 2, 2]
    assert rows(seg, "position") == [0, 4, 0, 2]
    assert rows(seg, "calls")[:2] == ["open read write close", "open mmap close"]
    tab = det.score_traces(t)
    assert rows(tab, "segments") == [2, 2]
    assert rows(tab, "calls") == [7, 4]
    assert rows(tab, "score") == pytest.approx([2 / 7, 2 / 4])
    assert rows(tab, "shortest_segment") == [3, 2]
    assert rows(tab, "longest_segment") == [4, 2]
    # per-event: 1.0 where a segment starts after the first of its sequence
    w = det.score_windows(t)
    assert w.tolist() == [0, 0, 0, 0, 1, 0, 0] + [0, 0, 1, 0]
    # a training trace is covered by itself: one segment, no break
    self_tab = det.score_traces(seqs("open read write close", vocab=v))
    assert rows(self_tab, "segments") == [1]
    assert det.score_windows(seqs("open mmap close", vocab=v)).sum() == 0


def test_unseen_calls_are_segments_of_length_one() -> None:
    det = CoverDetector().fit(seqs("a b c"))
    t = seqs("a b zz c zz zz", vocab=Vocabulary(["a", "b", "c", "zz"]))  # zz never trained
    seg = det.segments(t)
    assert rows(seg, "length") == [2, 1, 1, 1, 1]
    assert rows(seg, "unknown") == [False, True, False, True, True]
    tab = det.score_traces(t)
    assert rows(tab, "unknown_calls") == [3]
    assert rows(tab, "score") == pytest.approx([5 / 6])


def test_separators_stop_matches_at_sequence_boundaries() -> None:
    # "b c" only exists across the boundary of two training sequences: it must not match
    det = CoverDetector().fit(seqs("a b", "c d"))
    v = det.vocab_
    assert rows(det.segments(seqs("a b c d", vocab=v)), "length") == [2, 2]
    assert rows(det.segments(seqs("b c", vocab=v)), "length") == [1, 1]
    # and test sequences are covered separately: no segment spans two of them
    two = Sequences.from_lists([["a"], ["b"]], vocab=v)
    assert rows(det.segments(two), "length") == [1, 1]
    assert det.score_windows(two).tolist() == [0.0, 0.0]


def test_empty_trace_and_empty_sequence() -> None:
    det = CoverDetector().fit(seqs("a b"))
    t = Sequences.from_lists([[], ["a", "b", "a"]], vocab=det.vocab_)
    tab = det.score_traces(t)
    assert rows(tab, "score") == pytest.approx([0.0, 2 / 3])
    assert rows(tab, "segments") == [0, 2]
    # k = 1 layout: the empty sequence has one padded window scoring 0
    assert det.score_windows(t).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert det.window_table(t).num_rows == 4


def test_suffix_array_matches_sorting() -> None:
    rng = np.random.default_rng(0)
    for n, a in ((1, 2), (50, 2), (300, 4), (200, 30)):
        t = rng.integers(-3, a, n)
        ref = sorted(range(n), key=lambda i: tuple(t[i:]))
        assert suffix_array(t).tolist() == ref
    assert len(suffix_array(np.zeros(0, np.int64))) == 0


def test_greedy_matches_definition_and_is_minimal() -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        train = [list(rng.integers(2, 6, rng.integers(1, 15))) for _ in range(rng.integers(1, 4))]
        test = [list(rng.integers(2, 7, rng.integers(1, 20))) for _ in range(3)]  # 6 never trained
        vocab = Vocabulary([str(i) for i in range(2, 7)])
        det = CoverDetector().fit(Sequences.from_lists([[str(c) for c in s] for s in train], vocab=vocab))
        q = Sequences.from_lists([[str(c) for c in s] for s in test], vocab=vocab)
        got = rows(det.segments(q), "length")
        factors = naive_factors([[det.vocab_.id(str(c)) for c in s] for s in train])
        ids = [[det.vocab_.id(str(c)) for c in s] for s in test]
        want = [n for s in ids for n in naive_greedy(factors, s)]
        assert got == want
        counts = rows(det.score_traces(q), "segments")
        assert counts == [min_cover(factors, s) for s in ids]


def test_merge_and_partial_fit_equal_training_on_the_whole() -> None:
    a = seqs("open read close", "open write write close", "stat open")
    b = seqs("mmap read close exit", "open read read write", "brk mmap")
    whole = CoverDetector().fit(Sequences.from_lists(
        [s.split() for s in ("open read close", "open write write close", "stat open",
                             "mmap read close exit", "open read read write", "brk mmap")]))
    merged = CoverDetector().fit(a).merge(CoverDetector().fit(b))
    updated = CoverDetector().fit(a).partial_fit(b)
    test = Sequences.from_lists([s.split() for s in (
        "open read read write close exit", "brk mmap read close", "stat open write write close",
        "exit exit open", "mmap read close exit brk")])
    ref = whole.score_traces(test)
    for model in (merged, updated):
        got = model.score_traces(test)
        assert rows(got, "score") == pytest.approx(rows(ref, "score"))
        assert rows(got, "segments") == rows(ref, "segments")
    # the two halves alone cover worse than the union
    assert sum(rows(CoverDetector().fit(a).score_traces(test), "segments")) > sum(rows(ref, "segments"))
    with pytest.raises(ModelFormatError):
        merged.merge(make_detector("stide", k=3).fit(a))


def test_save_load_round_trip(tmp_path: Path) -> None:
    det = CoverDetector().fit(seqs("a b c d", "b c e", "f"))
    test = Sequences.from_lists([["a", "b", "c", "e"], ["f", "a", "zz"], ["d"]])
    path = det.save(tmp_path / "cover.npz")
    back = load_model(path)
    assert isinstance(back, CoverDetector)
    assert back.vocab_ == det.vocab_
    assert rows(back.score_traces(test), "score") == rows(det.score_traces(test), "score")
    assert back.score_windows(test).tolist() == det.score_windows(test).tolist()
    with np.load(path, allow_pickle=False) as z:
        assert "s_corpus" in z.files and "s_offsets" in z.files
    # a damaged corpus gives one clear error
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["s_offsets"] = arrays["s_offsets"][:-1]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ModelFormatError, match="damaged"):
        load_model(bad)


def test_explain_lists_shortest_breaking_segments() -> None:
    det = CoverDetector().fit(seqs("open read write close", "socket connect send"))
    t = seqs("open read write close socket connect send", "read socket open read", vocab=det.vocab_)
    ex = det.explain(t, top=3)
    # segments followed by a break: [open read write close] -> socket, [read] -> socket,
    # [socket] -> open; the last segment of each sequence is not a break
    assert rows(ex, "length") == [1, 1, 4]
    assert rows(ex, "calls") == ["read", "socket", "open read write close"]
    assert rows(ex, "next_call") == ["socket", "open", "socket"]
    assert rows(ex, "trace_id") == ["s1", "s1", "s0"]
    assert det.explain(seqs("open read", vocab=det.vocab_)).num_rows == 0


def test_registered_and_k_free() -> None:
    det = make_detector("cover")
    assert isinstance(det, CoverDetector)
    assert det.get_params() == {"trace_score": "rate", "locality": 20}  # no window length
    from syssense.evaluate import ALL, K_FREE

    assert "cover" in K_FREE and "cover" in ALL


@pytest.mark.skipif(not ADFA_SMALL.exists(), reason="ADFA-LD fixture absent")
def test_evaluate_on_real_adfa_traces() -> None:
    from syssense.evaluate import evaluate

    ev = evaluate(str(ADFA_SMALL), detectors="cover", ks="3..6", n_bootstrap=50)
    assert len(ev.rows) == 1  # k-free: evaluated once
    row = ev.rows[0]
    assert row["detector"] == "cover" and row["k"] is None
    assert 0.0 <= row["auc"] <= 1.0 and row["auc_lo"] <= row["auc"] <= row["auc_hi"]
    assert row["rec_threshold"] == 0.0  # training traces cover themselves without a break
    s = ev.scores.column("score").to_numpy()
    assert ((s > 0) & (s <= 1)).all()


@settings(max_examples=60, deadline=None)
@given(train=st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=25), min_size=1, max_size=4),
       test=st.lists(st.lists(st.sampled_from("abcdxy"), min_size=0, max_size=40), min_size=1, max_size=4),
       locality=st.integers(1, 8))
def test_locality_scores_are_the_densest_frame_of_breaks(train, test, locality) -> None:
    """Oracle: the rate detector's per-call breaks, counted over every frame of `locality`
    calls by hand. lfc mode changes only the per-call and trace scores."""
    tr = Sequences.from_lists(train)
    te = Sequences.from_lists(test, trace_ids=[f"t{i}" for i in range(len(test))])
    rate = CoverDetector(locality=locality).fit(tr)
    lfc = CoverDetector(trace_score="lfc", locality=locality).fit(tr)
    breaks = rate.score_windows(te)
    frames = lfc.score_windows(te)
    rows = rate.score_traces(te).to_pylist()
    lfc_rows = {r["trace_id"]: r for r in lfc.score_traces(te).to_pylist()}
    w = 0
    for i, seq in enumerate(test):
        n = max(len(seq), 1)  # an empty sequence has one padded window scoring 0
        b = breaks[w:w + n]
        want = [sum(b[max(0, j - locality + 1): j + 1]) for j in range(n)]
        assert list(frames[w:w + n]) == want
        assert lfc_rows[f"t{i}"]["score"] == max(want) == lfc_rows[f"t{i}"]["max_frame_breaks"]
        w += n
    for r in rows:  # the rate mode reports the same frame figure beside its own score
        assert r["max_frame_breaks"] == lfc_rows[r["trace_id"]]["max_frame_breaks"]
        assert r["score"] == lfc_rows[r["trace_id"]]["segments"] / max(r["calls"], 1)


def test_bad_locality_settings_are_refused() -> None:
    tr = Sequences.from_lists([list("abcabc")])
    for params in ({"trace_score": "max"}, {"trace_score": "lfc", "locality": 0}):
        with pytest.raises(ValueError):
            CoverDetector(**params).fit(tr)
