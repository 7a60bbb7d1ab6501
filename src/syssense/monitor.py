"""Live detection: strace output scored window by window as it arrives.

The monitor reads strace text (``-f -ttt -T -yy`` from a pipe, or a recorded log
replayed at full speed), keeps for every process the last ``k - 1`` call ids of each
model (a bounded ring buffer) and the mismatch flags of its last ``L`` windows, and
scores every new window the moment its last call is seen:

* **stide** models (Forrest et al. 1996; Hofmeyr, Forrest & Somayaji 1998) are scored
  by looking each window up in a precomputed hash set of the model's normal windows
  (windows packed into one ``uint64`` key, looked up with a sorted-array binary
  search, all vectorised per batch); only the windows that miss are passed to the
  model for their exact score (minimum Hamming distance / k);
* any other detector is scored with its own ``score_windows`` on the batch, and a
  window is anomalous when its score exceeds the model's threshold.

The locality frame count (LFC, Hofmeyr et al. 1998) of a window is the number of
anomalous windows among the last ``L`` windows of the same process (``L = 20`` by
default). Every anomalous window whose LFC reaches ``min_lfc`` is an :class:`Alert`.

State is bounded: one small record per live process, dropped when strace reports its
exit (``+++ exited`` / ``+++ killed``), and at most ``max_pids`` records (the least
recently active is evicted), so memory stays flat over long runs.

Lines are read with a small, strict scanner that extracts only what scoring needs
(pid, timestamp, call name, exit markers); every ``name(`` line is one event (an
``<unfinished ...>`` call counts once, at its start; ``<... resumed>`` lines, signals
and strace's own messages are not calls), which is the same rule the full parser in
:mod:`syssense.parse.strace` uses for ``kind=syscall`` events.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .detect.base import Detector, load_model
from .errors import CaptureError, SyssenseError
from .features import PAD, UNKNOWN, Sequences, Vocabulary

#: strace flags the monitor uses (the same as capture: follow forks, absolute
#: microsecond timestamps, durations, decoded descriptors).
STRACE_FLAGS = ("-f", "-ttt", "-T", "-yy")

#: One event line: optional ``[pid N]`` / ``N`` prefix, optional timestamp, then either
#: ``name(`` (a call), ``+++ exited``/``+++ killed`` (a process ends) -- anything else
#: (resumed calls, signals, strace messages) is not a call.
_LINE_RE = re.compile(
    rb"^(?:(?:\[pid +)?(\d+)\]? +)?(?:(\d+(?:\.\d+)?|\d\d:\d\d:\d\d(?:\.\d+)?) +)?"
    rb"([A-Za-z_][A-Za-z0-9_]*(?=\()|\+\+\+(?= (?:exited|killed)))?[^\n]*\n",
    re.MULTILINE,
)
# Every part but the newline is optional and the rest of the line is consumed, so
# ``findall`` returns exactly one tuple per line (tuple i is line i: line numbers come
# for free) and the regex engine never tries a match in the middle of a line.

#: bounds that keep memory flat on garbage input: longest line kept whole, most
#: distinct call names remembered (later ones are all called ``<other>``)
_MAX_LINE = 1 << 24
_MAX_NAMES = 4096

#: detectors whose normal database is a set of windows (set lookup fast path)
_SET_DETECTORS = ("stide",)


# ----------------------------------------------------------------------------- alerts


@dataclass
class Alert:
    """One anomalous window, reported the moment its last call was seen."""

    model: str  # model name (file stem unless given)
    detector: str  # detector kind, e.g. stide
    pid: int
    ts: float | None  # timestamp of the window's last call (unix seconds)
    line: int  # 1-based log line of the window's last call
    calls: list[str]  # the window's calls, oldest first
    score: float  # the detector's window score (stide: min Hamming distance / k)
    lfc: int  # anomalous windows among the last L of this process
    L: int
    window: int  # index of the window in the process's sequence (0-based)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def format(self) -> str:
        """One human-readable line."""
        if self.ts is None:
            when = "-"
        else:
            when = time.strftime("%H:%M:%S", time.localtime(self.ts)) + f"{self.ts % 1:.6f}"[1:]
        return (
            f"{when} pid {self.pid} {self.model} score {self.score:.3g} "
            f"LFC {self.lfc}/{self.L} line {self.line}: {' '.join(self.calls)}"
        )


class AlertLimiter:
    """At most ``max_per_second`` alerts in any one-second span; the others are counted.

    Time is the alert's own timestamp (strace ``-ttt``, so ``--replay`` behaves as the
    live run did), or the wall clock for alerts without one. A sliding window: an alert
    is reported when fewer than ``max_per_second`` reported alerts lie in the second
    before it. Each run of suppressed alerts becomes one ``suppressed`` record (count,
    first/last timestamp and line, count per model), handed out just before the next
    reported alert or by :meth:`finish`. ``max_per_second`` ``None`` or 0: no limit.
    """

    def __init__(self, max_per_second: float | None) -> None:
        if max_per_second is not None and max_per_second < 0:
            raise SyssenseError("--max-alerts-per-second must be 0 (no limit) or more")
        if max_per_second and float(max_per_second).is_integer():
            max_per_second = int(max_per_second)
        self.max_per_second = max_per_second or None
        self.suppressed = 0
        self.per_model: dict[str, int] = {}
        self._recent: deque[float] = deque()
        self._run: dict[str, Any] | None = None

    def _record(self) -> dict[str, Any]:
        run, self._run = self._run, None
        assert run is not None
        return {"type": "suppressed", "max_alerts_per_second": self.max_per_second, **run}

    def admit(self, alerts: Sequence[Alert]) -> list[Alert | dict[str, Any]]:
        """``alerts`` in order, the suppressed ones replaced by ``suppressed`` records."""
        if self.max_per_second is None:
            return list(alerts)
        out: list[Alert | dict[str, Any]] = []
        cap = self.max_per_second
        for a in alerts:
            t = a.ts if a.ts is not None else time.time()
            while self._recent and self._recent[0] <= t - 1.0:
                self._recent.popleft()
            if len(self._recent) < cap:
                if self._run is not None:
                    out.append(self._record())
                self._recent.append(t)
                out.append(a)
                continue
            self.suppressed += 1
            self.per_model[a.model] = self.per_model.get(a.model, 0) + 1
            if self._run is None:
                self._run = {"count": 0, "first_ts": a.ts, "first_line": a.line, "models": {}}
            self._run["count"] += 1
            self._run["last_ts"], self._run["last_line"] = a.ts, a.line
            self._run["models"][a.model] = self._run["models"].get(a.model, 0) + 1
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The record of a suppressed run still open at the end (if any)."""
        return [self._record()] if self._run is not None else []


