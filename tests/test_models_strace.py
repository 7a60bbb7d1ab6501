"""stide on real strace runs of real programs: train on `ls`, score `ls` and `id`."""

import shutil
import subprocess

import pyarrow as pa
import pytest

from syssense.dataset import Dataset
from syssense.detect.stide import Stide
from syssense.features import Sequences
from syssense.parse.strace import parse_strace

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def _trace(tmp_path, name, argv):
    log = tmp_path / f"{name}.log"
    proc = subprocess.run(["strace", "-f", "-tt", "-o", str(log), *argv], capture_output=True, timeout=30)
    if proc.returncode != 0 and not log.exists():
        pytest.skip(f"strace cannot trace here: {proc.stderr.decode(errors='replace').strip()}")
    return log


def test_stide_tells_ls_from_id_on_real_traces(tmp_path):
    names = {"ls1": ["ls", "-l", "/"], "ls2": ["ls", "-l", "/usr"], "ls3": ["ls", "-l", "/etc"],
             "ls4": ["ls", "-l", "/tmp"], "id": ["id"]}
    logs = [_trace(tmp_path, n, argv) for n, argv in names.items()]
    ds = parse_strace(logs, trace_ids=list(names))
    train_ids, test_ids = ["ls1", "ls2", "ls3"], ["ls4", "id"]
    train = Sequences.from_events(ds.select({"trace_id": train_ids}).events)
    test = Sequences.from_events(ds.select({"trace_id": test_ids}).events)
    assert train.n_calls > 100 and test.n_calls > 50
    model = Stide(k=6).fit(train)
    rows = {r["trace_id"]: r for r in model.score_traces(test).to_pylist()}
    # another run of the same program is mostly covered; a different program is not
    assert rows["ls4"]["coverage"] > 0.8
    assert rows["id"]["mismatch_rate"] > rows["ls4"]["mismatch_rate"]
    assert rows["id"]["max_lfc"] >= rows["ls4"]["max_lfc"]
    # every window of the per-window table leads back to a real log line
    wt = model.window_table(test)
    assert wt.num_rows == sum(r["n_windows"] for r in rows.values())
    events = ds.events
    first = test.rows[test.offsets[:-1][wt.column("seq_index").to_numpy()] + wt.column("start").to_numpy()]
    lines = events.column("line").take(pa.array(first)).to_pylist()
    assert all(isinstance(x, int) and x > 0 for x in lines)
    assert isinstance(ds, Dataset)
