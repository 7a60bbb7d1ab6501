"""Sequences for the stide family: per-thread grouping, unsorted input, null names, positions."""

import numpy as np
import pyarrow as pa

from syssense.features import UNKNOWN, Sequences, sliding_windows, window_starts


def test_from_events_threads_unsorted_rows_and_null_names():
    events = pa.table(
        {
            "trace_id": ["b", "a", "a", "a", "a", "b"],
            "seq": [1, 3, 0, 2, 1, 0],
            "pid": [9, 5, 5, 5, 5, 9],
            "tid": [9, 6, 5, None, 6, 9],
            "syscall": ["y", "d", "a", None, "b", "x"],
            "kind": ["syscall", "syscall", "syscall", "syscall", "syscall", "signal"],
        }
    )
    seqs = Sequences.from_events(events, by="thread")
    # sorted by trace, then thread (null tid falls back to the pid), then seq
    assert list(seqs.trace_ids) == ["a", "a", "b"]
    assert seqs.pids.tolist() == [5, 6, 9]
    assert [seqs.vocab.decode(s) for s in seqs] == [["a", "<unknown>"], ["b", "d"], ["y"]]
    assert seqs[0][1] == UNKNOWN  # a null call name never matches anything
    assert seqs.rows.tolist() == [2, 3, 4, 1, 0]  # rows of the events table, signal left out
    per_process = Sequences.from_events(events)
    assert [per_process.vocab.decode(s) for s in per_process] == [["a", "b", "<unknown>", "d"], ["y"]]


def test_window_starts_match_sliding_windows():
    seqs = Sequences.from_lists([list("abcdef"), list("ab"), list("xyzxyz"), []])
    for k in (1, 3, 6, 7):
        w = sliding_windows(seqs, k)
        seq_index, start, flat_start, padded = window_starts(seqs, k)
        assert np.array_equal(seq_index, w.seq_index) and np.array_equal(start, w.start)
        assert np.array_equal(flat_start, w.flat_start) and np.array_equal(padded, w.padded)
    long_only = Sequences.from_lists([list("abcdef"), list("xyzxyz")])
    seq_index, start, flat_start, padded = window_starts(long_only, 4)
    assert flat_start.tolist() == [0, 1, 2, 6, 7, 8] and start.tolist() == [0, 1, 2, 0, 1, 2]
    assert not padded.any()