# ----------------------------------------------------------------------------- scoring


def _ts(x: bytes) -> float:
    """A ``-ttt`` timestamp (NaN when absent or a clock time)."""
    return float(x) if x and b":" not in x else float("nan")


def _model_k(model: Detector) -> int:
    params = model.get_params()
    for key in ("k", "window", "n"):
        v = params.get(key, getattr(model, key, None))
        if isinstance(v, int | np.integer) and int(v) >= 1:
            return int(v)
    raise SyssenseError(f"the {model.name} model has no window length (k); the monitor cannot score it")


def _pack_bits(vocab_size: int) -> int:
    return max(1, int(np.ceil(np.log2(max(vocab_size, 2)))))


def pack_windows(win: np.ndarray, bits: int) -> np.ndarray:
    """One ``uint64`` key per window row: exact bit packing when ``k * bits <= 64``,
    otherwise a 64-bit multiplicative hash (collisions ~ n / 2**64)."""
    win = np.asarray(win)
    n, k = win.shape
    if k * bits <= 64:
        shifts = (np.arange(k - 1, -1, -1, dtype=np.uint64) * np.uint64(bits)).astype(np.uint64)
        return np.bitwise_or.reduce(win.astype(np.uint64) << shifts, axis=1) if n else np.zeros(0, np.uint64)
    h = np.full(n, np.uint64(1469598103934665603), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):  # k columns, not n rows: vectorised over windows
            h = (h ^ win[:, j].astype(np.uint64)) * np.uint64(1099511628211)
    return h


def _stide_windows(model: Detector) -> np.ndarray | None:
    """The (n, k) array of a stide model's normal windows, if it exposes one."""
    for attr in ("windows_", "db_", "database_", "db_windows_"):
        arr = getattr(model, attr, None)
        if isinstance(arr, np.ndarray) and arr.ndim == 2:
            return arr
    with contextlib.suppress(Exception):
        for key, arr in model._state().items():
            if "window" in key and isinstance(arr, np.ndarray) and arr.ndim == 2:
                return arr
    return None


