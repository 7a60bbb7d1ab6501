"""Model files, merging and retraining for the stide family."""

import json
import zipfile

import numpy as np
import pytest

from syssense.detect import load_model, make_detector
from syssense.detect.base import MODEL_VERSION
from syssense.detect.lookahead import LookaheadPairs
from syssense.detect.stide import Stide, TStide
from syssense.errors import ModelFormatError, SyssenseError
from syssense.features import Sequences


def _corpus(seed=0, n=40):
    rng = np.random.default_rng(seed)
    calls = ["open", "read", "write", "close", "mmap", "brk", "stat", "poll", "futex", "exit"]
    out = []
    for _ in range(n):
        length = int(rng.integers(2, 60))
        # a sticky random walk: repeated short motifs, like real traces
        seq = [calls[int(rng.integers(0, 4))]]
        for _ in range(length - 1):
            seq.append(seq[-1] if rng.random() < 0.3 else calls[int(rng.integers(0, len(calls)))])
        out.append(seq)
    return out


def _seqs(lists, prefix="t"):
    return Sequences.from_lists(lists, trace_ids=[f"{prefix}{i}" for i in range(len(lists))])


@pytest.mark.parametrize("make", [lambda: Stide(k=4), lambda: TStide(k=5, rare_threshold=0.01), lambda: LookaheadPairs(k=4)])
def test_train_halves_and_merge_equals_train_whole(make):
    data = _corpus()
    # the halves see calls in different orders, so their vocabularies number calls differently
    first, second = data[:20], data[20:][::-1]
    whole = make().fit(_seqs(data))
    a = make().fit(_seqs(first))
    b = make().fit(_seqs(second))
    assert a.vocab_ != b.vocab_
    merged = a.merge(b)
    assert merged.database() == whole.database()
    test = _seqs(_corpus(seed=1, n=10), prefix="x")
    assert merged.score_traces(test).to_pylist() == whole.score_traces(test).to_pylist()
    # retraining with partial_fit gives the same model as well
    inc = make().fit(_seqs(first)).partial_fit(_seqs(second))
    assert inc.database() == whole.database()


def test_save_load_roundtrip_is_data_only(tmp_path):
    model = TStide(k=5, locality=7, rare_threshold=0.02).fit(_seqs(_corpus()))
    model.train_info_ = {"by": "process", "n_traces": 40}
    path = model.save(tmp_path / "m.model")
    with zipfile.ZipFile(path) as z:
        assert all(name.endswith(".npy") for name in z.namelist())
    again = load_model(path)
    assert isinstance(again, TStide) and again.get_params() == model.get_params()
    assert again.database() == model.database()
    assert again.train_info_ == {"by": "process", "n_traces": 40}
    test = _seqs(_corpus(seed=3, n=5))
    assert again.score_traces(test).to_pylist() == model.score_traces(test).to_pylist()
    with pytest.raises(ModelFormatError, match="not a lookahead model"):
        LookaheadPairs.load(path)


def test_wrong_version_and_non_model_files_give_one_sentence(tmp_path):
    model = Stide(k=3).fit(_seqs(_corpus()))
    path = model.save(tmp_path / "m.model")
    # rewrite the header with another version
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["__header__"]).decode())
    header["version"] = MODEL_VERSION + 1
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    old = tmp_path / "old.model"
    with open(old, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelFormatError, match=r"format version \d+; this syssense reads version") as exc:
        load_model(old)
    assert "\n" not in str(exc.value)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for bad in (text, tmp_path / "missing.model"):
        with pytest.raises(ModelFormatError, match="not a syssense model file|does not exist"):
            load_model(bad)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    with pytest.raises(ModelFormatError, match="not a syssense model file"):
        load_model(plain)


def test_merge_refuses_other_kinds_and_parameters():
    a = Stide(k=3).fit(_seqs(_corpus()))
    with pytest.raises(ModelFormatError, match="different parameters"):
        a.merge(Stide(k=4).fit(_seqs(_corpus())))
    with pytest.raises(ModelFormatError, match="cannot merge a lookahead model"):
        a.merge(LookaheadPairs(k=3).fit(_seqs(_corpus())))
    with pytest.raises(SyssenseError, match="unknown detector"):
        make_detector("nope")
    assert isinstance(make_detector("tstide", k=4), TStide)


def test_the_python_api_exports_every_detector_and_every_name_resolves():
    import syssense
    from syssense.detect import load_all_detectors

    for name in syssense.__all__[1:]:
        assert getattr(syssense, name) is not None, name
    exported = {getattr(syssense, n) for n in syssense.__all__[1:]}
    missing = [cls.__name__ for cls in load_all_detectors().values() if cls not in exported]
    assert not missing, f"detectors missing from syssense's API: {missing}"
