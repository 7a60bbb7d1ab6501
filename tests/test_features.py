"""Vocabulary, sequences and windows (made by hand; no trace needed)."""

import numpy as np
import pyarrow as pa

from syssense.dataset import Dataset
from syssense.features import PAD, UNKNOWN, Sequences, Vocabulary, sliding_windows, window_view


def test_vocabulary_reserves_unknown_and_pad():
    v = Vocabulary(["open", "read", "open"])
    assert v.names == ["<unknown>", "<pad>", "open", "read"]
    assert list(v.encode(["read", "nope", "open"])) == [3, UNKNOWN, 2]
    v.extend(["close"])
    assert v.id("open") == 2 and v.id("close") == 4


def test_windows_do_not_cross_sequences_and_pad_short_ones():
    seqs = Sequences.from_lists([["a", "b", "c", "d"], ["e"], []])
    w = sliding_windows(seqs, 3)
    a, b, c, d, e = (seqs.vocab.id(x) for x in "abcde")
    assert w.data.tolist() == [[a, b, c], [b, c, d], [e, PAD, PAD], [PAD, PAD, PAD]]
    assert w.seq_index.tolist() == [0, 0, 1, 2]
    assert w.padded.tolist() == [False, False, True, True]
    assert window_view(seqs[0], 2).tolist() == [[a, b], [b, c], [c, d]]


def test_sequences_from_events_group_per_process_in_seq_order():
    events = pa.table(
        {
            "trace_id": ["t1"] * 5 + ["t2"],
            "seq": [0, 1, 2, 3, 4, 0],
            "pid": [10, 11, 10, 11, 10, 5],
            "syscall": ["a", "x", "b", "y", "c", "z"],
            "kind": ["syscall", "syscall", "syscall", "syscall", "syscall", "syscall"],
        }
    )
    ds = Dataset(pa.table({"trace_id": ["t1", "t2"]}), events)
    seqs = Sequences.from_events(ds.events)
    names = [seqs.vocab.decode(s) for s in seqs]
    assert names == [["a", "b", "c"], ["x", "y"], ["z"]]
    assert seqs.pids.tolist() == [10, 11, 5]
    assert seqs.rows.tolist() == [0, 2, 4, 1, 3, 5]
    whole = Sequences.from_events(ds.events, by="trace")
    assert [whole.vocab.decode(s) for s in whole] == [["a", "x", "b", "y", "c"], ["z"]]
    other = Vocabulary(["b", "a"])
    re = seqs.recode(other)
    assert re[0].tolist() == [other.id("a"), other.id("b"), UNKNOWN]
    assert np.array_equal(seqs.take([2, 0]).codes, np.concatenate([seqs[2], seqs[0]]))


def test_dataset_parts_read_back_in_write_order(tmp_path):
    from syssense.dataset import read_dataset, traces_table, write_dataset

    for i in range(5):
        write_dataset(Dataset(traces_table([{"trace_id": f"t{i}", "run": i}]), pa.table({"trace_id": [f"t{i}"], "seq": [0], "kind": ["syscall"]})), tmp_path)
    assert read_dataset(tmp_path).traces.column("run").to_pylist() == [0, 1, 2, 3, 4]