class ModelScorer:
    """Online scoring of one model: per-process tails, anomaly flags and LFC.

    ``threshold``: a window is anomalous when its score is above it (stide: 0, i.e. any
    window missing from the normal database). Default: the model's calibrated window
    threshold (``syssense train`` calibrates, :meth:`Detector.calibrate`), else the
    detector's default.
    """

    def __init__(
        self,
        model: Detector,
        name: str,
        threshold: float | None = None,
        L: int | None = None,
        min_lfc: int = 1,
        use_set: bool | None = None,
    ) -> None:
        model._check_fitted()
        self.model = model
        self.name = name
        self.detector = model.name
        #: sequence covering (cover): one "window" per call, scored 1 where the greedy covering
        #: breaks; the covering of a process continues from its open (last) segment
        self.covering = hasattr(model, "segment_starts")
        self.k = 1 if self.covering else _model_k(model)
        if L is None:
            L = int(model.get_params().get("locality", 20))
        self.L = int(L)
        if self.L < 1:
            raise SyssenseError("the locality frame L must be at least 1")
        self.min_lfc = int(min_lfc)
        if self.covering:
            # a threshold for cover counts breaks per frame of L calls: a break alerts when its
            # frame holds more than that many (LFC >= threshold + 1); any break is anomalous
            frame = threshold if threshold is not None else getattr(model, "window_threshold_", None)
            self.min_lfc = max(self.min_lfc, int(np.floor(frame or 0.0)) + 1)
            threshold = 0.0
        if threshold is None:
            threshold = getattr(model, "window_threshold_", None)  # set by Detector.calibrate
        if threshold is None:
            threshold = getattr(type(model), "default_threshold", None)
        if threshold is None:
            if model.name in (*_SET_DETECTORS, "tstide"):
                threshold = 0.0
            else:
                raise SyssenseError(
                    f"model {name} ({model.name}) has no alert threshold: pass --threshold {name}=VALUE "
                    "or --calibrate NORMAL_DATA"
                )
        self.threshold = float(threshold)
        self.vocab: Vocabulary = model.vocab_
        #: calls of history a window's score depends on beyond the window itself: an
        #: n-gram model scores each call given the previous k-1 calls
        self.context = self.k - 1 if hasattr(model, "call_logprob") else 0
        self._db: np.ndarray | None = None
        self._bits = _pack_bits(len(self.vocab))
        if use_set is None:
            use_set = model.name in _SET_DETECTORS
        if use_set:
            win = _stide_windows(model)
            if win is not None and win.shape[1] == self.k:
                self._db = np.unique(pack_windows(win.astype(np.int64), self._bits))
        self.n_windows = 0
        self.n_anomalous = 0
        self.n_alerts = 0
        self.max_lfc = 0

    @property
    def fast(self) -> bool:
        """Whether windows are scored by set lookup (stide) rather than score_windows."""
        return self._db is not None

    def calibrate(self, seqs: Sequences, quantile: float = 1.0) -> float:
        """Set the threshold to a quantile (default: max) of window scores on normal ``seqs``
        (cover: of the breaks per frame of L calls, which sets the LFC an alert needs)."""
        if self.covering:
            frames = self._frames(seqs.recode(self.vocab))
            frame = float(np.quantile(frames, quantile)) if len(frames) else 0.0
            self.min_lfc = max(self.min_lfc, int(np.floor(frame)) + 1)
            return frame
        scores = np.asarray(self.model.score_windows(seqs.recode(self.vocab)), dtype=np.float64)
        self.threshold = float(np.quantile(scores, quantile)) if len(scores) else 0.0
        return self.threshold

    def _frames(self, seqs: Sequences) -> np.ndarray:
        """Cover: breaks among the last L calls at every call of ``seqs`` (model ids)."""
        return self.model.frame_breaks(seqs, self.model._breaks(seqs), locality=self.L)

    def _score_covering(self, flat: np.ndarray, bounds: np.ndarray,
                        states: Sequence[dict[str, np.ndarray]] | None) -> tuple[np.ndarray, np.ndarray]:
        """Cover: 1.0 for each new call where the covering breaks. Each sequence continues
        from its process's open segment (``states[i][name]``, updated here): greedy
        longest-match covering only ever ends a segment at a call that cannot extend it, so
        covering again from the open segment's start gives what covering the whole
        process would (exact, not an approximation)."""
        n = len(bounds) - 1
        empty = np.zeros(0, np.int32)
        opens = [st.get(self.name, empty) for st in states] if states is not None else [empty] * n
        parts, offsets, new_from = [], [0], []
        for i in range(n):
            new = flat[bounds[i]:bounds[i + 1]]
            parts += [opens[i], new]
            new_from.append(offsets[-1] + len(opens[i]))
            offsets.append(offsets[-1] + len(opens[i]) + len(new))
        joined = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, np.int32)
        offs = np.asarray(offsets, np.int64)
        seqs = Sequences(joined, offs, np.array(["-"] * n, dtype=object), np.full(n, -1, np.int64), self.vocab)
        starts = self.model.segment_starts(seqs) if len(joined) else np.zeros(0, bool)
        breaks = starts.copy()
        breaks[offs[:-1][offs[1:] > offs[:-1]]] = False  # a process's first call, or the open segment's start
        scores = np.concatenate([breaks[new_from[i]:offs[i + 1]] for i in range(n)]).astype(np.float64) if n else np.zeros(0)
        if states is not None:
            for i in range(n):
                seg = np.flatnonzero(starts[offs[i]:offs[i + 1]])
                if len(seg):
                    states[i][self.name] = joined[offs[i] + seg[-1]:offs[i + 1]].copy()
        return scores, scores > self.threshold

    def score_seq(self, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, anomalous)`` of every full window of ``seq`` (model ids)."""
        seq = np.ascontiguousarray(seq, dtype=np.int32)
        return self.score_segments(seq, np.array([0, len(seq)], np.int64))

    def score_segments(self, flat: np.ndarray, bounds: np.ndarray,
                       states: Sequence[dict[str, np.ndarray]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and flags of every full window of several sequences at once.

        ``flat[bounds[i]:bounds[i+1]]`` is sequence ``i`` (model ids); windows come out
        sequence by sequence, ``max(len - k + 1, 0)`` per sequence. ``states``: per
        sequence, its process's state (cover keeps its open segment there).
        """
        if self.covering:
            return self._score_covering(flat, bounds, states)
        k = self.k
        lens = np.diff(bounds)
        counts = np.maximum(lens - k + 1, 0)
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0), np.zeros(0, bool)
        seg = np.repeat(np.arange(len(lens)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        starts = bounds[:-1][seg] + (np.arange(total) - first[seg])
        if self._db is not None:
            win = flat[starts[:, None] + np.arange(k)[None, :]]
            keys = pack_windows(win, self._bits)
            pos = np.searchsorted(self._db, keys)
            pos[pos >= len(self._db)] = 0
            found = (self._db[pos] == keys) if len(self._db) else np.zeros(total, bool)
            found &= ~(win == UNKNOWN).any(axis=1)
            bad = np.flatnonzero(~found)
            scores = np.zeros(total)
            if len(bad):
                scores[bad] = self._exact_scores(win[bad])
            return scores, scores > self.threshold
        keep = lens >= k  # shorter sequences would give a padded window: not scored yet
        if not keep.all():
            idx = np.flatnonzero(keep)
            parts = [flat[bounds[i] : bounds[i + 1]] for i in idx]
            flat = np.concatenate(parts) if parts else np.zeros(0, np.int32)
            lens = lens[idx]
            bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        seqs = Sequences(np.ascontiguousarray(flat, dtype=np.int32), bounds.astype(np.int64),
                         np.array(["-"] * len(lens), dtype=object), np.full(len(lens), -1, np.int64), self.vocab)
        scores = np.asarray(self.model.score_windows(seqs), dtype=np.float64)
        return scores, scores > self.threshold

    def _exact_scores(self, windows: np.ndarray) -> np.ndarray:
        """Scores of windows missing from the set: the stide anomaly signal d_min / k
        (minimum Hamming distance to the normal database, Hofmeyr et al. 1998)."""
        db = getattr(self.model, "db_", None)
        if db is not None and hasattr(db, "min_hamming"):
            d = np.asarray(db.min_hamming(np.ascontiguousarray(windows, dtype=np.int32)), dtype=np.float64)
            return np.maximum(d / self.k, np.nextafter(self.threshold, np.inf))
        m, k = windows.shape
        seqs = Sequences(
            codes=np.ascontiguousarray(windows, dtype=np.int32).ravel(),
            offsets=np.arange(0, m * k + 1, k, dtype=np.int64),
            trace_ids=np.array(["w"] * m, dtype=object),
            pids=np.full(m, -1, np.int64),
            vocab=self.vocab,
        )
        s = np.asarray(self.model.score_windows(seqs), dtype=np.float64)
        # a missing window is a mismatch even if the model scores it 0 (e.g. unknown call)
        return np.where(s > self.threshold, s, np.nextafter(self.threshold, np.inf))

    def score_padded(self, calls: np.ndarray) -> float:
        """Score of the single padded window of a process with fewer than k calls."""
        if self._db is None:  # the model pads a short sequence its own way
            return float(np.asarray(self.model.score_windows(np.ascontiguousarray(calls, dtype=np.int32)))[0])
        row = np.full(self.k, PAD, np.int32)
        row[: len(calls)] = calls
        scores, _ = self.score_seq(row)
        return float(scores[0])


_NO_FLAGS = np.zeros(0, dtype=bool)


@dataclass
class _Proc:
    """Bounded per-process state."""

    gtail: np.ndarray  # last (max_k - 1) global call ids
    gl_lines: np.ndarray  # their log lines
    gl_ts: np.ndarray  # their timestamps
    count: int = 0  # calls seen
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # model -> last L-1 flags
    state: dict[str, np.ndarray] = field(default_factory=dict)  # model -> its own state (cover: open segment)


@dataclass
class MonitorSummary:
    events: int
    lines: int
    processes: int
    seconds: float
    models: list[dict[str, Any]]
    exit_status: int | None = None
    interrupted: bool = False
    suppressed: int = 0  # alerts raised but not reported (rate limit)
    max_alerts_per_second: float | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events_per_second"] = self.events_per_second
        return d


class Monitor:
    """Score strace text online with one or more models.

    >>> mon = Monitor([model])                       # doctest: +SKIP
    >>> for alert in mon.feed(chunk_of_bytes): ...   # doctest: +SKIP
    >>> mon.close(); mon.summary()                    # doctest: +SKIP
    """

    def __init__(
        self,
        models: Sequence[Detector | str | os.PathLike[str]],
        names: Sequence[str] | None = None,
        thresholds: dict[str, float] | None = None,
        L: int | None = None,
        min_lfc: int = 1,
        max_pids: int = 65536,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        if not models:
            raise SyssenseError("give at least one model to monitor with")
        loaded: list[tuple[str, Detector]] = []
        for i, m in enumerate(models):
            if isinstance(m, Detector):
                name = names[i] if names else f"{m.name}{i if len(models) > 1 else ''}"
                loaded.append((name, m))
            else:
                p = Path(m)
                name = names[i] if names else p.stem
                loaded.append((name, load_model(p)))
        seen: dict[str, int] = {}
        for i, (name, m) in enumerate(loaded):  # unique names
            if name in seen:
                loaded[i] = (f"{name}#{i}", m)
            seen[name] = i
        thresholds = dict(thresholds or {})
        unknown = set(thresholds) - {n for n, _ in loaded}
        if unknown:
            raise SyssenseError(
                f"--threshold names {', '.join(sorted(unknown))}, which is not a model here "
                f"(models: {', '.join(n for n, _ in loaded)})"
            )
        self.scorers = [ModelScorer(m, n, thresholds.get(n), L=L, min_lfc=min_lfc) for n, m in loaded]
        self.max_k = max(s.k + s.context for s in self.scorers)
        self.max_pids = max_pids
        self.on_alert = on_alert
        self._names: list[str] = list(Vocabulary().names)  # global id -> name (0, 1 reserved)
        self._gid: dict[bytes, int] = {b"": -1, b"+++": -3}
        self._pid_cache: dict[bytes, int] = {}
        self._maps: list[np.ndarray] = [np.zeros(0, np.int32) for _ in self.scorers]
        self._procs: OrderedDict[int, _Proc] = OrderedDict()
        self._buf = b""
        self._line_base = 0  # lines consumed before self._buf
        self.events = 0
        self.pids_seen = 0
        self.evicted = 0
        self._t0 = time.perf_counter()
        self._t1: float | None = None

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes) -> list[Alert]:
        """Consume a chunk of strace output (any split); return the alerts it raised."""
        buf = self._buf + data if self._buf else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > _MAX_LINE:  # a runaway line (garbage): end it, keep memory bounded
                self._buf = b""
                return self._process(buf + b"\n")
            self._buf = buf
            return []
        self._buf = buf[cut + 1 :]
        return self._process(buf[: cut + 1])

    def feed_lines(self, lines: Iterable[str | bytes]) -> list[Alert]:
        """Consume whole lines (with or without trailing newlines)."""
        parts = [ln.encode() if isinstance(ln, str) else ln for ln in lines]
        text = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)
        return self.feed(text)

    def close(self) -> list[Alert]:
        """End of input: score what is left (a last line without newline, short processes)."""
        alerts: list[Alert] = []
        if self._buf:
            alerts += self._process(self._buf + b"\n")
            self._buf = b""
        for pid in list(self._procs):
            alerts += self._finish(pid)
        if self._t1 is None:
            self._t1 = time.perf_counter()
        return alerts

    # ------------------------------------------------------------------ core
    def _new_name(self, name: bytes) -> int:
        g = self._gid.get(name)
        if g is None:
            if len(self._names) >= _MAX_NAMES and name != b"<other>":  # garbage names: bounded
                return self._new_name(b"<other>")
            g = len(self._names)
            self._gid[name] = g
            self._names.append(name.decode("ascii", "replace"))
        return g

    def _map(self, j: int) -> np.ndarray:
        m = self._maps[j]
        if len(m) < len(self._names):
            v = self.scorers[j].vocab
            m = np.array([UNKNOWN, PAD] + [v.id(n) for n in self._names[2:]], dtype=np.int32)
            self._maps[j] = m
        return m

    def _proc(self, pid: int) -> _Proc:
        p = self._procs.get(pid)
        if p is None:
            p = _Proc(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.float64))
            self._procs[pid] = p
            self.pids_seen += 1
            if len(self._procs) > self.max_pids:
                self._procs.popitem(last=False)
                self.evicted += 1
        else:
            self._procs.move_to_end(pid)
        return p

    def _pid_ints(self, pid_b: Sequence[bytes]) -> np.ndarray:
        cache = self._pid_cache
        out = [cache.get(p, -1) for p in pid_b]
        if -1 in out:
            if len(cache) > 1_000_000:  # bounded: pids are reused and recycled
                cache.clear()
            for i, p in enumerate(pid_b):
                if out[i] == -1:
                    out[i] = cache[p] = int(p) if p else 0
        return np.array(out, dtype=np.int64)

    def _process(self, text: bytes) -> list[Alert]:
        """Scan whole lines (``text`` ends with a newline) and score their calls."""
        base = self._line_base
        rows = _LINE_RE.findall(text)  # one tuple per line
        self._line_base += len(rows)
        if not rows:
            return []
        # (column access by list comprehension: much faster than zip(*rows) here)
        get = self._gid.get
        ids = [get(r[2], -2) for r in rows]  # b"" (not a call) is -1, "+++" -3, a new name -2
        if -2 in ids:
            for i, r in enumerate(rows):
                if ids[i] == -2:
                    ids[i] = self._new_name(r[2])
        gid_all = np.array(ids, dtype=np.int32)
        call_idx = np.flatnonzero(gid_all >= 0)
        exits = np.flatnonzero(gid_all == -3)
        if not len(call_idx) and not len(exits):
            return []
        pids_all = self._pid_ints([r[0] for r in rows])
        call_pids = pids_all[call_idx]
        exit_pids = pids_all[exits]
        alerts: list[Alert] = []
        # split the batch only where a pid ends and then appears again (pid reuse);
        # otherwise score the whole batch at once and drop ended processes after it
        cuts: list[int] = []
        if len(exits):
            uniq, first_rev = np.unique(call_pids[::-1], return_index=True)
            last_call = dict(zip(uniq.tolist(), (call_idx[::-1][first_rev]).tolist(), strict=True))
            cuts = [int(e) for e, q in zip(exits, exit_pids.tolist(), strict=True) if last_call.get(q, -1) > e]
        prev = 0
        for b in [*cuts, len(rows)]:
            if prev == 0 and b == len(rows):
                sel = slice(None)
            else:
                sel = (call_idx >= prev) & (call_idx < b)
            idx = call_idx[sel]
            if len(idx):
                alerts += self._score(call_pids[sel], gid_all[idx], base + 1 + idx, idx, rows)
            ended = (exits >= prev) & (exits <= b) if b < len(rows) else exits >= prev
            for q in exit_pids[ended].tolist():
                alerts += self._finish(int(q))
            prev = b + 1
        if len(alerts) > 1:
            alerts.sort(key=lambda a: (a.line, a.model))
        return alerts

    def _score(self, pids: np.ndarray, gids: np.ndarray, lines: np.ndarray, rows: np.ndarray,
               scanned: Sequence[tuple[bytes, bytes, bytes]]) -> list[Alert]:
        """Score a batch of calls: all processes and windows of one model at once.

        ``rows`` index ``scanned`` (the scanner's tuples; timestamps are converted from
        text only where needed)."""
        self.events += len(gids)
        alerts: list[Alert] = []
        order = np.argsort(pids, kind="stable")
        sp = pids[order]
        cuts = np.flatnonzero(np.diff(sp)) + 1
        groups = np.split(order, cuts)
        procs = [self._proc(int(pids[g[0]])) for g in groups]
        gseqs = [np.concatenate([p.gtail, gids[g]]) for p, g in zip(procs, groups, strict=True)]
        keep = self.max_k - 1
        for j, sc in enumerate(self.scorers):
            mp = self._map(j)
            hist = sc.k - 1 + sc.context  # calls of history each model needs
            offs = [max(len(p.gtail) - hist, 0) for p in procs]
            # windows over history only (already scored) are computed again and dropped
            skips = np.array([max(len(p.gtail) - o - (sc.k - 1), 0) for p, o in zip(procs, offs, strict=True)],
                             dtype=np.int64)
            segs = [gs[o:] for gs, o in zip(gseqs, offs, strict=True)]
            lens = np.array([len(x) for x in segs], dtype=np.int64)
            bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
            flat = mp[np.concatenate(segs)] if len(segs) else np.zeros(0, np.int32)
            scores, flags = sc.score_segments(flat, bounds, [p.state for p in procs])
            if not len(flags):
                continue
            nwin_all = np.maximum(lens - sc.k + 1, 0)
            skips = np.minimum(skips, nwin_all)
            if skips.any():
                first_all = np.concatenate([[0], np.cumsum(nwin_all)[:-1]])
                seg_all = np.repeat(np.arange(len(lens)), nwin_all)
                keep_w = (np.arange(len(flags)) - first_all[seg_all]) >= skips[seg_all]
                scores, flags = scores[keep_w], flags[keep_w]
                if not len(flags):
                    continue
            nwin = nwin_all - skips
            sc.n_windows += len(flags)
            # LFC: previous flags of each process, then its new flags, cumulative sums
            prevs = [p.flags.get(sc.name, _NO_FLAGS) for p in procs]
            plen = np.array([len(x) for x in prevs], dtype=np.int64)
            seg_len = plen + nwin
            seg_start = np.concatenate([[0], np.cumsum(seg_len)[:-1]]).astype(np.int64)
            allf = np.empty(int(seg_len.sum()), dtype=bool)
            new_pos = np.empty(len(flags), dtype=np.int64)
            w0 = 0
            for i in range(len(procs)):  # per process, not per call
                s0 = int(seg_start[i])
                allf[s0 : s0 + plen[i]] = prevs[i]
                n = int(nwin[i])
                allf[s0 + plen[i] : s0 + plen[i] + n] = flags[w0 : w0 + n]
                new_pos[w0 : w0 + n] = np.arange(s0 + plen[i], s0 + plen[i] + n)
                if n or plen[i]:
                    tail = allf[s0 : s0 + seg_len[i]]
                    procs[i].flags[sc.name] = tail[-(sc.L - 1) :].copy() if sc.L > 1 else _NO_FLAGS
                w0 += n
            cs = np.concatenate([[0], np.cumsum(allf, dtype=np.int64)])
            seg_of = np.repeat(np.arange(len(procs)), nwin)
            lo = np.maximum(new_pos - sc.L + 1, seg_start[seg_of])
            lfc = cs[new_pos + 1] - cs[lo]
            nbad = int(flags.sum())
            if not nbad:
                continue
            sc.n_anomalous += nbad
            sc.max_lfc = max(sc.max_lfc, int(lfc[flags].max()))
            hits = np.flatnonzero(flags & (lfc >= sc.min_lfc))
            if not len(hits):
                continue
            wfirst = np.concatenate([[0], np.cumsum(nwin)[:-1]])
            for h in hits:  # reported windows only (rare in normal runs)
                i = int(seg_of[h])
                p, g, gs = procs[i], groups[i], gseqs[i]
                end = offs[i] + int(skips[i]) + int(h - wfirst[i]) + sc.k  # exclusive end in gs
                tail_len = len(p.gtail)
                # the window's last call is new in this batch (end > tail_len)
                last = g[end - 1 - tail_len]
                t = _ts(scanned[rows[last]][1])
                a = Alert(
                    model=sc.name,
                    detector=sc.detector,
                    pid=int(pids[last]),
                    ts=None if np.isnan(t) else t,
                    line=int(lines[last]),
                    calls=[self._names[x] for x in gs[end - sc.k : end]],
                    score=float(scores[h]),
                    lfc=int(lfc[h]),
                    L=sc.L,
                    window=p.count - tail_len + end - sc.k,
                )
                sc.n_alerts += 1
                alerts.append(a)
        for p, g, gs in zip(procs, groups, gseqs, strict=True):
            if keep > 0:
                # lines / timestamps of the tail are kept for short-process alerts
                p.gl_lines = np.concatenate([p.gl_lines, lines[g]])[-keep:]
                new_ts = np.array([_ts(scanned[r][1]) for r in rows[g[-keep:]].tolist()], dtype=np.float64)
                p.gl_ts = np.concatenate([p.gl_ts, new_ts])[-keep:]
                p.gtail = gs[-keep:]
            p.count += len(g)
        if self.on_alert is not None:
            for a in alerts:
                self.on_alert(a)
        return alerts

    def _finish(self, pid: int) -> list[Alert]:
        """A process ended: score the padded window of a short one, drop its state."""
        p = self._procs.pop(pid, None)
        if p is None or p.count == 0:
            return []
        alerts: list[Alert] = []
        for j, sc in enumerate(self.scorers):
            if p.count >= sc.k:
                continue
            calls = self._map(j)[p.gtail[-p.count :]]
            score = sc.score_padded(calls)
            sc.n_windows += 1
            if score > sc.threshold:
                sc.n_anomalous += 1
                sc.max_lfc = max(sc.max_lfc, 1)
                if sc.min_lfc <= 1:
                    t = float(p.gl_ts[-1])
                    a = Alert(sc.name, sc.detector, pid, None if np.isnan(t) else t, int(p.gl_lines[-1]),
                              [self._names[x] for x in p.gtail[-p.count :]], score, 1, sc.L, 0)
                    sc.n_alerts += 1
                    alerts.append(a)
                    if self.on_alert is not None:
                        self.on_alert(a)
        return alerts

    # ------------------------------------------------------------------ results
    @property
    def live_processes(self) -> int:
        return len(self._procs)

    def summary(self, exit_status: int | None = None, interrupted: bool = False) -> MonitorSummary:
        end = self._t1 if self._t1 is not None else time.perf_counter()
        models = [
            {
                "model": s.name,
                "detector": s.detector,
                "k": s.k,
                "threshold": s.threshold,
                "lookup": "set" if s.fast else "score_windows",
                "windows": s.n_windows,
                "anomalous": s.n_anomalous,
                "mismatch_rate": s.n_anomalous / s.n_windows if s.n_windows else 0.0,
                "max_lfc": s.max_lfc,
                "min_lfc": s.min_lfc,
                "alerts": s.n_alerts,
            }
            for s in self.scorers
        ]
        return MonitorSummary(self.events, self._line_base, self.pids_seen, end - self._t0, models,
                              exit_status, interrupted)


