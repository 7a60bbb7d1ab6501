"""Reader throughput on the public datasets, against a naive reference in the same run.

The reference parses ADFA-LD the obvious way (one Python int and one name lookup per
call, rows appended to lists, then an Arrow table); syssense's reader builds the columns
with NumPy/Arrow. Prints seconds, calls per second and the ratio. Timings are wall-clock
on a shared machine (other jobs run at the same time): read them as rough figures.

    .venv/bin/python bench/readers.py [--skip-stide]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import zipfile
from pathlib import Path

import pyarrow as pa

from syssense.parse.adfa import read as read_adfa
from syssense.parse.syscalls import table
from syssense.parse.unm import read as read_unm

ADFA = Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip")
STIDE = Path("/work/shared/datasets/unm/stide/stidetraces.tar.gz")
LPR = Path("/work/shared/datasets/unm/lpr-mit/lpr-live-mit-new.tar.gz")


def naive_adfa(path: Path) -> pa.Table:
    names = table("i386")
    tids, seqs, calls = [], [], []
    with zipfile.ZipFile(path) as zf:
        for n in sorted(zf.namelist()):
            if not n.endswith(".txt") or "_Data_Master" not in n:
                continue
            for i, tok in enumerate(zf.read(n).split()):
                tids.append(n)
                seqs.append(i)
                num = int(tok)
                calls.append(names.get(num, f"sys_{num}"))
    return pa.table({"trace_id": tids, "seq": seqs, "syscall": pa.array(calls).dictionary_encode()})


def timed(fn, *args, repeat: int = 1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-stide", action="store_true", help="skip the 15.6M-call UNM tarball")
    args = ap.parse_args()
    if not ADFA.exists():
        print("ADFA-LD.zip not found; nothing to measure", file=sys.stderr)
        return 1
    ref, t_ref = timed(naive_adfa, ADFA)
    ds, t_ours = timed(read_adfa, ADFA, repeat=3)
    assert ref.num_rows == ds.events.num_rows
    n = ds.events.num_rows
    print(f"ADFA-LD zip, {len(ds):,} traces, {n:,} calls")
    print(f"  naive per-call Python : {t_ref:7.2f} s  {n / t_ref / 1e6:6.2f} M calls/s")
    print(f"  syssense adfa reader  : {t_ours:7.2f} s  {n / t_ours / 1e6:6.2f} M calls/s  (best of 3)")
    print(f"  speed-up              : {t_ref / t_ours:7.1f} x")
    for label, path in [("UNM lpr-live-mit-new.tar.gz", LPR), ("UNM stidetraces.tar.gz", STIDE)]:
        if path is STIDE and args.skip_stide:
            continue
        if not path.exists():
            continue
        d, t = timed(read_unm, path)
        m = d.events.num_rows
        print(f"{label}: {len(d):,} traces, {m:,} calls in {t:.2f} s ({m / t / 1e6:.2f} M calls/s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
