"""stide and t-stide on hand-worked sequences, and the window database against brute force."""

import itertools

import numpy as np
import pytest

from syssense.detect._windowdb import KeyEncoder, WindowDB
from syssense.detect.stide import Stide, TStide, locality_frame_count
from syssense.features import PAD, Sequences, Vocabulary, sliding_windows

# Forrest, Hofmeyr, Somayaji & Longstaff (1996), section 3: the worked example
NORMAL = ["open", "read", "mmap", "mmap", "open", "getrlimit", "mmap", "close"]
NEW = ["open", "read", "mmap", "open", "open", "getrlimit", "mmap", "close"]


def test_forrest_1996_worked_example_k4():
    model = Stide(k=4).fit(Sequences.from_lists([NORMAL]))
    assert model.database() == {
        ("open", "read", "mmap", "mmap"): 1,
        ("read", "mmap", "mmap", "open"): 1,
        ("mmap", "mmap", "open", "getrlimit"): 1,
        ("mmap", "open", "getrlimit", "mmap"): 1,
        ("open", "getrlimit", "mmap", "close"): 1,
    }
    row = model.score_traces(Sequences.from_lists([NEW], trace_ids=["new"])).to_pylist()[0]
    # only the last window (open getrlimit mmap close) is in the database
    assert row["n_windows"] == 5 and row["mismatches"] == 4
    assert row["coverage"] == pytest.approx(0.2) and row["score"] == pytest.approx(0.8)
    # every mismatching window is one call away from a normal one
    assert row["max_hamming"] == 1 and row["anomaly_signal"] == pytest.approx(0.25)
    assert row["max_lfc"] == 4
    wt = model.window_table(Sequences.from_lists([NEW]))
    assert wt.column("match").to_pylist() == [False, False, False, False, True]
    assert wt.column("lfc").to_pylist() == [1, 2, 3, 4, 4]
    # the normal trace itself is fully covered
    assert Stide(k=4).fit(Sequences.from_lists([NORMAL])).score_trace(Sequences.from_lists([NORMAL])) == 0.0


def test_counts_unknown_calls_and_padding():
    train = Sequences.from_lists([list("abab"), list("ab")])
    model = Stide(k=3).fit(train)
    assert model.database() == {("a", "b", "a"): 1, ("b", "a", "b"): 1, ("a", "b", "<pad>"): 1}
    # a call never seen in training maps to UNKNOWN and can never match, even in a
    # window that otherwise looks normal
    t = model.score_traces(Sequences.from_lists([list("abaz"), list("ab"), list("a")], trace_ids=["x", "y", "z"]))
    rows = {r["trace_id"]: r for r in t.to_pylist()}
    assert rows["x"]["mismatches"] == 1 and rows["x"]["max_hamming"] == 1
    assert rows["y"]["mismatches"] == 0  # the padded short window matches the padded one
    assert rows["z"]["mismatches"] == 1 and rows["z"]["max_hamming"] == 1


