"""Monitor throughput: a recorded strace stream replayed at full speed through the
monitor's code path (scan + online scoring), against references measured in the same run.

    .venv/bin/python bench/monitor.py [--events 1000000] [--repeat 3]

The stream is a real strace log (-f -ttt -T -yy) of a shell loop running ls, cat, sed,
sort and wc, recorded once and repeated with fresh pids up to --events calls. Models are
trained on the first copy. References:

* scan only: the monitor's line scanner without scoring (upper bound of the monitor);
* naive: the same scanner, then a plain Python loop keeping a per-pid deque and looking
  every window tuple up in a Python set (what a straightforward monitor does);
* full parser: syssense.parse.strace's streaming parser (every field of every event),
  when installed.

Memory: tracemalloc's current allocation after each pass of a long replay (it stays
flat when per-process state is bounded).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path

import numpy as np

from syssense.detect.stide import Stide
from syssense.monitor import _LINE_RE, Monitor, scan_sequences

WORKLOAD = "for i in 1 2 3 4 5 6 7 8; do ls -la /usr/bin >/dev/null; cat /etc/passwd | sed s/a/b/ | sort | wc -l >/dev/null; done"


def record(tmp: Path) -> bytes:
    log = tmp / "w.log"
    subprocess.run(["strace", "-f", "-ttt", "-T", "-yy", "-o", str(log), "sh", "-c", WORKLOAD], check=True,
                   stdout=subprocess.DEVNULL)
    return log.read_bytes()


_PID = re.compile(rb"^(\d+)", re.MULTILINE)


def replicate(text: bytes, n_events: int) -> bytes:
    """Repeat the log with pids shifted by a fresh offset each copy."""
    per_copy = scan_sequences(text).n_calls
    copies = max(1, -(-n_events // per_copy))
    out = []
    for c in range(copies):
        off = 100000 * (c + 1)
        out.append(_PID.sub(lambda m, off=off: str(int(m.group(1)) + off).encode(), text))
    return b"".join(out)


def feed_all(mon: Monitor, data: bytes, chunk: int = 1 << 20) -> int:
    n = 0
    for pos in range(0, len(data), chunk):
        n += len(mon.feed(data[pos : pos + chunk]))
    return n + len(mon.close())


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def naive(data: bytes, db: set, k: int) -> int:
    tails: dict[bytes, deque] = {}
    bad = 0
    for pid, _ts, name in _LINE_RE.findall(data):
        if name == b"+++":
            tails.pop(pid, None)
            continue
        if not name:
            continue
        d = tails.get(pid)
        if d is None:
            d = tails[pid] = deque(maxlen=k)
        d.append(name)
        if len(d) == k and tuple(d) not in db:
            bad += 1
    return bad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("strace") is None:
        sys.exit("strace is not installed")
    with tempfile.TemporaryDirectory() as d:
        text = record(Path(d))
    data = replicate(text, args.events)
    n_events = scan_sequences(data).n_calls
    n_lines = data.count(b"\n")
    print(f"stream: {n_events:,} calls, {n_lines:,} lines, {len(data) / 1e6:.1f} MB "
          f"({scan_sequences(text).n_calls:,} calls per recorded copy); best of {args.repeat}; "
          "machine shared with other jobs, timings under load")

    train = scan_sequences(text)
    stide = Stide(k=6).fit(train)
    models = {"stide": stide}
    try:
        from syssense.detect.ngram import NGram

        models["ngram"] = NGram(k=6).fit(train)
    except ImportError:
        pass
    from syssense.detect.cover import CoverDetector

    models["cover"] = CoverDetector().fit(train)  # call by call, each process's open segment carried over

    rows = []

    def rate(label: str, seconds: float, note: str = "") -> float:
        r = n_events / seconds
        rows.append((label, seconds, r, note))
        return r

    t_scan = best_of(lambda: _LINE_RE.findall(data), args.repeat)
    rate("scan only (regex, no scoring)", t_scan)
    names = stide.vocab_.names
    db = {tuple(names[c].encode() for c in row) for row in stide.db_.rows}
    t_naive = best_of(lambda: naive(data, db, 6), args.repeat)
    r_naive = rate("naive: scan + Python deque/set per call", t_naive)
    try:
        from syssense.parse.strace import iter_strace_events

        lines = data[: data.index(b"\n", min(len(data) - 1, 20_000_000)) + 1].decode().splitlines()[:100_000]
        t0 = time.perf_counter()
        n = sum(1 for _ in iter_strace_events(lines))
        t_full = time.perf_counter() - t0
        rows.append((f"full parser (iter_strace_events), {len(lines):,} lines", t_full, n / t_full,
                     "events of every kind, every field"))
    except ImportError:
        pass
    alerts = {}
    r_mon = {}
    for name, m in models.items():
        thr = {name: 3.0} if name == "ngram" else None
        t = best_of(lambda m=m, name=name, thr=thr: alerts.__setitem__(name, feed_all(Monitor([m], names=[name], thresholds=thr), data)), args.repeat)
        r_mon[name] = rate(f"monitor: {name}", t, f"{alerts[name]:,} alerts")
    if len(models) > 1:
        t = best_of(lambda: feed_all(Monitor(list(models.values()), names=list(models),
                                             thresholds={"ngram": 3.0}), data), args.repeat)
        rate(f"monitor: {' + '.join(models)} together", t)

    print(f"\n{'path':<48} {'seconds':>8} {'events/s':>12}")
    for label, sec, r, note in rows:
        print(f"{label:<48} {sec:8.3f} {r:12,.0f}  {note}")
    print(f"\nmonitor stide vs naive Python loop: {r_mon['stide'] / r_naive:.1f}x; "
          f"vs scan only: {r_mon['stide'] * t_scan / n_events:.2f} of the scanner's speed")
    print("target >= 200,000 events/s: " + ", ".join(
        f"{name} {'met' if r >= 200_000 else 'NOT met'}" for name, r in r_mon.items()))

    # memory over a long run: the same stream again and again, fresh pids each pass
    tracemalloc.start()
    mon = Monitor([stide])
    cur = []
    small = data[: data.index(b"\n", min(len(data) - 1, 20_000_000)) + 1]
    for p in range(5):
        shifted = _PID.sub(lambda m, p=p: str(int(m.group(1)) + 10_000_000 * (p + 1)).encode(), small)
        for pos in range(0, len(shifted), 1 << 20):
            mon.feed(shifted[pos : pos + (1 << 20)])
        del shifted
        cur.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    print("\nmemory held after each pass of a long replay (tracemalloc, MB): "
          + ", ".join(f"{c / 1e6:.2f}" for c in cur)
          + f"; live processes {mon.live_processes}, {mon.events:,} calls scored")
    print(f"growth from pass 1 to pass 5: {(cur[-1] - cur[0]) / 1e6:+.2f} MB "
          f"({np.round(100 * (cur[-1] - cur[0]) / max(cur[0], 1), 1)} %)")


if __name__ == "__main__":
    main()
