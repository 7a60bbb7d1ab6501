"""HMM detector: learns a simple process, scores like hmmlearn, saves and loads."""

import numpy as np
import pytest

pytest.importorskip("hmmlearn", reason="hmmlearn (optional extra 'hmm') is not installed")

from syssense.detect.base import load_model  # noqa: E402
from syssense.detect.hmm import HMMDetector  # noqa: E402
from syssense.features import Sequences  # noqa: E402


def _s(lists, ids=None, vocab=None):
    return Sequences.from_lists(lists, vocab=vocab, trace_ids=ids)


def test_forward_pass_matches_hmmlearn_loglikelihood():
    from hmmlearn.hmm import CategoricalHMM

    rng = np.random.default_rng(0)
    train = [list(rng.choice(list("abcd"), 30)) for _ in range(8)]
    model = HMMDetector(n_states=3, n_iter=5, floor=0.0).fit(_s(train))
    test = _s([list("abcdabcd"), list("dddd")], vocab=model.vocab_)
    ref = CategoricalHMM(n_components=3, n_features=len(model.vocab_))
    ref.startprob_, ref.transmat_, ref.emissionprob_ = model.startprob_, model.transmat_, model.emissionprob_
    lp = model.call_logprob(test)
    for i in range(len(test)):
        seg = lp[test.offsets[i]:test.offsets[i + 1]]
        assert seg.sum() == pytest.approx(ref.score(test[i].reshape(-1, 1)), rel=1e-9)


def test_progress_callback_and_scores():
    normal = [list("openreadwriteclose") for _ in range(20)]
    model = HMMDetector(n_states=4, n_iter=8)
    seen = []
    model.progress = lambda i, n, ll: seen.append((i, n))
    model.fit(_s(normal))
    assert seen and seen[0] == (1, 8) and seen[-1][0] <= 8
    t = model.score_traces(_s([list("openreadwriteclose"), list("closewriteopenxx")], ids=["n", "x"]))
    by = {r["trace_id"]: r["score"] for r in t.to_pylist()}
    assert by["x"] > by["n"] + 1.0
    table, windows = model.score_all(_s([list("openreadwriteclose")]))
    assert len(windows) == len("openreadwriteclose") - 6 + 1 and table.num_rows == 1


def test_save_load(tmp_path):
    model = HMMDetector(n_states=2, n_iter=3).fit(_s([list("abab"), list("abba")]))
    back = load_model(model.save(tmp_path / "h.npz"))
    test = _s([list("abbb")])
    assert np.allclose(back.score_windows(test), model.score_windows(test))
    # the expected counts behind the parameters survive saving (merge/partial_fit need them)
    assert np.allclose(back.obs_counts_, model.obs_counts_) and back.n_train_calls_ == 8
    assert np.allclose(back.score_windows(test), back.merge(model).score_windows(test))


# --------------------------------------------------------------------------- partial_fit / merge
def _random(alphabet, n, length, seed):
    rng = np.random.default_rng(seed)
    return [list(rng.choice(list(alphabet), length)) for _ in range(n)]


def _cyclic(alphabet, n, length, seed):
    """Sequences that walk ``alphabet`` in order from random starting points (an HMM learns them)."""
    rng = np.random.default_rng(seed)
    a = list(alphabet)
    return [[a[(s + i) % len(a)] for i in range(length)] for s in rng.integers(0, len(a), n)]


def _loglik(model, lists):
    return float(model.call_logprob(_s(lists, vocab=model.vocab_)).sum())


def test_counts_are_the_sufficient_statistics():
    train = _cyclic("abcde", 12, 30, 0)
    m = HMMDetector(n_states=4, n_iter=15).fit(_s(train))
    assert m.start_counts_.sum() == pytest.approx(12)  # one start per sequence
    assert m.trans_counts_.sum() == pytest.approx(12 * 29)  # one transition per later call
    assert m.obs_counts_.sum() == pytest.approx(12 * 30) and m.n_train_calls_ == 360
    # the parameters are the counts normalised
    assert np.allclose(m.emissionprob_, m.obs_counts_ / m.obs_counts_.sum(1, keepdims=True))
    assert np.allclose(m.transmat_, m.trans_counts_ / m.trans_counts_.sum(1, keepdims=True))


def test_partial_fit_does_not_worsen_the_new_traces_and_keeps_the_old():
    old, new = _cyclic("abcdef", 20, 40, 1), _random("efgh", 10, 40, 2)
    model = HMMDetector(n_states=4, n_iter=20).fit(_s(old))
    assert model.incremental
    ll_old_before = _loglik(model, old)
    before = _loglik(model, new)
    model.partial_fit(_s(new))
    after = _loglik(model, new)
    assert set("gh") <= set(model.vocab_.to_list())  # the vocabulary grew
    assert after > before + 100  # new calls went from the floor to learned probabilities
    # the old traces are still part of the model (their counts are the prior) ...
    assert model.n_train_calls_ == 20 * 40 + 10 * 40
    # ... whereas training on the new traces alone forgets them (-7767 vs -990 when written)
    alone = HMMDetector(n_states=4, n_iter=20).fit(_s(new))
    assert _loglik(model, old) > _loglik(alone, old) + 1000
    # on old + new together the update is about as good as training on the union at once
    # (-1688 vs -2003 when written: EM finds local optima, neither is exact)
    union = HMMDetector(n_states=4, n_iter=20).fit(_s(old + new))
    assert _loglik(model, old + new) > 1.1 * _loglik(union, old + new)
    assert ll_old_before > _loglik(model, old)  # 4 states now explain more calls: the old fit gave some up