def test_lfc_counts_only_the_last_L_windows_of_the_same_sequence():
    mism = np.array([1, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
    start = np.array([0, 1, 2, 3, 0, 1, 2, 3])  # two sequences of four windows
    assert locality_frame_count(mism, start, 2).tolist() == [1, 2, 1, 1, 1, 2, 1, 1]
    assert locality_frame_count(mism, start, 20).tolist() == [1, 2, 2, 3, 1, 2, 2, 3]


def test_tstide_rare_windows_count_as_mismatches():
    # training windows: "aba" x500, "bab" x499, "abc" x1 (1,000 in all)
    train = Sequences.from_lists([list("ab") * 500 + list("c")])
    t = TStide(k=3, rare_threshold=0.01).fit(train)  # rare: count < 10
    s = Stide(k=3).fit(train)
    test = Sequences.from_lists([list("ababc")], trace_ids=["t"])
    assert s.score_traces(test).column("mismatches")[0].as_py() == 0
    row = t.score_traces(test).to_pylist()[0]
    assert row["rare"] == 1 and row["mismatches"] == 1 and row["score"] == pytest.approx(1 / 3)
    assert row["max_hamming"] == 0  # a rare window is still in the database
    assert t.window_table(test).column("rare").to_pylist() == [False, False, True]
    # the default threshold (0.001 %) makes nothing rare in a database this small
    assert TStide(k=3).fit(train).score_traces(test).column("rare")[0].as_py() == 0


def _brute_min_hamming(db_rows, queries):
    db = np.asarray(db_rows)
    return np.array([int((db != q).sum(axis=1).min()) for q in queries])


@pytest.mark.parametrize(
    ("k", "vocab_size", "mode"),
    [(6, 12, "word"), (8, 200, "word"), (6, 300, "bits"), (10, 40, "bits"), (10, 200, "hash"), (10, 300, "hash"), (3, 70000, "bits")],
)
def test_window_database_matches_brute_force(k, vocab_size, mode):
    rng = np.random.default_rng(k * 1000 + vocab_size)
    assert KeyEncoder(k, vocab_size).mode == mode
    alphabet = np.arange(2, min(vocab_size, 2 + 5))  # few distinct calls: many near misses
    train = rng.choice(alphabet, size=3000).astype(np.int32)
    train[::97] = vocab_size - 1  # the largest id exercises every bit
    vocab = Vocabulary(str(i) for i in range(2, vocab_size))
    seqs = Sequences(train, np.array([0, 1000, 3000]), np.array(["a", "b"], dtype=object), np.array([1, 2]), vocab)
    db = WindowDB.build(seqs, k, vocab_size)
    windows = sliding_windows(seqs, k).data
    distinct = {tuple(w) for w in windows.tolist()}
    assert len(db) == len(distinct) and db.total == len(windows)
    assert {tuple(r) for r in db.rows.tolist()} == distinct
    test = rng.choice(alphabet, size=1500).astype(np.int32)
    test[::50] = 0  # UNKNOWN never matches
    tseqs = Sequences(test, np.array([0, 1500]), np.array(["t"], dtype=object), np.array([3]), vocab)
    m = db.match(tseqs)
    tw = sliding_windows(tseqs, k).data
    expect = np.array([tuple(w) in distinct for w in tw.tolist()])
    assert np.array_equal(m.index >= 0, expect)
    assert np.array_equal(db.rows[m.index[expect]], tw[expect])
    uniq = np.unique(tw[~expect], axis=0)[:400]
    assert np.array_equal(db.min_hamming(uniq), _brute_min_hamming(db.rows, uniq))
    # the NumPy remainder (bitsets / blocks / postings) and the compiled scan after each table level
    assert np.array_equal(db.min_hamming(uniq, compiled=False), _brute_min_hamming(db.rows, uniq))
    for levels in range(3):
        assert np.array_equal(db.min_hamming(uniq, table_levels=levels), _brute_min_hamming(db.rows, uniq))
    # posting-list counts only, and block candidates (no tables allowed), agree too
    assert np.array_equal(db.min_hamming(uniq, table_levels=0), _brute_min_hamming(db.rows, uniq))
    assert np.array_equal(db._count_matches(uniq, 1 << 16), k - _brute_min_hamming(db.rows, uniq))
    small = WindowDB(db.k, db.vocab_size, db.rows, db.counts)
    small.TABLE_BUDGET = 0
    assert np.array_equal(small.min_hamming(uniq), _brute_min_hamming(db.rows, uniq))
    blocks = WindowDB(db.k, db.vocab_size, db.rows, db.counts)
    blocks.TABLE_BUDGET = blocks.BITSET_BUDGET = 0  # block candidates, then posting lists
    assert np.array_equal(blocks.min_hamming(uniq), _brute_min_hamming(db.rows, uniq))
    assert blocks._bits is None
    assert not any(len(key) and key[0] != "block" for key in small._tables)


def test_hamming_handles_far_windows_and_empty_db():
    vocab = Vocabulary("abcdefgh")
    seqs = Sequences.from_lists([list("abcdef")], vocab=vocab)
    db = WindowDB.build(seqs, 4, len(vocab))
    far = vocab.encode(list("hhhh"))[None, :]
    three = vocab.encode(list("ahhh"))[None, :]
    assert db.min_hamming(np.vstack([far, three])).tolist() == [4, 3]
    empty = WindowDB.empty(4, len(vocab))
    assert empty.min_hamming(far).tolist() == [4]
    assert (empty.match(seqs).index == -1).all()


def test_short_sequences_pad_and_do_not_read_the_next_sequence():
    seqs = Sequences.from_lists([list("ab"), list("cdef")])
    db = WindowDB.build(seqs, 3, len(seqs.vocab))
    rows = {tuple(seqs.vocab.decode(r)) for r in db.rows}
    assert ("a", "b", "<pad>") in rows and ("b", "c", "d") not in rows
    assert PAD == 1


def test_hash_mode_stays_exact_with_many_distinct_windows():
    rng = np.random.default_rng(7)
    vocab = Vocabulary(str(i) for i in range(2, 200))
    codes = rng.integers(2, 200, 50_000).astype(np.int32)
    seqs = Sequences(codes, np.array([0, len(codes)]), np.array(["a"], dtype=object), np.array([1]), vocab)
    db = WindowDB.build(seqs, 12, len(vocab))
    assert not db.encoder.exact
    assert len(db) == len({tuple(w) for w in sliding_windows(seqs, 12).data.tolist()})
    # mutate one call of every 10th window: those windows must not match
    q = codes.copy()
    q[5::10] = np.where(q[5::10] == 2, 3, 2)
    qs = Sequences(q, seqs.offsets, seqs.trace_ids, seqs.pids, vocab)
    m = db.match(qs)
    known = {tuple(w) for w in db.rows.tolist()}
    tw = sliding_windows(qs, 12).data
    assert np.array_equal(m.index >= 0, np.array([tuple(w) in known for w in tw.tolist()]))
    assert list(itertools.islice(db.min_hamming(tw[m.index < 0][:50]), 3)) == [1, 1, 1]


@pytest.mark.parametrize(
    ("k", "vocab_size", "mode"),
    [(1, 50, "word"), (8, 256, "word"), (4, 257, "word"), (5, 1000, "bits"), (10, 256, "hash"),
     (9, 300, "hash"), (4, 1 << 20, "hash"), (2, 1 << 20, "word"), (3, 1 << 20, "bits")],
)
def test_compiled_table_lookup_is_exact_in_every_key_mode(k, vocab_size, mode):
    """The compiled rolling lookup (every sequence at least k long) and the general path
    (explicit words; here forced by one short, padded sequence) agree with a Python set."""
    enc = KeyEncoder(k, vocab_size)
    assert enc.mode == mode
    rng = np.random.default_rng(k * 7 + vocab_size)
    hi = np.array([2, 3, 4, vocab_size - 1])  # few calls (many matches) and the largest id
    vocab = Vocabulary(str(i) for i in range(2, vocab_size))

    def make(lengths, n_unknown=0, base=None):
        codes = rng.choice(hi, size=sum(lengths)).astype(np.int32)
        if base is not None:  # the training calls with some changed: matches and near misses
            codes = np.resize(base, len(codes))
            flip = rng.random(len(codes)) < 0.03
            codes[flip] = rng.choice(hi, int(flip.sum()))
        codes[rng.integers(0, len(codes), n_unknown)] = 0
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        n = len(lengths)
        return Sequences(codes, offsets, np.array([f"t{i}" for i in range(n)], dtype=object), np.arange(n), vocab)

    train = make([300, 41, 500])
    db = WindowDB.build(train, k, vocab_size)
    assert np.array_equal(db.lookup_rows(db.rows), np.arange(len(db)))
    known = {tuple(r) for r in db.rows.tolist()}
    for test in (make([k, 200, k + 3, 350], 20, train.codes), make([k + 1, 90, max(1, k - 1), 120], 3, train.codes)):
        m = db.match(test)
        tw = sliding_windows(test, k).data
        expect = np.array([tuple(w) in known for w in tw.tolist()])
        assert 0 < expect.sum() < len(expect)
        assert np.array_equal(m.index >= 0, expect)
        assert np.array_equal(db.rows[m.index[expect]], tw[expect])
        # words and keys derived afterwards are the windows' own
        miss = np.flatnonzero(~expect)
        assert np.array_equal(m.words_at(miss), db.encoder.row_words(tw[miss]))
        assert np.array_equal(m.keys_at(db.encoder, miss), db.encoder.row_keys(tw[miss]))


def test_lfc_trace_score_is_the_largest_locality_frame_count():
    train = Sequences.from_lists([list("abcdabcdabcd")])
    # one burst of 3 foreign calls inside a long normal trace, and a trace with spread-out misses
    burst = list("abcd" * 10) + list("xyz") + list("abcd" * 10)
    spread = [c for i in range(12) for c in ("abcd" + ("x" if i % 3 == 0 else ""))]
    test = Sequences.from_lists([burst, spread], trace_ids=["burst", "spread"])
    for cls in (Stide, TStide):
        rate = {r["trace_id"]: r for r in cls(k=3, locality=6).fit(train).score_traces(test).to_pylist()}
        lfc = {r["trace_id"]: r for r in cls(k=3, locality=6, trace_score="lfc").fit(train).score_traces(test).to_pylist()}
        for t in ("burst", "spread"):
            assert lfc[t]["score"] == rate[t]["max_lfc"] and lfc[t]["mismatch_rate"] == rate[t]["score"]
        # the burst has the lower mismatch rate but the denser frame
        assert rate["burst"]["score"] < rate["spread"]["score"] and lfc["burst"]["score"] > lfc["spread"]["score"]
    with pytest.raises(ValueError):
        Stide(trace_score="max").fit(train)
