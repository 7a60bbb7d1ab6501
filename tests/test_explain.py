"""Explanations: where and how traces depart from normal (Detector.explain, `syssense explain`)."""

import json
from collections import Counter

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_cli
from syssense.dataset import Dataset, write_dataset
from syssense.detect.cover import CoverDetector
from syssense.detect.hmm import HMMDetector
from syssense.detect.ngram import NGram
from syssense.detect.stide import Stide
from syssense.detect.tfidf import TfidfDetector
from syssense.features import Sequences

NORMAL = ["open", "read", "read", "write", "close"] * 6


def _seqs(traces: dict[str, list[str]]) -> Sequences:
    return Sequences.from_lists(list(traces.values()), trace_ids=list(traces))


calls = st.sampled_from(["a", "b", "c", "d"])
sequence = st.lists(calls, min_size=4, max_size=30)


@settings(max_examples=60, deadline=None)
@given(train=st.lists(sequence, min_size=1, max_size=4),
       test=st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "x", "y"]), min_size=4, max_size=30),
                     min_size=1, max_size=4),
       k=st.integers(2, 4))
def test_generic_explanation_lists_the_never_seen_windows_by_name_with_counts(train, test, k):
    """Oracle: Python sets of name tuples. Every distinct window of the test traces missing
    from the training windows, with how often it occurs; nothing else."""
    model = Stide(k=k).fit(Sequences.from_lists(train))
    seen = {tuple(s[i:i + k]) for s in train for i in range(len(s) - k + 1)}
    missing = Counter(tuple(s[i:i + k]) for s in test for i in range(len(s) - k + 1)
                      if tuple(s[i:i + k]) not in seen)
    rows = model.explain(Sequences.from_lists(test, trace_ids=[f"t{i}" for i in range(len(test))]), top=10_000).to_pylist()
    assert {tuple(r["calls"].split()): r["count"] for r in rows} == dict(missing)
    assert all(r["score"] == 1.0 for r in rows)
    counts = [r["count"] for r in rows]
    assert counts == sorted(counts, reverse=True)
    for r in rows:  # the first occurrence really is that window
        s = test[int(r["trace_id"][1:])]
        assert " ".join(s[r["position"]:r["position"] + k]) == r["calls"]


def test_every_explanation_names_a_call_never_seen_in_training():
    train = _seqs({f"n{i}": NORMAL for i in range(3)})
    odd = _seqs({"a": NORMAL[:7] + ["setuid", "setuid"] + NORMAL[7:]})
    explained = {
        "ngram": [r["call"] for r in NGram(k=3).fit(train).explain(odd).to_pylist()],
        "cover": [r["calls"] for r in CoverDetector().fit(train).explain(odd).to_pylist()]
                 + [r["next_call"] for r in CoverDetector().fit(train).explain(odd).to_pylist()],
        "tfidf": [r["ngram"] for r in TfidfDetector().fit(train).explain(odd).to_pylist()],
        "stide": [r["calls"] for r in Stide(k=3).fit(train).explain(odd).to_pylist()],
    }
    for name, texts in explained.items():
        assert any("setuid" in t for t in texts), name
        assert not any("<unknown>" in t for t in texts), name
    # hmm has no explanation of its own: the highest-scoring windows, highest first
    hmm = HMMDetector(n_states=3, n_iter=5).fit(train).explain(odd, top=3).to_pylist()
    assert len(hmm) == 3 and hmm[0]["score"] >= hmm[-1]["score"] > 0 and "setuid" in hmm[0]["calls"]


def _dataset(tmp_path, traces: dict[str, tuple[str, list[str]]]):
    rows, events = [], []
    for tid, (category, names) in traces.items():
        rows.append({"trace_id": tid, "scenario": category, "category": category, "mode": "single", "run": 1,
                     "label": "normal" if category == "normal" else "anomalous"})
        # line numbers as in a log with a header line and one line per call
        events += [{"trace_id": tid, "seq": i, "line": i + 2, "pid": 40 + len(rows), "syscall": c, "kind": "syscall"}
                   for i, c in enumerate(names)]
    d = tmp_path / "data"
    write_dataset(Dataset(pa.Table.from_pylist(rows), pa.Table.from_pylist(events)), d)
    return d, pa.Table.from_pylist(events)


def test_cli_explain_leads_back_to_the_log_line(tmp_path, capsys):
    odd = NORMAL[:7] + ["setuid", "execve"] + NORMAL[7:]
    data, events = _dataset(tmp_path, {**{f"n{i}": ("normal", NORMAL) for i in range(4)}, "r": ("priv", odd)})
    line_call = {(e["trace_id"], e["line"]): e["syscall"] for e in events.to_pylist()}
    for detector, column in (("ngram", "call"), ("stide", "calls"), ("cover", "calls")):
        model = tmp_path / f"{detector}.model"
        window = [] if detector == "cover" else ["-k", "3"]  # cover has no window length
        code, _, err = run_cli(capsys, "train", data, "--detector", detector, "-o", model, *window,
                               "--where", "category=normal")
        assert code == 0, err
        code, out, err = run_cli(capsys, "explain", model, data, "--where", "trace_id=r", "--json", "--top", "3")
        assert code == 0, err
        rows = json.loads(out)
        assert rows and all(r["trace_id"] == "r" for r in rows)
        for r in rows:  # the line named is the log line of the explained call
            first_call = r[column].split()[0]  # ngram: the call itself; windows, segments: their first call
            assert line_call[("r", r["line"])] == first_call, (detector, r)
        assert any("setuid" in r[column] for r in rows), detector
    code, out, _ = run_cli(capsys, "explain", tmp_path / "ngram.model", data, "--where", "trace_id=r")
    assert code == 0 and "least probable transitions" in " ".join(out.split())
    code, _, err = run_cli(capsys, "explain", tmp_path / "ngram.model", data, "--top", "0")
    assert code == 2 and "--top" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "explain", tmp_path / "missing.model", data)
    assert code == 2 and "does not exist" in err
