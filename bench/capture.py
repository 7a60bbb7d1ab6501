"""Capture overhead: a syscall-heavy command untraced, traced with the default flags, and
traced with a syscall filter (with and without ``--seccomp-bpf``).

Run: ``.venv/bin/python bench/capture.py [--count N] [--repeat R]``. Prints wall seconds
(median of R runs) and the ratio to the untraced run measured in the same invocation.
The machine may be shared: figures taken under load are noisy, the ratios less so.

The workload is ``dd if=/dev/zero of=/dev/null bs=1 count=N``: two system calls (read +
write) per byte, so about 2N calls, plus process start-up. The filter traces only
``execve,openat,close`` (about 60 calls), which is what a file-access study would keep.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from syssense.capture.runner import DEFAULT_FLAGS  # noqa: E402


def timed(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000, help="bytes for dd (about 2 syscalls each)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    strace = shutil.which("strace")
    if strace is None:
        print("strace is not installed; nothing to measure")
        return 1
    work = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={args.count}"]
    filt = ["-e", "trace=execve,openat,close"]
    with tempfile.TemporaryDirectory() as d:
        log = str(Path(d) / "bench.strace")
        cases = {
            "untraced": work,
            "strace default flags": [strace, "-o", log, *DEFAULT_FLAGS, "--", *work],
            "strace filter (ptrace stops on every call)": [strace, "-o", log, *DEFAULT_FLAGS, *filt, "--", *work],
            "strace filter + --seccomp-bpf": [strace, "-o", log, *DEFAULT_FLAGS, "--seccomp-bpf", *filt, "--", *work],
        }
        results = {}
        log_sizes = {}
        for name, argv in cases.items():
            times = [timed(argv) for _ in range(args.repeat)]
            results[name] = statistics.median(times)
            p = Path(log)
            log_sizes[name] = sum(1 for _ in p.open()) if name != "untraced" and p.exists() else 0
    base = results["untraced"]
    print(f"workload: {' '.join(work)}  (~{2 * args.count:,} syscalls), median of {args.repeat} runs; "
          "machine shared with other jobs, figures taken under load")
    print(f"{'case':48s} {'seconds':>9s} {'x untraced':>11s} {'log lines':>10s}")
    for name, t in results.items():
        print(f"{name:48s} {t:9.3f} {t / base:11.1f} {log_sizes[name]:10,d}")
    d, s = results["strace default flags"], results["strace filter + --seccomp-bpf"]
    print(f"seccomp-bpf filter is {d / s:.1f}x faster than tracing everything with the default flags")
    return 0


if __name__ == "__main__":
    sys.exit(main())
