#!/usr/bin/env python3
"""Write varied normal inputs for recproc: every legitimate command, every kind of
argument (existing and missing files, small and large directories, short and
long-but-legal names up to 31 bytes, comments, unknown commands), in random order
and amounts. A narrow training set makes false positives, so the mix is wide.

Usage: python3 make_inputs.py N OUTDIR [SEED]   (files normal-000.txt ... in OUTDIR)
The checked-in inputs/ were made with: python3 make_inputs.py 60 inputs 8
"""

from __future__ import annotations

import random
import string
import sys
from pathlib import Path

FILES = ["data.txt", "empty.txt", "missing.txt", "sub/notes.txt", "/etc/passwd", "/etc/hostname"]
DIRS = [".", "sub", "/etc", "/usr/bin", "no-such-dir"]
ENVS = ["HOME", "PATH", "LANG", "NO_SUCH_VARIABLE"]


def _word(rng: random.Random, lo: int = 1, hi: int = 12) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(lo, hi)))


def command(rng: random.Random, i: int) -> str:
    kind = rng.choices(
        ["name", "upper", "count", "stat", "list", "save", "sum", "sleep", "env", "time", "comment", "unknown"],
        weights=[14, 10, 12, 10, 8, 8, 8, 4, 6, 5, 3, 2],
    )[0]
    if kind == "name":
        return "name " + _word(rng, 1, 31).encode().hex()
    if kind == "upper":
        return "upper " + " ".join(_word(rng) for _ in range(rng.randint(1, 5)))
    if kind in ("count", "stat"):
        return f"{kind} {rng.choice(FILES)}"
    if kind == "list":
        return f"list {rng.choice(DIRS)}"
    if kind == "save":
        return f"save out-{i}.txt {_word(rng)}"
    if kind == "sum":
        return "sum " + " ".join(str(rng.randint(-50, 500)) for _ in range(rng.randint(0, 6)))
    if kind == "sleep":
        return f"sleep {rng.randint(0, 3)}"
    if kind == "env":
        return f"env {rng.choice(ENVS)}"
    if kind == "time":
        return "time"
    if kind == "comment":
        return "# " + _word(rng)
    return _word(rng, 3, 8).lower()


def make(n: int, out: Path, seed: int = 8) -> list[Path]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in range(n):
        lines = [command(rng, i) for i in range(rng.randint(3, 30))]
        p = out / f"normal-{r:03d}.txt"
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        sys.exit(2)
    made = make(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) == 4 else 8)
    print(f"wrote {len(made)} inputs to {sys.argv[2]}")
