"""Make tests/data/evaluate/adfa-small: a seeded subset of ADFA-LD (Creech & Hu 2013).

Run from the repository root:
    .venv/bin/python tests/data/evaluate/make_adfa_small.py /work/shared/datasets/adfa-ld/ADFA-LD.zip
"""

import shutil
import sys
from pathlib import Path

import numpy as np

import syssense
from syssense.dataset import write_dataset

out = Path(__file__).parent / "adfa-small"
ds = syssense.load(sys.argv[1])
rng = np.random.default_rng(6)
keep = []
for split, n in (("training", 80), ("validation", 80), ("attack", 40)):
    ids = [t for t, s in zip(ds.trace_ids(), ds.traces.column("split").to_pylist(), strict=True) if s == split]
    keep += list(rng.choice(sorted(ids), n, replace=False))
small = ds.select({"trace_id": keep})
small.events = small.events.select(["trace_id", "seq", "pid", "tid", "ts", "syscall", "kind"])
shutil.rmtree(out, ignore_errors=True)
write_dataset(small, out)
print(out, len(small), small.events.num_rows)
