"""tf-idf nearest-neighbour detector (Liao & Vemuri 2002 with n-gram terms): scores equal an
independent scikit-learn TfidfVectorizer computation, unseen n-grams, windows, merge ==
partial_fit == whole, save/load, explain, evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from syssense.detect import load_model, make_detector
from syssense.detect.tfidf import TfidfDetector
from syssense.errors import ModelFormatError
from syssense.features import Sequences, Vocabulary

ADFA_SMALL = Path(__file__).parent / "data" / "evaluate" / "adfa-small"


def seqs(*traces: str, vocab: Vocabulary | None = None) -> Sequences:
    return Sequences.from_lists([t.split() for t in traces], vocab=vocab)


def oracle(train: list[list[str]], test: list[list[str]], n: int) -> np.ndarray:
    """1 − max cosine, by building n-gram tokens as strings and letting sklearn weight them."""
    seen = {tuple(t[i:i + o]) for t in train for o in range(1, n + 1) for i in range(len(t) - o + 1)}

    def tokens(t: list[str]) -> list[str]:
        out = []
        for o in range(1, n + 1):
            for i in range(len(t) - o + 1):
                g = tuple(t[i:i + o])
                out.append(" ".join(g) if g in seen else f"<unseen-{o}>")
        return out

    vec = TfidfVectorizer(analyzer=tokens, lowercase=False)
    normal = vec.fit_transform(train + [[]] * 0)
    # the unseen terms must exist as columns with df = 0: sklearn only knows training
    # tokens, so add them by hand as columns of zero document frequency
    extra = [f"<unseen-{o}>" for o in range(1, n + 1)]
    vocab = dict(vec.vocabulary_)
    for e in extra:
        vocab.setdefault(e, len(vocab))
    full = TfidfVectorizer(analyzer=tokens, lowercase=False, vocabulary=vocab)
    full.fit(train)
    sims = cosine_similarity(full.transform(test), full.transform(train))
    assert normal.shape[0] == len(train)
    return np.where([len(t) > 0 for t in test], 1.0 - sims.max(axis=1), 0.0)


def test_scores_equal_sklearn_tfidf_vectorizer() -> None:
    train = ["open read read write close", "open mmap close", "stat open read close"]
    test = ["open read write close", "open read execve close", "socket connect", "open mmap close"]
    det = TfidfDetector(n=3).fit(seqs(*train))
    res = det.score_traces(seqs(*test, vocab=det.vocab_))
    want = oracle([t.split() for t in train], [t.split() for t in test], 3)
    np.testing.assert_allclose(res.column("score").to_numpy(), want, atol=1e-12)
    # a training trace is at distance 0 from itself; a trace of only unseen calls shares nothing
    assert res.column("score")[3].as_py() == pytest.approx(0.0, abs=1e-12)
    assert res.column("score")[2].as_py() == pytest.approx(1.0)
    assert res.column("nearest").to_pylist()[3] == 1
    assert res.column("nearest").to_pylist()[2] == -1
    # "open read execve close": unigram execve, 2 bigrams, 2 trigrams never seen
    assert res.column("unseen_ngrams").to_pylist()[1] == 1 + 2 + 2
    assert res.column("ngrams").to_pylist()[1] == 4 + 3 + 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=12), min_size=1, max_size=6),
       st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=12), min_size=1, max_size=6),
       st.integers(1, 3))
def test_random_traces_equal_the_oracle(train: list[list[str]], test: list[list[str]], n: int) -> None:
    det = TfidfDetector(n=n).fit(Sequences.from_lists(train))
    res = det.score_traces(Sequences.from_lists(test, vocab=det.vocab_))
    np.testing.assert_allclose(res.column("score").to_numpy(), oracle(train, test, n), atol=1e-9)


def test_ngrams_never_cross_sequence_or_trace_boundaries() -> None:
    det = TfidfDetector(n=2).fit(seqs("a b", "c d"))
    res = det.score_traces(seqs("a b c d", vocab=det.vocab_))
    assert res.column("unseen_ngrams").to_pylist() == [1]  # "b c"
    # two sequences of one trace: "b c" is not formed across them
    two = Sequences.from_lists([["a", "b"], ["c", "d"]], trace_ids=["t", "t"], vocab=det.vocab_)
    res2 = det.score_traces(two)
    assert res2.column("unseen_ngrams").to_pylist() == [0]
    assert res2.column("n_calls").to_pylist() == [4]


def test_windows_fraction_of_unseen_ngrams() -> None:
    det = TfidfDetector(n=2, k=3).fit(seqs("a b c a b c"))
    w = det.score_windows(seqs("a b c b c", vocab=det.vocab_))
    # windows: [a b c] all seen; [b c b]: "c b" unseen of 3 unigrams + 2 bigrams; [c b c] same
    np.testing.assert_allclose(w, [0.0, 1 / 5, 1 / 5])
    assert len(det.window_table(seqs("a b c b c", vocab=det.vocab_))) == 3


def test_merge_and_partial_fit_equal_whole() -> None:
    a = ["open read close", "open write close"]
    b = ["stat open read read close", "mmap munmap"]
    test = seqs("open read read write close", "mmap stat", "open write close")
    whole = TfidfDetector().fit(seqs(*a, *b))
    halves = TfidfDetector().fit(seqs(*a)).merge(TfidfDetector().fit(seqs(*b)))
    grown = TfidfDetector().fit(seqs(*a)).partial_fit(seqs(*b))
    want = whole.score_traces(test).column("score").to_numpy()
    for other in (halves, grown):
        np.testing.assert_allclose(other.score_traces(test).column("score").to_numpy(), want, atol=1e-12)
    alone = TfidfDetector().fit(seqs(*a)).score_traces(test).column("score").to_numpy()
    assert not np.allclose(alone, want)


def test_save_load_round_trip_and_damaged_file(tmp_path: Path) -> None:
    det = TfidfDetector(n=2).fit(seqs("open read close", "open mmap close"))
    path = tmp_path / "m.npz"
    det.save(path)
    back = load_model(path)
    test = seqs("open read mmap close", "close")
    np.testing.assert_array_equal(back.score_traces(test).column("score").to_numpy(),
                                  det.score_traces(test).column("score").to_numpy())
    with np.load(path, allow_pickle=False) as z:
        arrays = dict(z)
    arrays["s_keys"] = arrays["s_keys"][:-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFormatError, match="damaged"):
        load_model(tmp_path / "bad.npz")
    arrays["s_keys"] = np.concatenate([arrays["s_keys"], [-7]])  # lengths fit again, the term does not
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(ModelFormatError, match="not n-grams"):
        load_model(tmp_path / "bad2.npz")


def test_explain_lists_unseen_ngrams_most_frequent_first() -> None:
    det = TfidfDetector(n=2).fit(seqs("open read close"))
    ex = det.explain(seqs("open close close close read execve", vocab=det.vocab_))
    got = list(zip(ex.column("ngram").to_pylist(), ex.column("count").to_pylist(), strict=True))
    assert got[0] == ("close close", 2)
    # a call outside the training vocabulary is shown as <unknown>, as everywhere else
    assert set(got[1:]) == {("<unknown>", 1), ("open close", 1), ("close read", 1), ("read <unknown>", 1)}
    assert ex.column("order").to_pylist()[0] == 2


def test_bad_parameters_and_empty_trace() -> None:
    with pytest.raises(ValueError, match="n must be"):
        TfidfDetector(n=4).fit(seqs("a b"))
    det = make_detector("tfidf").fit(seqs("a b"))
    empty = Sequences.from_lists([[]], vocab=det.vocab_)
    assert det.score_traces(empty).column("score").to_pylist() == [0.0]


def test_evaluate_on_real_adfa_subset() -> None:
    from syssense.evaluate import ALL, K_FREE, evaluate

    assert "tfidf" in K_FREE and "tfidf" in ALL
    res = evaluate(ADFA_SMALL, detectors="tfidf", ks=[6], n_bootstrap=50)
    rows = res.rows
    assert len(rows) == 1 and rows[0]["k"] is None
    assert 0.5 < rows[0]["auc"] <= 1.0


def test_blocked_nearest_equals_one_product() -> None:
    from scipy.sparse import random as sparse_random

    from syssense.detect.tfidf import _nearest

    X = sparse_random(37, 20, density=0.3, random_state=1, format="csr")
    N = sparse_random(20, 11, density=0.3, random_state=2, format="csr")
    full = (X @ N).toarray()
    for cells in (1, 11, 50, 10**6):
        best, nearest = _nearest(X, N, cells=cells)
        np.testing.assert_allclose(best, np.minimum(full.max(axis=1), 1.0))
        has = full.max(axis=1) > 0
        np.testing.assert_array_equal(nearest[has], full.argmax(axis=1)[has])
        assert (nearest[~has] == -1).all()


def test_duplicate_traces_are_scored_once_and_nearest_is_the_first_equal_row() -> None:
    train = ["a b c", "a b c", "d e", "a b c d"]
    det = TfidfDetector(n=2).fit(seqs(*train))
    test = seqs("a b c", "d e", "a b c", "x y", "d e", vocab=det.vocab_)
    res = det.score_traces(test)
    assert res.column("nearest").to_pylist() == [0, 2, 0, -1, 2]
    want = oracle([t.split() for t in train], [t.split() for t in ["a b c", "d e", "a b c", "x y", "d e"]], 2)
    np.testing.assert_allclose(res.column("score").to_numpy(), want, atol=1e-12)