# ----------------------------------------------------------------------------- sources


def replay(path: str | os.PathLike[str] | BinaryIO, monitor: Monitor, chunk: int = 1 << 20) -> list[Alert]:
    """Feed a recorded strace log through ``monitor`` at full speed (bench, tests)."""
    alerts: list[Alert] = []
    fh = open(path, "rb") if isinstance(path, str | os.PathLike) else path  # noqa: SIM115
    try:
        while True:
            data = fh.read(chunk)
            if not data:
                break
            alerts += monitor.feed(data)
    finally:
        if fh is not path:
            fh.close()
    alerts += monitor.close()
    return alerts


def _strace_binary() -> str:
    exe = shutil.which("strace")
    if exe is None:
        raise CaptureError("strace is not installed; install it (e.g. apt-get install strace) to monitor")
    return exe


def _tracer_of(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


@dataclass
class _Session:
    """A running strace writing into a FIFO that we read."""

    proc: subprocess.Popen  # the program (command mode, strace -D) or strace (pid mode)
    fd: int
    tmpdir: str
    errfile: Path
    mode: str  # "command" or "pid"
    tracer: int = 0  # strace's pid

    def stop_tracer(self) -> None:
        """Make strace detach from every tracee and exit; the program goes on."""
        pid = self.tracer or (self.proc.pid if self.mode == "pid" else 0)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _start(strace_args: list[str], mode: str, stdin=None, stdout=None, stderr=None, cwd=None) -> _Session:
    tmpdir = tempfile.mkdtemp(prefix="syssense-monitor-")
    fifo = os.path.join(tmpdir, "trace.fifo")
    os.mkfifo(fifo, 0o600)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    errfile = Path(tmpdir) / "strace.err"
    # -I1: strace may be interrupted anywhere, so SIGTERM (or a closed pipe) makes it
    # detach and exit instead of lingering; the program keeps running either way.
    argv = [_strace_binary(), *STRACE_FLAGS, "-I1", "-o", fifo, *strace_args]
    with open(errfile, "wb") as err:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout,
                stderr=err if mode == "pid" else stderr,
                cwd=cwd,
                start_new_session=True,  # a Ctrl-C meant for the monitor never reaches the program
            )
        except OSError as exc:
            os.close(fd)
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise CaptureError(f"cannot start strace: {exc.strerror}") from None
    return _Session(proc, fd, tmpdir, errfile, mode)


