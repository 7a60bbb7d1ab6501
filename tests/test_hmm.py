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
    from syssense.errors import SyssenseError

    with pytest.raises(SyssenseError):
        model.merge(HMMDetector(n_states=2, n_iter=3).fit(_s([list("ab")])))
