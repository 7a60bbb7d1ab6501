"""LSTM language-model detector: no-torch message, learning, batching, save/load, evaluate."""

import sys
from pathlib import Path

import numpy as np
import pytest

from syssense.errors import SyssenseError
from syssense.features import Sequences

ADFA_SMALL = Path(__file__).parent / "data" / "evaluate" / "adfa-small"
CYCLE = ["open", "fstat", "read", "write", "close"]


def _small(**kw):
    from syssense.detect.lstm import LSTMDetector

    params = {"embed": 8, "hidden": 24, "epochs": 12, "batch": 8, "chunk": 16, "lr": 1e-2, "seed": 0, "threads": 1}
    params.update(kw)
    return LSTMDetector(**params)


def _normal(n=20, reps=12):
    return Sequences.from_lists([CYCLE * reps for _ in range(n)], trace_ids=[f"n{i}" for i in range(n)])


def test_without_torch_fit_gives_one_clear_sentence(monkeypatch):
    from syssense.detect.lstm import LSTMDetector

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(SyssenseError) as err:
        LSTMDetector().fit(_normal(3, 2))
    assert str(err.value) == "the lstm detector needs PyTorch: pip install 'syssense[lstm]'"


def test_registered_and_listed():
    from syssense.detect import load_all_detectors

    assert "lstm" in load_all_detectors()


def test_learns_a_cycle_and_flags_deviations():
    pytest.importorskip("torch")
    det = _small().fit(_normal())
    info = det.train_info_
    held = [e["heldout_nll"] for e in info["epochs"]]
    assert info["kept_epoch"] == int(np.argmin(held)) + 1
    assert info["heldout_traces"] == 2 and info["train_traces"] == 18
    test = Sequences.from_lists([CYCLE * 12, CYCLE * 6 + ["write", "open", "close", "read"] + CYCLE * 6],
                                vocab=det.vocab_, trace_ids=["ok", "bad"])
    nll = det.call_nll(test)
    ok = nll[: 60]
    bad = nll[60:]
    # after the first few calls the cycle is nearly certain
    assert ok[5:].mean() < 0.3
    # the calls that break the cycle are far less likely than the cycle itself
    assert bad[30:34].max() > 2.0 and bad[30:34].max() > 5 * ok[5:].max()
    t = det.score_traces(test).to_pylist()
    rows = {r["trace_id"]: r for r in t}
    assert rows["bad"]["score"] > rows["ok"]["score"]
    assert rows["bad"]["max_window_nll"] > rows["ok"]["max_window_nll"] + 0.5
    assert rows["ok"]["n_calls"] == 60 and rows["bad"]["n_calls"] == 64


def test_batching_padding_and_chunks_do_not_change_scores():
    torch = pytest.importorskip("torch")
    det = _small(epochs=2).fit(_normal(10, 4))
    rng = np.random.default_rng(3)
    names = CYCLE + ["mmap"]  # mmap unknown to the model
    lists = [list(rng.choice(names, n)) for n in (1, 7, 600, 45, 1100)]  # > 512: scoring chunks
    seqs = Sequences.from_lists(lists, vocab=det.vocab_)
    together = det.call_nll(seqs)
    alone = np.concatenate([det.call_nll(Sequences.from_lists([s], vocab=det.vocab_)) for s in lists])
    assert np.allclose(together, alone, atol=1e-5)
    # one full-length forward pass without chunking or padding gives the same numbers
    net = det._net()
    codes = seqs[4].astype(np.int64)
    inp = torch.from_numpy(np.concatenate([[1], codes[:-1]])[None, :])
    with torch.no_grad():
        lp = torch.log_softmax(net(inp)[0], -1)[0, np.arange(len(codes)), codes].numpy()
    start = int(seqs.offsets[4])
    assert np.allclose(together[start:start + len(codes)], -lp, atol=1e-4)
    # windows: mean per-call NLL over k calls
    w = det.score_windows(seqs[2])
    assert len(w) == 600 - det.k + 1
    assert w[0] == pytest.approx(together[int(seqs.offsets[2]):int(seqs.offsets[2]) + det.k].mean(), rel=1e-6)


def test_save_load_round_trip_is_data_only(tmp_path):
    pytest.importorskip("torch")
    from syssense.detect.base import load_model

    det = _small(epochs=2).fit(_normal(8, 3))
    path = det.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:  # no object arrays anywhere
        assert any(k.startswith("s_lstm.") for k in z.files)
    back = load_model(path)
    assert back.name == "lstm" and back.get_params() == det.get_params()
    test = Sequences.from_lists([CYCLE * 3, ["read", "open", "mmap"]], vocab=det.vocab_)
    a = det.score_traces(test).column("score").to_numpy()
    b = back.score_traces(test).column("score").to_numpy()
    assert np.allclose(a, b) and back.train_info_["kept_epoch"] == det.train_info_["kept_epoch"]


def test_evaluate_runs_lstm_on_real_adfa_traces():
    pytest.importorskip("torch")
    from syssense.evaluate import evaluate

    seen = []
    ev = evaluate(ADFA_SMALL, detectors="lstm", ks=6, n_bootstrap=50, recording=False,
                  params={"lstm": {"epochs": 3, "hidden": 32, "threads": 1}}, by="trace",
                  progress=lambda label, d, n: seen.append(label))
    row = ev.rows[0]
    assert row["detector"] == "lstm" and 0.0 <= row["auc"] <= 1.0
    assert row["auc"] > 0.6  # 80 training traces, 3 epochs: still well above chance
    assert any("iteration" in s for s in seen)
