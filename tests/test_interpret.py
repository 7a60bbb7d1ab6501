"""Tests of the priv/recon quadrants (syssense.interpret) on hand-built datasets."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from syssense.dataset import Dataset, traces_table, write_dataset
from syssense.errors import SyssenseError
from syssense.interpret import (
    BENIGN,
    CONTROLLED,
    RECON,
    STRONGER,
    interpret,
    metadata,
    quadrant_name,
    signatures,
)

NORMAL = ["open", "read", "mmap", "close", "write"] * 4
PRIV = NORMAL + ["setuid", "chmod", "fchown", "setgid", "chmod", "setuid", "chmod", "fchown"]
RECON_CALLS = NORMAL + ["uname", "getuid", "socket", "connect", "uname", "getuid", "socket", "connect"]
BOTH = NORMAL + ["setuid", "chmod", "fchown", "setgid", "uname", "getuid", "socket", "connect"]


def make_dataset(specs: list[tuple[str, str, int, list[str]]]) -> Dataset:
    """specs: (scenario, category, run, calls) -> a Dataset with one process per trace."""
    trows, cols = [], {"trace_id": [], "seq": [], "pid": [], "syscall": [], "kind": [], "args": [], "line": []}
    for i, (scen, cat, run, calls) in enumerate(specs):
        tid = f"t{i}"
        trows.append({"trace_id": tid, "scenario": scen, "category": cat, "mode": "single", "run": run})
        for j, c in enumerate(calls):
            cols["trace_id"].append(tid)
            cols["seq"].append(j)
            cols["pid"].append(100 + i)
            cols["syscall"].append(c)
            cols["kind"].append("syscall")
            cols["args"].append("")
            cols["line"].append(j + 1)
    return Dataset(traces_table(trows), pa.table(cols))


def three_runs() -> Dataset:
    specs = []
    for run in range(3):
        specs += [("normal", "normal", run, NORMAL), ("priv", "priv", run, PRIV),
                  ("recon", "recon", run, RECON_CALLS), ("both", "other", run, BOTH)]
    return make_dataset(specs)


def test_quadrant_names_exact() -> None:
    assert quadrant_name(0.5, 0.0, 0.1, 0.1) == "stronger anomalous behaviour"
    assert quadrant_name(0.0, 0.0, 0.1, 0.1) == "benign or low-signal behaviour"
    assert quadrant_name(0.5, 0.5, 0.1, 0.1) == "controlled or expected privileged behaviour"
    assert quadrant_name(0.0, 0.5, 0.1, 0.1) == "reconnaissance"


def test_quadrants_leave_one_run_out() -> None:
    ds = three_runs()
    out = interpret(ds, k=3, priv_threshold=0.05, recon_threshold=0.05)
    meta = metadata(out)
    assert meta["holdout"] == "run"
    rows = {r["trace_id"]: r for r in out.to_pylist()}
    for run in range(3):
        base = 4 * run
        assert rows[f"t{base}"]["quadrant"] == BENIGN
        assert rows[f"t{base}"]["priv_score"] == 0.0
        assert rows[f"t{base + 1}"]["quadrant"] == STRONGER
        assert rows[f"t{base + 2}"]["quadrant"] == RECON
        # "both" shares the setuid... prefix with priv and the uname... tail with recon
        assert rows[f"t{base + 3}"]["quadrant"] == CONTROLLED
    # scores are fractions of the trace's windows
    priv_row = rows["t1"]
    assert priv_row["n_windows"] == len(PRIV) - 3 + 1
    assert priv_row["priv_score"] == pytest.approx(priv_row["priv_windows"] / priv_row["n_windows"])


def test_no_self_scoring_with_single_run() -> None:
    # one run only: a priv trace whose windows appear in no other trace must score 0
    ds = make_dataset([("normal", "normal", 0, NORMAL), ("priv", "priv", 0, PRIV),
                       ("recon", "recon", 0, RECON_CALLS)])
    out = interpret(ds, k=3)
    assert metadata(out)["holdout"] == "trace"
    assert out.column("priv_score").to_pylist()[1] == 0.0
    # in sample (holdout none) the same trace scores high: the signature is its own windows
    insample = interpret(ds, k=3, holdout="none")
    assert insample.column("priv_score").to_pylist()[1] > 0.3


def test_held_out_run_sees_other_runs_only() -> None:
    # the priv behaviour appears only in run 0; run 1's priv trace is normal-looking
    ds = make_dataset([("normal", "normal", 0, NORMAL), ("normal", "normal", 1, NORMAL),
                       ("priv", "priv", 0, PRIV), ("priv", "priv", 1, NORMAL),
                       ("recon", "recon", 0, RECON_CALLS), ("recon", "recon", 1, RECON_CALLS)])
    out = interpret(ds, k=3, holdout="run").to_pylist()
    # run 0's priv trace is scored against run 1's priv windows (all normal) -> 0
    assert out[2]["priv_score"] == 0.0
    # recon traces: each run's signature comes from the other run, which has the same calls
    assert out[4]["recon_score"] > 0.2 and out[5]["recon_score"] > 0.2


def test_signatures_in_sample() -> None:
    sig = signatures(three_runs(), k=3)
    assert ("setuid", "chmod", "fchown") in sig["priv"]
    assert ("uname", "getuid", "socket") in sig["recon"]
    assert not any("setuid" in w for w in sig["recon"])


def test_missing_categories_and_bad_thresholds() -> None:
    ds = make_dataset([("normal", "normal", 0, NORMAL)])
    with pytest.raises(SyssenseError, match="no priv traces"):
        interpret(ds)
    with pytest.raises(SyssenseError, match="between 0 and 1"):
        interpret(three_runs(), priv_threshold=2.0)


def test_trace_without_calls_gets_null() -> None:
    ds = three_runs()
    traces = pa.concat_tables([ds.traces, traces_table([{"trace_id": "empty", "scenario": "normal",
                                                         "category": "normal", "run": 0}])])
    out = interpret(Dataset(traces, ds.events), k=3)
    last = out.to_pylist()[-1]
    assert last["trace_id"] == "empty" and last["priv_score"] is None and last["quadrant"] is None


def test_cli_interpret_table_and_json(tmp_path) -> None:
    from syssense.cli import cli

    data = write_dataset(three_runs(), tmp_path / "ds")
    runner = CliRunner()
    res = runner.invoke(cli, ["interpret", str(data), "-k", "3", "--json", "--priv-threshold", "0.05", "--recon-threshold", "0.05"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["traces"]
    assert {r["quadrant"] for r in rows} == {BENIGN, STRONGER, RECON, CONTROLLED}
    res = runner.invoke(cli, ["interpret", str(data), "-k", "3"])
    assert res.exit_code == 0
    assert "reconnaissance" in res.output
    res = runner.invoke(cli, ["interpret", str(tmp_path / "nope")])
    assert res.exit_code != 0


def test_vectorised_on_many_windows() -> None:
    rng = np.random.default_rng(0)
    calls = [f"c{i}" for i in range(30)]
    specs = []
    for run in range(3):
        for cat in ("normal", "priv", "recon"):
            specs.append((cat, cat, run, list(rng.choice(calls, 20000))))
    out = interpret(make_dataset(specs), k=4)
    assert out.num_rows == 9
    assert all(0.0 <= s <= 1.0 for s in out.column("priv_score").to_pylist())
