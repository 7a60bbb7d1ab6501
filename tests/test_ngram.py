"""n-gram / Markov detector: probabilities by hand, merge = whole, save/load, explain."""

import math

import numpy as np
import pytest

from syssense.detect.base import load_model
from syssense.detect.ngram import NGram
from syssense.features import Sequences, Vocabulary


def _seqs(lists, vocab=None, ids=None):
    return Sequences.from_lists(lists, vocab=vocab, trace_ids=ids)


def test_bigram_probabilities_match_hand_computed_absolute_discounting():
    # training: a b a b a c  -> with one begin marker: <s> a, a b, b a, a b, b a, a c
    model = NGram(k=2).fit(_seqs([list("ababac")]))
    lp = model.call_logprob(_seqs([list("ab")], vocab=model.vocab_))
    orders = model._orders()
    V = len(model.vocab_)  # unknown, pad, a, b, c
    # unigram level (order 1): counts a=3, b=2, c=1 out of 6
    d1 = orders[0].discount
    p1_a = (max(3 - d1, 0) / 6) + d1 * 3 / 6 * (1 / V)
    p1_b = (max(2 - d1, 0) / 6) + d1 * 3 / 6 * (1 / V)
    d2 = orders[1].discount
    # context <pad> seen once, followed by a
    p_a = max(1 - d2, 0) / 1 + d2 * 1 / 1 * p1_a
    # context a seen 3 times: followed by b twice, c once (2 distinct)
    p_b = max(2 - d2, 0) / 3 + d2 * 2 / 3 * p1_b
    assert lp[0] == pytest.approx(math.log(p_a))
    assert lp[1] == pytest.approx(math.log(p_b))


def test_probabilities_sum_to_one_over_the_vocabulary():
    rng = np.random.default_rng(1)
    train = [list(rng.choice(list("abcde"), 50)) for _ in range(5)]
    model = NGram(k=3).fit(_seqs(train))
    names = model.vocab_.names
    # every possible next call after context "a b"
    total = 0.0
    for i in range(len(names)):
        s = Sequences(np.array([model.vocab_.id("a"), model.vocab_.id("b"), i], np.int32),
                      np.array([0, 3]), np.array(["t"], dtype=object), np.array([-1]), model.vocab_)
        total += math.exp(model.call_logprob(s)[2])
    assert total == pytest.approx(1.0, abs=1e-9)


def test_unusual_sequence_scores_higher_and_windows_line_up():
    normal = [list("openreadclose") * 3 for _ in range(4)]
    model = NGram(k=3).fit(_seqs(normal))
    t = model.score_traces(_seqs([list("openreadclose") * 3, list("closeopenxyzread")], ids=["n", "x"]))
    rows = {r["trace_id"]: r for r in t.to_pylist()}
    assert rows["x"]["score"] > rows["n"]["score"] + 1.0
    assert rows["x"]["unknown_calls"] == 3 and rows["n"]["unknown_calls"] == 0
    w = model.score_windows(_seqs([list("openreadclose")], vocab=model.vocab_))
    assert len(w) == len("openreadclose") - 3 + 1
    table, windows = model.score_all(_seqs([list("openreadclose")]))
    assert np.allclose(windows, w) and table.num_rows == 1


def test_merge_and_partial_fit_equal_training_on_the_whole():
    rng = np.random.default_rng(2)
    a = [list(rng.choice(list("abcdef"), 40)) for _ in range(6)]
    b = [list(rng.choice(list("abcdefgh"), 40)) for _ in range(6)]
    whole = NGram(k=4).fit(_seqs(a + b))
    merged = NGram(k=4).fit(_seqs(a)).merge(NGram(k=4).fit(_seqs(b)))
    part = NGram(k=4).fit(_seqs(a)).partial_fit(_seqs(b))
    test = _seqs([list(rng.choice(list("abcdefghz"), 60)) for _ in range(3)])
    ref = whole.score_traces(test).column("score").to_numpy()
    assert np.allclose(merged.score_traces(test).column("score").to_numpy(), ref)
    assert np.allclose(part.score_traces(test).column("score").to_numpy(), ref)


def test_save_load_roundtrip_and_explain(tmp_path):
    model = NGram(k=3, trace_score="max").fit(_seqs([list("abcabcabc")] * 3))
    path = model.save(tmp_path / "m.npz")
    back = load_model(path)
    assert isinstance(back, NGram) and back.trace_score == "max"
    test = _seqs([list("abcacb")])
    assert np.allclose(back.score_windows(test), model.score_windows(test))
    ex = model.explain(test, top=3).to_pylist()
    assert len(ex) == 3
    assert ex[0]["nll"] >= ex[1]["nll"] >= ex[2]["nll"]
    # the least probable transition is one never seen in training: a -> c or c -> b
    assert (ex[0]["context"].split()[-1], ex[0]["call"]) in {("a", "c"), ("c", "b")}


def test_bad_parameters_and_unfitted():
    with pytest.raises(ValueError):
        NGram(k=0).fit(_seqs([list("ab")]))
    with pytest.raises(ValueError):
        NGram(trace_score="median").fit(_seqs([list("ab")]))
    from syssense.errors import SyssenseError

    with pytest.raises(SyssenseError):
        NGram().score_traces(_seqs([list("ab")], vocab=Vocabulary("ab")))