def test_partial_fit_on_more_of_the_same_does_not_worsen():
    train, more = _cyclic("abcdefg", 15, 35, 3), _cyclic("abcdefg", 15, 35, 4)
    model = HMMDetector(n_states=5, n_iter=25).fit(_s(train))
    before = _loglik(model, more)
    model.partial_fit(_s(more))
    assert _loglik(model, more) >= before - 1e-6 * abs(before)


def test_merge_with_itself_is_itself():
    model = HMMDetector(n_states=4, n_iter=10).fit(_s(_cyclic("abcde", 10, 30, 5)))
    twin = load_model_copy(model)
    twin.merge(model)
    for attr in ("startprob_", "transmat_", "emissionprob_"):
        assert np.allclose(getattr(twin, attr), getattr(model, attr), atol=1e-12)
    assert twin.vocab_ == model.vocab_ and twin.n_train_calls_ == 2 * model.n_train_calls_


def load_model_copy(model):
    import copy

    return copy.deepcopy(model)


def test_merge_matches_permuted_states():
    """Hidden states are arbitrary labels: a model with its states renumbered merges back into itself."""
    model = HMMDetector(n_states=4, n_iter=10).fit(_s(_cyclic("abcdefgh", 10, 30, 6)))
    perm = np.array([2, 0, 3, 1])
    shuffled = load_model_copy(model)
    shuffled.startprob_, shuffled.start_counts_ = model.startprob_[perm], model.start_counts_[perm]
    shuffled.transmat_, shuffled.trans_counts_ = model.transmat_[perm][:, perm], model.trans_counts_[perm][:, perm]
    shuffled.emissionprob_, shuffled.obs_counts_ = model.emissionprob_[perm], model.obs_counts_[perm]
    merged = load_model_copy(model).merge(shuffled)
    assert np.allclose(merged.emissionprob_, model.emissionprob_, atol=1e-12)
    assert np.allclose(merged.transmat_, model.transmat_, atol=1e-12)


def test_merge_aligns_different_vocabularies():
    a = HMMDetector(n_states=3, n_iter=10).fit(_s(_cyclic("abc", 10, 30, 7)))
    b = HMMDetector(n_states=3, n_iter=10).fit(_s(_cyclic("xcb", 10, 30, 8)))  # b's ids: x, c, b (other order)
    merged = load_model_copy(a).merge(b)
    assert merged.vocab_.to_list()[:3] == a.vocab_.to_list() and "x" in merged.vocab_
    V = len(merged.vocab_)
    assert merged.emissionprob_.shape == (3, V) and np.allclose(merged.emissionprob_.sum(1), 1)
    # every call keeps the total expected count it had across the two models, under its own id
    for name in ("a", "b", "c", "x"):
        total = sum(m.obs_counts_[:, m.vocab_.id(name)].sum() for m in (a, b) if name in m.vocab_)
        assert merged.obs_counts_[:, merged.vocab_.id(name)].sum() == pytest.approx(total)
    # the merged model knows both sides: each side's traces are more likely than under the other model
    for lists, other in ((_cyclic("abc", 3, 30, 9), b), (_cyclic("xcb", 3, 30, 10), a)):
        assert _loglik(merged, lists) > _loglik(other, lists) + 10


def test_merge_needs_equal_state_counts(tmp_path):
    from syssense.errors import SyssenseError

    a = HMMDetector(n_states=3, n_iter=5).fit(_s(_cyclic("abc", 5, 20, 11)))
    b = HMMDetector(n_states=4, n_iter=5).fit(_s(_cyclic("abc", 5, 20, 12)))
    with pytest.raises(SyssenseError, match="different numbers of hidden states"):
        a.merge(b)
    # training-only parameters may differ
    c = HMMDetector(n_states=3, n_iter=7, seed=3).fit(_s(_cyclic("abc", 5, 20, 13)))
    assert a.merge(c).n_train_calls_ == 200
    # a model saved without counts (older syssense) loads and scores, but cannot be merged
    path = a.save(tmp_path / "old.model")
    old = load_model(path)
    old.obs_counts_ = None
    with pytest.raises(SyssenseError, match="retrain"):
        old.merge(c)


def test_cli_merge_two_hmm_models(tmp_path, capsys):
    import pyarrow as pa

    from syssense.cli import main
    from syssense.dataset import Dataset, write_dataset

    traces, events = [], []
    for tid, calls in (("n1", _cyclic("abcd", 1, 40, 14)[0]), ("n2", _cyclic("cdef", 1, 40, 15)[0])):
        traces.append({"trace_id": tid, "label": "normal"})
        events += [{"trace_id": tid, "seq": i, "pid": 7, "syscall": c, "kind": "syscall"} for i, c in enumerate(calls)]
    data = tmp_path / "data"
    write_dataset(Dataset(pa.Table.from_pylist(traces), pa.Table.from_pylist(events)), data)

    def run(*argv):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in argv])
            raise SystemExit(0)
        return exc.value.code, capsys.readouterr()

    m1, m2, mm = tmp_path / "a.model", tmp_path / "b.model", tmp_path / "ab.model"
    for path, tid in ((m1, "n1"), (m2, "n2")):
        code, _ = run("train", data, "-o", path, "--detector", "hmm", "--param", "n_states=3", "--where", f"trace_id={tid}")
        assert code == 0
    code, out = run("merge", m1, m2, "-o", mm)
    assert code == 0 and "hmm" in out.out
    merged = load_model(mm)
    assert set("abcdef") <= set(merged.vocab_.to_list()) and merged.n_train_calls_ == 80
    m3 = tmp_path / "c.model"
    run("train", data, "-o", m3, "--detector", "hmm", "--param", "n_states=4", "--where", "trace_id=n1")
    code, out = run("merge", m1, m3, "-o", tmp_path / "bad.model")
    assert code == 2 and "hidden states" in out.err and "Traceback" not in out.err
