"""Frequency detector: JS / chi-square / log ratio by hand, nearest normal histogram,
new calls first in explain, merge, save/load."""

import math

import numpy as np
import pytest

from syssense.detect.base import load_model
from syssense.detect.frequency import FrequencyDetector
from syssense.features import Sequences


def _s(lists, ids=None, vocab=None):
    return Sequences.from_lists(lists, vocab=vocab, trace_ids=ids)


def test_measures_against_hand_computation():
    model = FrequencyDetector(metric="js").fit(_s([list("aab"), list("ab")], ids=["n1", "n2"]))
    # pooled normal counts a=3 b=2, add-1/2 smoothing over the 4 ids (unknown, pad, a, b)
    q = np.array([0.5, 0.5, 3.5, 2.5]) / 7.0
    row = model.score_traces(_s([list("aaaa")], ids=["t"], vocab=model.vocab_)).to_pylist()[0]
    p = np.array([0, 0, 1.0, 0])
    m = (p + q) / 2

    def kl(x, y):
        return sum(xi * math.log2(xi / yi) for xi, yi in zip(x, y, strict=True) if xi > 0)

    assert row["js"] == pytest.approx(0.5 * kl(p, m) + 0.5 * kl(q, m))
    assert row["score"] == row["js"]
    assert row["chi2"] == pytest.approx(sum((o - 4 * e) ** 2 / (4 * e) for o, e in zip([0, 0, 4, 0], q, strict=True)) / 4)
    assert row["max_log_ratio"] == pytest.approx(math.log(1.0 / q[2]))
    # nearest normal histogram: "aab" (2/3, 1/3) vs (1, 0): Hellinger
    h = math.sqrt(0.5 * ((1 - math.sqrt(2 / 3)) ** 2 + (0 - math.sqrt(1 / 3)) ** 2))
    assert row["nn"] == pytest.approx(h)
    assert row["new_calls"] == 0


def test_new_calls_listed_first_and_counted():
    model = FrequencyDetector().fit(_s([list("abab"), list("abba")]))
    t = _s([list("abxyx")], ids=["t"])
    row = model.score_traces(t).to_pylist()[0]
    assert row["new_calls"] == 1  # x and y both map to the one "unknown" id
    # the explanation names each never-seen call as logged (x twice, y once), new ones first
    ex = model.explain(t).to_pylist()
    assert [(r["call"], r["count"], r["new"]) for r in ex[:2]] == [("x", 2, True), ("y", 1, True)]
    assert not any(r["new"] for r in ex[2:]) and {r["call"] for r in ex[2:]} == {"a", "b"}
    assert sum(r["count"] for r in ex) == 5 and ex[0]["freq"] == 2 / 5


def test_identical_trace_is_at_distance_zero_and_order_does_not_matter():
    model = FrequencyDetector().fit(_s([list("aabbc"), list("abc")]))
    rows = model.score_traces(_s([list("cbaba"), list("cccc")], ids=["same", "odd"])).to_pylist()
    by = {r["trace_id"]: r for r in rows}
    assert by["same"]["score"] == pytest.approx(0.0, abs=1e-7)
    assert by["odd"]["score"] > 0.3


def test_merge_equals_whole_and_save_load(tmp_path):
    a, b = [list("abc"), list("aab")], [list("abd"), list("dd")]
    whole = FrequencyDetector().fit(_s(a + b))
    merged = FrequencyDetector().fit(_s(a)).merge(FrequencyDetector().fit(_s(b)))
    test = _s([list("abcd"), list("ddda")], ids=["x", "y"])
    for col in ("nn", "js", "chi2"):
        assert np.allclose(whole.score_traces(test).column(col).to_numpy(),
                           merged.score_traces(test).column(col).to_numpy())
    back = load_model(merged.save(tmp_path / "f.npz"))
    assert np.allclose(back.score_traces(test).column("score").to_numpy(),
                       merged.score_traces(test).column("score").to_numpy())
    assert len(back.score_windows(test)) == 2  # one padded window per short sequence


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError):
        FrequencyDetector(metric="cosine").fit(_s([list("ab")]))