def _read_session(
    sess: _Session, monitor: Monitor, deadline: float | None, chunk: int = 1 << 20,
    save: BinaryIO | None = None,
) -> Iterator[list[Alert]]:
    """Yield the alerts of each batch read from the FIFO until strace closes it
    (copying the raw text to ``save`` when given)."""
    opened = False
    while True:
        if deadline is not None and time.monotonic() > deadline:
            return
        r, _, _ = select.select([sess.fd], [], [], 0.2)
        if not r:
            if not sess.tracer and sess.mode == "command":
                sess.tracer = _tracer_of(sess.proc.pid)
            if not opened and sess.proc.poll() is not None and sess.mode == "pid":
                return  # strace exited before writing anything (attach failed)
            continue
        try:
            data = os.read(sess.fd, chunk)
        except BlockingIOError:
            continue
        if not data:
            if opened:
                return  # writer closed: strace has exited
            # no writer yet: keep waiting (the FIFO has not been opened by strace)
            if sess.proc.poll() is not None and sess.mode == "pid":
                return
            time.sleep(0.02)
            continue
        if not opened:
            opened = True
            if sess.mode == "command":
                sess.tracer = _tracer_of(sess.proc.pid)
        # batch everything already waiting in the pipe
        parts = [data]
        while len(data) == chunk:
            try:
                data = os.read(sess.fd, chunk)
            except BlockingIOError:
                break
            if not data:
                break
            parts.append(data)
        data = b"".join(parts) if len(parts) > 1 else parts[0]
        if save is not None:
            save.write(data)
        yield monitor.feed(data)


