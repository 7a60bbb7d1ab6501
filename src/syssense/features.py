"""From event tables to integer sequences and sliding windows (DESIGN.md, "Features").

* :class:`Vocabulary` maps system-call names to small integers. Id 0 is reserved for
  names never seen in training (it never matches anything in a model) and id 1 pads
  sequences shorter than the window.
* :class:`Sequences` holds many call sequences in one flat ``int32`` array with offsets
  (the Arrow "list" layout): one sequence per process by default, per trace or per
  thread on request.
* :func:`sliding_windows` turns them into a 2-D array of length-k windows, step 1,
  never crossing a sequence boundary; a sequence shorter than k yields one padded window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UNKNOWN = 0
PAD = 1
_RESERVED = ("<unknown>", "<pad>")

GroupBy = Literal["process", "trace", "thread"]


class Vocabulary:
    """System-call names to ids; ``UNKNOWN`` (0) and ``PAD`` (1) are reserved.

    Ids are stable: adding names never renumbers existing ones, so a model trained with
    a vocabulary stays valid when :meth:`extend` grows it (``partial_fit``).
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: list[str] = list(_RESERVED)
        self._index: dict[str, int] = {}
        self.extend(names)

    def extend(self, names: Iterable[str]) -> Vocabulary:
        """Add names not yet known (in order of first appearance); return self."""
        for name in names:
            if name is None:
                continue
            if name not in self._index and name not in _RESERVED:
                self._index[name] = len(self._names)
                self._names.append(name)
        return self

    @property
    def names(self) -> list[str]:
        """All names by id, reserved ones included (``names[i]`` is id ``i``)."""
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._names == other._names

    def __hash__(self) -> int:  # pragma: no cover - vocabularies are not dict keys
        return hash(tuple(self._names))

    def id(self, name: str) -> int:
        return self._index.get(name, UNKNOWN)

    def encode(self, names: Sequence[str] | np.ndarray | pa.Array) -> np.ndarray:
        """Ids of ``names`` (vectorised); unseen names give ``UNKNOWN``."""
        arr = pa.array(names, type=pa.string()) if not isinstance(names, pa.Array | pa.ChunkedArray) else names
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            dict_ids = self.encode(arr.dictionary)
            idx = arr.indices.to_numpy(zero_copy_only=False)
            return dict_ids[idx].astype(np.int32) if len(dict_ids) else np.zeros(len(idx), np.int32)
        known = pa.array(self._names[len(_RESERVED):], type=pa.string())
        pos = pc.index_in(arr, value_set=known).to_numpy(zero_copy_only=False)
        out = np.where(np.isnan(pos.astype(float)), -len(_RESERVED), pos)
        return (out + len(_RESERVED)).astype(np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self._names[int(i)] if 0 <= int(i) < len(self._names) else "<unknown>" for i in ids]

    def mapping_to(self, other: Vocabulary) -> np.ndarray:
        """Array ``m`` with ``m[id_in_self] == id_in_other`` (UNKNOWN where absent)."""
        m = np.array([other.id(n) for n in self._names], dtype=np.int32)
        m[UNKNOWN] = UNKNOWN
        m[PAD] = PAD
        return m

    def to_list(self) -> list[str]:
        """The non-reserved names in id order (what a model file stores)."""
        return self._names[len(_RESERVED):]

    @classmethod
    def from_list(cls, names: Iterable[str]) -> Vocabulary:
        return cls(names)


