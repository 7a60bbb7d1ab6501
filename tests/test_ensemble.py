"""Ensemble: out-of-fold calibration from normal traces only, combination rules, save/load."""

import numpy as np
import pytest

from syssense.detect.base import load_model
from syssense.detect.ensemble import Ensemble
from syssense.features import Sequences


def _normal(n, seed):
    rng = np.random.default_rng(seed)
    base = list("abcabcabd")
    out = []
    for _ in range(n):
        s = base * int(rng.integers(2, 5))
        i = int(rng.integers(0, len(s)))
        s[i] = str(rng.choice(list("abc")))
        out.append(s)
    return out


def test_calibrated_members_and_combined_score():
    train = Sequences.from_lists(_normal(20, 0), trace_ids=[f"n{i}" for i in range(20)])
    ens = Ensemble(members=["ngram", "frequency"], k=3).fit(train)
    assert [m.name for m in ens.members_] == ["ngram", "frequency"]
    # out-of-fold calibration: one normal score per training trace and member
    assert all(len(c) == 20 for c in ens.calibration_)
    test = Sequences.from_lists(_normal(5, 1) + [list("zzzyyyxxx"), list("dddddd")],
                                trace_ids=[f"t{i}" for i in range(5)] + ["odd1", "odd2"])
    t = ens.score_traces(test)
    assert set(t.column_names) >= {"trace_id", "score", "ngram", "ngram_cal", "frequency", "frequency_cal"}
    rows = {r["trace_id"]: r for r in t.to_pylist()}
    for r in rows.values():
        assert r["score"] == pytest.approx((r["ngram_cal"] + r["frequency_cal"]) / 2)
    normal_max = max(rows[f"t{i}"]["score"] for i in range(5))
    assert rows["odd1"]["score"] > normal_max and rows["odd2"]["score"] > normal_max
    # a member's calibrated score is its robust z against the out-of-fold normal scores
    c = ens.calibration_[0]
    iqr = np.subtract(*np.percentile(c, [75, 25]))
    scale = iqr / 1.349 if iqr > 0 else np.std(c)
    r = rows["odd1"]
    assert r["ngram_cal"] == pytest.approx((r["ngram"] - np.median(c)) / scale)


def test_rank_combination_is_the_empirical_cdf():
    train = Sequences.from_lists(_normal(12, 2))
    ens = Ensemble(members=["frequency"], combine="rank", k=3).fit(train)
    t = ens.score_traces(Sequences.from_lists([list("zzzz")], trace_ids=["odd"])).to_pylist()[0]
    assert t["score"] == pytest.approx(1.0)  # above every normal out-of-fold score
    assert 0.0 <= t["frequency_cal"] <= 1.0


def test_save_load_and_windows(tmp_path):
    train = Sequences.from_lists(_normal(10, 3))
    ens = Ensemble(members=["ngram", "stide"], k=3).fit(train)
    back = load_model(ens.save(tmp_path / "e.npz"))
    assert isinstance(back, Ensemble) and [m.name for m in back.members_] == ["ngram", "stide"]
    test = Sequences.from_lists([list("abcabd"), list("abzzab")], trace_ids=["a", "b"])
    assert np.allclose(back.score_traces(test).column("score").to_numpy(),
                       ens.score_traces(test).column("score").to_numpy())
    table, w = ens.score_all(test)
    assert np.allclose(w, ens.score_windows(test)) and len(w) == 8


def test_bad_combination_refused():
    with pytest.raises(ValueError):
        Ensemble(combine="max").fit(Sequences.from_lists(_normal(4, 0)))