def _strace_failure(sess: _Session) -> str | None:
    try:
        text = sess.errfile.read_text(errors="replace").strip()
    except OSError:
        return None
    lines = [ln for ln in text.splitlines() if ln.startswith("strace:") and "attached" not in ln and "detached" not in ln]
    return lines[-1] if lines else None


def check_target(command: Sequence[str] | None, pid: int | None) -> None:
    """One clear sentence when there is nothing (or no such thing) to monitor."""
    _strace_binary()
    if (command is None) == (pid is None):
        raise SyssenseError("monitor either a command (-- CMD ARGS) or a running process (--pid PID)")
    if pid is not None and not Path(f"/proc/{pid}").exists():
        raise CaptureError(f"no process with pid {pid}")
    if command is not None:
        if not command:
            raise SyssenseError("no command given to monitor: write it after --, e.g. syssense monitor M.npz -- ls")
        if shutil.which(command[0]) is None and not Path(command[0]).exists():
            raise CaptureError(f"command not found: {command[0]}")


def run_monitor(
    monitor: Monitor,
    command: Sequence[str] | None = None,
    pid: int | None = None,
    on_batch: Callable[[list[Alert]], None] | None = None,
    timeout: float | None = None,
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    cwd: str | os.PathLike[str] | None = None,
    save_log: str | os.PathLike[str] | None = None,
) -> MonitorSummary:
    """Trace ``command`` (or attach to ``pid``) and score it live until it ends.

    If the monitor fails or is interrupted (KeyboardInterrupt, SIGTERM), strace is told
    to detach and the traced program goes on running. ``timeout`` (seconds) stops
    monitoring, not the program. ``stdin``/``stdout``/``stderr``/``cwd`` are the
    program's (command mode; inherited when None). ``save_log`` keeps the raw strace
    text (written under a temporary name, renamed at the end; alert ``line`` numbers
    refer to it).
    """
    check_target(command, pid)
    if pid is not None:
        sess = _start(["-p", str(pid)], "pid", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        sess.tracer = sess.proc.pid
    else:
        assert command is not None
        # -D: strace runs as a detached grandchild, the program is our own child (we get
        # its exit status, and it outlives the tracer if the tracer goes away)
        sess = _start(["-D", "--", *command], "command", stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd)
    interrupted = False
    exit_status: int | None = None
    old_term = signal.getsignal(signal.SIGTERM)

    def _on_term(signum, frame):  # SIGTERM behaves like Ctrl-C: stop, detach, summarise
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not in the main thread: leave signals alone
        signal.signal(signal.SIGTERM, _on_term)
    deadline = time.monotonic() + timeout if timeout else None
    stack = contextlib.ExitStack()
    save = None
    if save_log is not None:
        from ._atomic import atomic_path

        save = stack.enter_context(open(stack.enter_context(atomic_path(save_log)), "wb"))  # noqa: SIM115
    try:
        for alerts in _read_session(sess, monitor, deadline, save=save):
            if on_batch is not None and alerts:
                on_batch(alerts)
        if deadline is not None and time.monotonic() > deadline:
            interrupted = True
            sess.stop_tracer()
        alerts = monitor.close()
        if on_batch is not None and alerts:
            on_batch(alerts)
    except BaseException as exc:
        interrupted = True
        sess.stop_tracer()
        if not isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, old_term)
        if not interrupted:
            if sess.mode == "command":
                try:
                    exit_status = sess.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    exit_status = None
            else:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    sess.proc.wait(timeout=10)
        else:
            if sess.mode == "pid":
                with contextlib.suppress(subprocess.TimeoutExpired):
                    sess.proc.wait(timeout=10)
            else:
                exit_status = sess.proc.poll()
        failure = _strace_failure(sess) if monitor.events == 0 else None
        with contextlib.suppress(OSError):
            stack.close()  # keep the raw log (renamed into place), even after an interrupt
        os.close(sess.fd)
        shutil.rmtree(sess.tmpdir, ignore_errors=True)
    if failure and monitor.events == 0 and not interrupted:
        if "ptrace" in failure.lower() or "permitted" in failure.lower():
            raise CaptureError(f"strace could not trace: {failure[len('strace: '):]} (ptrace not permitted?)")
        raise CaptureError(f"strace failed: {failure[len('strace: '):]}")
    return monitor.summary(exit_status=exit_status, interrupted=interrupted)


# ----------------------------------------------------------------------------- scan


def scan_sequences(text: bytes | str, vocab: Vocabulary | None = None, trace_id: str = "log") -> Sequences:
    """Per-process call sequences of a strace log as the monitor sees them.

    Used to check that the monitor's scanner agrees with the full parser, and by the
    overflow example when no dataset is at hand.
    """
    if isinstance(text, str):
        text = text.encode()
    if text and not text.endswith(b"\n"):
        text += b"\n"
    per: dict[int, list[str]] = {}
    order: list[int] = []
    for pid_b, _ts, name in _LINE_RE.findall(text):
        if not name or name == b"+++":
            continue
        pid = int(pid_b) if pid_b else 0
        if pid not in per:
            per[pid] = []
            order.append(pid)
        per[pid].append(name.decode())
    order.sort()
    seqs = Sequences.from_lists([per[p] for p in order], vocab=vocab, trace_ids=[trace_id] * len(order))
    seqs.pids = np.array(order, dtype=np.int64)
    return seqs
