"""Benchmark: the stide window database (training, membership, minimum Hamming distance).

Issue 5, section 5. Builds a normal database from >= 10 million calls and scores >= 10
million calls at k = 6 and k = 10, and prints windows per second against a reference
measured in the same run: a plain Python ``set`` (``collections.Counter``) of tuples.

Data: a synthetic "program" — a sparse Markov chain over 150 system calls (a few likely successors per call,
see PROGRAMS) — so that windows repeat the way real traces do. The test stream is
the same chain with 0.5 % of calls replaced by a random call (mismatching windows, mostly
at small Hamming distances, as real anomalies are).

Run: ``.venv/bin/python bench/detect.py`` (``--calls N`` to change the size). Membership is a
compiled (numba) hash-table lookup; its machine code is cached on disk after the first
run. The machine
is shared with other work, so absolute timings vary; the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections import Counter

import numpy as np

from syssense.detect._windowdb import WindowDB, distinct_rows
from syssense.detect.stide import Stide
from syssense.features import Sequences, Vocabulary, window_rows

VOCAB = 150


#: per k, a program regular enough that 10M calls give on the order of 100,000 distinct
#: windows: (successors per call, their probabilities)
PROGRAMS = {6: (4, [0.55, 0.25, 0.15, 0.05]), 10: (3, [0.9, 0.08, 0.02])}


def chain(n: int, seed: int, noise: float = 0.0, k: int = 6) -> np.ndarray:
    """``n`` calls of a sparse Markov chain over VOCAB calls (ids 2 .. VOCAB+1), with
    ``noise`` (fraction of calls replaced by a random call). Not timed."""
    n_succ, probs = PROGRAMS[k]
    succ = np.random.default_rng(1234).integers(0, VOCAB, size=(VOCAB, n_succ)).tolist()
    r = np.random.default_rng(seed)
    choice = r.choice(n_succ, size=n, p=probs).tolist()
    out = [0] * n
    state = 0
    for i, c in enumerate(choice):
        state = succ[state][c]
        out[i] = state
    codes = np.array(out, dtype=np.int64)
    if noise:
        flip = r.random(n) < noise
        codes[flip] = r.integers(0, VOCAB, int(flip.sum()))
    return (codes + 2).astype(np.int32)


def as_sequences(codes: np.ndarray, vocab: Vocabulary, seq_len: int = 10_000) -> Sequences:
    offsets = np.arange(0, len(codes) + 1, seq_len, dtype=np.int64)
    if offsets[-1] != len(codes):
        offsets = np.append(offsets, len(codes))
    n = len(offsets) - 1
    return Sequences(codes, offsets, np.array([f"t{i // 100}" for i in range(n)], dtype=object),
                     np.arange(n, dtype=np.int64), vocab)


def tuples(codes: np.ndarray, k: int, limit: int) -> list[tuple[int, ...]]:
    c = codes[: limit + k - 1].tolist()
    return list(zip(*[c[j:] for j in range(k)], strict=False))


def numpy_brute_force(db: np.ndarray, rows: np.ndarray, cells: int = 1 << 22) -> np.ndarray:
    """Reference: min Hamming distance by comparing with every database window (NumPy)."""
    out = np.empty(len(rows), np.int16)
    step = max(1, cells // len(db))
    for lo in range(0, len(rows), step):
        block = rows[lo : lo + step]
        same = np.zeros((len(block), len(db)), np.int8)
        for j in range(db.shape[1]):
            same += block[:, j, None] == db[None, :, j]
        out[lo : lo + step] = db.shape[1] - same.max(axis=1)
    return out


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def bench_k(k: int, train: np.ndarray, test: np.ndarray, vocab: Vocabulary, ref_windows: int) -> None:
    print(f"\n=== k = {k} ===")
    tr, te = as_sequences(train, vocab), as_sequences(test, vocab)
    # training
    db, t_train = timed(WindowDB.build, tr, k, len(vocab))
    n_train = len(train) - (len(tr)) * (k - 1)
    _, t_ref_train = timed(lambda: Counter(tuples(train, k, ref_windows)))
    full_ref = {tuple(r) for r in db.rows.tolist()}  # the reference database: a set of tuples
    print(f"train: {n_train:,} windows in {t_train:.2f} s = {n_train / t_train / 1e6:.1f} M windows/s; "
          f"reference Counter of tuples {ref_windows / t_ref_train / 1e6:.2f} M/s; "
          f"ratio {n_train / t_train / (ref_windows / t_ref_train):.0f}x")
    print(f"       distinct windows: {len(db):,} (mode: {db.encoder.mode})")
    # membership
    # first call: builds the compiled hash table (and, first in a process, loads the cached
    # machine code); the second is the steady state
    m, t_match_first = timed(db.match, te)
    m, t_match = timed(db.match, te)
    n_test = len(m)
    _, t_ref_match = timed(lambda: sum(1 for w in tuples(test, k, ref_windows) if w in full_ref))
    rate, ref_rate = n_test / t_match, ref_windows / t_ref_match
    print(f"membership: {n_test:,} windows in {t_match:.2f} s = {rate / 1e6:.1f} M windows/s; "
          f"reference set of tuples (tuples made from the array, then looked up) {ref_rate / 1e6:.2f} M/s; ratio {rate / ref_rate:.0f}x "
          f"(targets: >= 10 M/s, >= 20x); first call incl. building the table {n_test / t_match_first / 1e6:.1f} M/s, "
          f"ratio {n_test / t_match_first / ref_rate:.0f}x")
    miss = np.flatnonzero(m.index < 0)
    print(f"            mismatching windows: {len(miss):,} ({len(miss) / n_test:.2%})")
    # Hamming: only windows that do not match exactly, distinct ones only
    def hamming_all() -> np.ndarray:
        rows = window_rows(te, k, m.flat_start[miss], m.padded[miss], m.seq_index[miss])
        uniq, inverse = distinct_rows(m.keys_at(db.encoder, miss), rows, db.encoder.exact)
        return db.min_hamming(uniq)[inverse], len(uniq)

    (dist, n_uniq), t_ham = timed(hamming_all)
    (dist2, _), t_ham_warm = timed(hamming_all)
    assert np.array_equal(dist, dist2)
    hist = np.bincount(dist, minlength=k + 1)
    print(f"hamming: {len(miss):,} mismatching windows ({n_uniq:,} distinct) in {t_ham:.2f} s cold "
          f"(tables built) / {t_ham_warm:.2f} s warm = {len(miss) / t_ham:,.0f} / {len(miss) / t_ham_warm:,.0f} windows/s "
          f"against {len(db):,} distinct windows (target >= 100,000/s)")
    print(f"         distance histogram d=0..{k}: {hist.tolist()}")
    # references: pure Python min over the set, and NumPy brute force without tables
    sample_rows = window_rows(te, k, m.flat_start[miss[:20]], m.padded[miss[:20]], m.seq_index[miss[:20]])
    db_list = [tuple(r) for r in db.rows.tolist()]

    def py_min(q):
        return min(sum(a != b for a, b in zip(q, w, strict=True)) for w in db_list)

    py_d, t_py = timed(lambda: [py_min(tuple(q)) for q in sample_rows.tolist()])
    assert py_d == dist[:20].tolist()
    bf_rows = window_rows(te, k, m.flat_start[miss[:2000]], m.padded[miss[:2000]], m.seq_index[miss[:2000]])
    bf, t_bf = timed(numpy_brute_force, db.rows, bf_rows)
    assert np.array_equal(bf, dist[:2000])
    print(f"         reference Python min over the set: {20 / t_py:,.0f} windows/s; "
          f"NumPy brute force: {2000 / t_bf:,.0f} windows/s; ratio {len(miss) / t_ham_warm / (20 / t_py):,.0f}x / "
          f"{len(miss) / t_ham_warm / (2000 / t_bf):,.0f}x")
    # memory per distinct window
    base = db.nbytes(with_tables=False)
    full = db.nbytes(with_tables=True)
    tracemalloc.start()
    probe = Counter(tuples(train, k, 200_000))
    cur, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory: {base / len(db):.0f} bytes per distinct window (windows + counts + key index); "
          f"{full / len(db):.0f} with the Hamming tables built; "
          f"Python Counter of tuples: {cur / len(probe):.0f} bytes per distinct window")
    # the whole stide pipeline: per-trace table with Hamming
    model = Stide(k=k)
    model.vocab_ = vocab
    model.db_ = db
    table, t_full = timed(model.score_traces, te)
    print(f"stide score_traces (match + Hamming + LFC + per-trace table): {len(test):,} calls in {t_full:.2f} s "
          f"= {n_test / t_full / 1e6:.1f} M windows/s ({table.num_rows} traces)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000_000, help="calls in training and in test (default 10M)")
    ap.add_argument("--ref-windows", type=int, default=1_000_000, help="windows timed for the Python reference")
    args = ap.parse_args()
    vocab = Vocabulary(str(i) for i in range(VOCAB))
    print("timings taken on a shared 2-core machine while other work ran: ratios are side by side")
    for k in (6, 10):
        t = time.perf_counter()
        train = chain(args.calls, seed=1, k=k)
        test = chain(args.calls, seed=2, noise=0.005, k=k)
        n_succ, probs = PROGRAMS[k]
        print(f"\ndata for k = {k}: {args.calls:,} training calls, {args.calls:,} test calls (0.5 % noise), "
              f"{VOCAB} calls, {n_succ} successors each with p = {probs} (generated in {time.perf_counter() - t:.1f} s)")
        bench_k(k, train, test, vocab, args.ref_windows)


if __name__ == "__main__":
    main()