@dataclass
class Sequences:
    """Many call sequences in one flat array (CSR layout).

    ``codes[offsets[i]:offsets[i+1]]`` is sequence ``i``, in ``vocab`` ids.
    ``trace_ids[i]`` and ``pids[i]`` say where it came from; ``rows`` gives, for every
    code, the row number of its event in the events table it was built from (so any
    window leads back to ``seq``, ``ts`` and log ``line``).
    """

    codes: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len n+1
    trace_ids: np.ndarray  # object (str), len n
    pids: np.ndarray  # int64, len n (-1 when per trace)
    vocab: Vocabulary
    rows: np.ndarray | None = None  # int64, flat, same length as codes

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.codes[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_calls(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def single(cls, codes: np.ndarray | Sequence[int], vocab: Vocabulary, trace_id: str = "-") -> Sequences:
        """One sequence of ids already in ``vocab`` (what ``score_windows`` gets as an array)."""
        codes = np.asarray(codes, dtype=np.int32)
        return cls(codes, np.array([0, len(codes)], np.int64), np.array([trace_id], dtype=object),
                   np.array([-1], np.int64), vocab)

    @classmethod
    def from_lists(
        cls,
        seqs: Iterable[Sequence[str]],
        vocab: Vocabulary | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> Sequences:
        """Build from lists of call names (tests, small inputs)."""
        seqs = [list(s) for s in seqs]
        if vocab is None:
            vocab = Vocabulary(n for s in seqs for n in s)
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = [n for s in seqs for n in s]
        codes = vocab.encode(flat) if flat else np.zeros(0, np.int32)
        tids = np.array(trace_ids if trace_ids is not None else [f"s{i}" for i in range(len(seqs))], dtype=object)
        return cls(codes, offsets, tids, np.full(len(seqs), -1, np.int64), vocab)

    @classmethod
    def from_events(
        cls,
        events: pa.Table,
        vocab: Vocabulary | None = None,
        by: GroupBy = "process",
    ) -> Sequences:
        """Per-process (default), per-trace or per-thread call sequences of ``kind=syscall`` events.

        Order inside a sequence is the ``seq`` order of the trace. With ``vocab=None`` a
        vocabulary is built from the data (training); otherwise names it lacks map to
        ``UNKNOWN``.
        """
        if by not in ("process", "trace", "thread"):
            raise ValueError(f"unknown grouping {by!r}: process, trace or thread")
        cols = [c for c in ("trace_id", "seq", "pid", "tid", "syscall", "kind") if c in events.column_names]
        t = events.select(cols).unify_dictionaries()
        n_all = t.num_rows
        kind_idx, kind_dict = _dict_parts(t.column("kind")) if "kind" in cols else (np.zeros(n_all, np.int64), ["syscall"])
        if "syscall" in kind_dict:
            rows = np.flatnonzero(kind_idx == list(kind_dict).index("syscall"))
        else:
            rows = np.zeros(0, np.int64)
        tidx, tdict = _dict_parts(t.column("trace_id"))
        tnames = np.array([str(x) for x in tdict], dtype=object)
        rank_of = np.empty(len(tnames), np.int64)
        rank_of[np.argsort(tnames.astype(str), kind="stable")] = np.arange(len(tnames))
        trace_rank = rank_of[tidx[rows]] if len(tnames) else np.zeros(len(rows), np.int64)
        seq = _int_column(t, "seq", rows, fill=0)
        if by == "trace":
            key = np.full(len(rows), -1, np.int64)
        elif by == "thread":
            tid = _int_column(t, "tid", rows, fill=None)
            pid = _int_column(t, "pid", rows, fill=-1)
            key = np.where(tid == _NULL, pid, tid) if tid is not None else pid
        else:
            key = _int_column(t, "pid", rows, fill=-1)
        # sort by (trace_id, key, seq) unless already in that order (the usual case)
        if not _is_sorted(trace_rank, key, seq):
            order = np.argsort(seq, kind="stable")
            order = order[np.argsort(key[order], kind="stable")]
            order = order[np.argsort(trace_rank[order], kind="stable")]
            rows, trace_rank, key = rows[order], trace_rank[order], key[order]
        sidx, sdict = _dict_parts(t.column("syscall"))
        sidx = sidx[rows]
        if vocab is None:
            present = sidx[sidx >= 0]
            first = np.full(len(sdict), len(present), np.int64)
            first[present[::-1]] = np.arange(len(present) - 1, -1, -1)  # some occurrence; first in practice
            seen = np.flatnonzero(first < len(present))
            vocab = Vocabulary(str(sdict[u]) for u in seen[np.argsort(first[seen], kind="stable")])
        dict_ids = vocab.encode(pa.array([None if x is None else str(x) for x in sdict], pa.string())) if len(sdict) else np.zeros(0, np.int32)
        dict_ids = np.concatenate([dict_ids.astype(np.int32), [UNKNOWN]]).astype(np.int32)
        codes = dict_ids[sidx]  # -1 (null name) picks the trailing UNKNOWN
        if len(codes):
            change = np.ones(len(codes), dtype=bool)
            change[1:] = (trace_rank[1:] != trace_rank[:-1]) | (key[1:] != key[:-1])
            starts = np.flatnonzero(change)
        else:
            starts = np.zeros(0, np.int64)
        offsets = np.concatenate([starts, [len(codes)]]).astype(np.int64)
        names_sorted = np.empty(len(tnames), dtype=object)
        names_sorted[rank_of] = tnames
        return cls(
            codes=codes.astype(np.int32),
            offsets=offsets,
            trace_ids=names_sorted[trace_rank[starts]].astype(object) if len(starts) else np.zeros(0, dtype=object),
            pids=key[starts].astype(np.int64),
            vocab=vocab,
            rows=rows.astype(np.int64),
        )

    def recode(self, vocab: Vocabulary) -> Sequences:
        """The same sequences in ``vocab``'s ids (names ``vocab`` lacks become ``UNKNOWN``)."""
        if vocab == self.vocab:
            return self
        mapping = self.vocab.mapping_to(vocab)
        return Sequences(mapping[self.codes], self.offsets, self.trace_ids, self.pids, vocab, self.rows)

    def take(self, index: np.ndarray | Sequence[int]) -> Sequences:
        """A subset of sequences, in the given order."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        gather = _ranges(self.offsets[index], lengths)
        return Sequences(
            self.codes[gather],
            offsets,
            self.trace_ids[index],
            self.pids[index],
            self.vocab,
            None if self.rows is None else self.rows[gather],
        )

    def for_traces(self, trace_ids: Iterable[str]) -> Sequences:
        wanted = set(trace_ids)
        return self.take(np.flatnonzero([t in wanted for t in self.trace_ids]))

    def trace_index(self) -> tuple[np.ndarray, np.ndarray]:
        """``(unique_trace_ids, inverse)``: which trace each sequence belongs to."""
        uniq, inverse = np.unique(self.trace_ids.astype(str), return_inverse=True)
        return uniq.astype(object), inverse


_NULL = np.iinfo(np.int64).min


def _dict_parts(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list]:
    """``(indices, dictionary values)`` of a (possibly dictionary-encoded) column; -1 for null."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col)
    idx = pc.fill_null(col.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return idx, col.dictionary.to_pylist()


def _int_column(t: pa.Table, name: str, rows: np.ndarray, fill: int | None) -> np.ndarray | None:
    """Integer column ``name`` at ``rows`` as int64; nulls become ``fill`` (``_NULL`` if None)."""
    if name not in t.column_names:
        return None if fill is None else np.full(len(rows), fill, np.int64)
    col = t.column(name)
    col = pc.fill_null(pc.cast(col, pa.int64()), _NULL if fill is None else fill)
    return col.to_numpy().astype(np.int64)[rows]


def _is_sorted(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """Whether rows are in ascending (a, b, c) order."""
    if len(a) < 2:
        return True
    da, db, dc = np.diff(a), np.diff(b), np.diff(c)
    ok = (da > 0) | ((da == 0) & ((db > 0) | ((db == 0) & (dc >= 0))))
    return bool(ok.all())


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s+l)`` for every (s, l), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    out = np.ones(total, dtype=np.int64)
    nonzero = lengths > 0
    s, e, ln = starts[nonzero], ends[nonzero], lengths[nonzero]
    out[0] = s[0]
    jumps = e[:-1]
    out[jumps] = s[1:] - (s[:-1] + ln[:-1] - 1)
    return np.cumsum(out)


@dataclass
class Windows:
    """All length-k windows of a :class:`Sequences`, step 1.

    ``data[j]`` is window ``j``; it belongs to sequence ``seq_index[j]`` and starts at
    position ``start[j]`` inside that sequence (``flat_start[j]`` in the flat array).
    ``padded[j]`` is true for the single padded window of a sequence shorter than k.
    """

    data: np.ndarray  # (n_windows, k) int32
    seq_index: np.ndarray  # int64
    start: np.ndarray  # int64
    flat_start: np.ndarray  # int64
    padded: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.data)


def window_view(seq: np.ndarray, k: int) -> np.ndarray:
    """Windows of one sequence as a 2-D array (a view when len(seq) >= k, else one padded row)."""
    seq = np.asarray(seq, dtype=np.int32)
    if k < 1:
        raise ValueError("window size k must be at least 1")
    if len(seq) >= k:
        return np.lib.stride_tricks.sliding_window_view(seq, k)
    row = np.full((1, k), PAD, dtype=np.int32)
    row[0, : len(seq)] = seq
    return row


def window_starts(seqs: Sequences, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where every length-k window of ``seqs`` starts, without building the windows.

    Returns ``(seq_index, start, flat_start, padded)`` in :func:`sliding_windows` order:
    the sequence of each window, its start inside that sequence, its start in the flat
    ``codes`` array, and whether it is the one padded window of a sequence shorter than k.
    """
    if k < 1:
        raise ValueError("window size k must be at least 1")
    lengths = seqs.lengths
    short = lengths < k
    counts = np.where(short, 1, lengths - k + 1)
    n = int(counts.sum())
    seq_index = np.repeat(np.arange(len(seqs), dtype=np.int64), counts)
    if not short.any():
        # every sequence has >= k calls: window w starts at w + (k-1) * (its sequence)
        flat_start = np.arange(n, dtype=np.int64)
        if k > 1:
            flat_start += seq_index * (k - 1)
        start = flat_start - seqs.offsets[:-1][seq_index]
        return seq_index, start, flat_start, np.zeros(n, dtype=bool)
    first = np.zeros(len(counts), np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=first[1:])
    start = np.arange(n, dtype=np.int64)
    start -= np.repeat(first, counts)
    flat_start = seqs.offsets[:-1][seq_index] + start
    padded = short[seq_index]
    return seq_index, start, flat_start, padded


def window_rows(seqs: Sequences, k: int, flat_start: np.ndarray, padded: np.ndarray, seq_index: np.ndarray) -> np.ndarray:
    """The ``(len(flat_start), k)`` int32 windows at the given positions (padding short ones)."""
    codes = np.concatenate([seqs.codes, np.full(k, PAD, dtype=np.int32)]).astype(np.int32)
    gather = np.asarray(flat_start, np.int64)[:, None] + np.arange(k, dtype=np.int64)[None, :]
    data = codes[gather]
    if np.any(padded):
        seq_end = seqs.offsets[1:][seq_index[padded]]
        block = data[padded]
        block[gather[padded] >= seq_end[:, None]] = PAD
        data[padded] = block
    return data


def sliding_windows(seqs: Sequences, k: int) -> Windows:
    """Every length-k window of every sequence, as one ``(n, k)`` array; vectorised.

    A sequence shorter than k (including an empty one) yields one window padded with
    ``PAD`` at the end, so every sequence has at least one window.
    """
    seq_index, start, flat_start, padded = window_starts(seqs, k)
    data = window_rows(seqs, k, flat_start, padded, seq_index)
    return Windows(data, seq_index, start, flat_start, padded)
