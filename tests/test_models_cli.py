"""train / merge / score / compare on the command line (hand-made dataset directory)."""

import json

import pyarrow as pa

from cli_helpers import run_cli
from syssense.dataset import Dataset, write_dataset

NORMAL = ["open", "read", "mmap", "mmap", "open", "getrlimit", "mmap", "close"]


def _make(tmp_path):
    traces, events = [], []
    spec = [("n1", "normal", 1, NORMAL), ("n2", "normal", 2, NORMAL + ["exit_group"]),
            ("r1", "recon", 1, NORMAL[:3] + ["socket", "connect"] + NORMAL[3:])]
    for tid, scen, run, calls in spec:
        traces.append({"trace_id": tid, "scenario": scen, "category": scen, "mode": "single", "run": run,
                       "label": "normal" if scen == "normal" else "anomalous"})
        for i, c in enumerate(calls):
            events.append({"trace_id": tid, "seq": i, "line": i + 1, "pid": 7, "ts": 100.0 + i,
                           "syscall": c, "kind": "syscall"})
    d = tmp_path / "data"
    write_dataset(Dataset(pa.Table.from_pylist(traces), pa.Table.from_pylist(events)), d)
    return d


def test_train_score_windows_merge_compare(tmp_path, capsys):
    data = _make(tmp_path)
    model = tmp_path / "m.model"
    code, out, err = run_cli(capsys, "train", data, "-o", model, "--where", "category=normal", "-k", "4")
    assert code == 0 and model.exists() and "distinct" in out
    code, out, _ = run_cli(capsys, "score", model, data, "--json")
    rows = {r["trace_id"]: r for r in json.loads(out)}
    assert rows["n1"]["verdict"] == "normal" and rows["n1"]["coverage"] == 1.0
    assert rows["r1"]["verdict"] == "anomalous" and rows["r1"]["scenario"] == "recon"
    assert rows["r1"]["mismatches"] == 5 and rows["r1"]["n_windows"] == 7
    # a threshold above r1's mismatch rate turns the verdict around
    code, out, _ = run_cli(capsys, "score", model, data, "--json", "--threshold", "0.9", "--where", "trace_id=r1")
    assert json.loads(out)[0]["verdict"] == "normal"
    # per-window rows lead back to the log: seq range, timestamps, line numbers, call names
    code, out, _ = run_cli(capsys, "score", model, data, "--windows", "--json", "--where", "trace_id=r1")
    wins = json.loads(out)
    assert len(wins) == 5 and all(not w["match"] for w in wins)
    first = wins[0]
    assert first["calls"] == "open read mmap socket"
    assert (first["seq_first"], first["seq_last"]) == (0, 3)
    assert (first["line_first"], first["line_last"]) == (1, 4)
    assert first["ts_first"] == 100.0 and first["ts_last"] == 103.0 and first["hamming"] == 1
    assert wins[1]["calls"] == "read mmap socket connect" and wins[1]["hamming"] == 2
    code, out, _ = run_cli(capsys, "score", model, data, "--windows", "--all-windows", "--csv", "--where", "trace_id=r1")
    assert code == 0 and out.count("\n") == 1 + 7 and out.startswith('"trace_id","pid","window"')
    # merge two models trained on different runs
    m1, m2, mm = tmp_path / "a.model", tmp_path / "b.model", tmp_path / "ab.model"
    run_cli(capsys, "train", data, "-o", m1, "--where", "trace_id=n1", "-k", "4")
    run_cli(capsys, "train", data, "-o", m2, "--where", "trace_id=n2", "-k", "4")
    code, out, _ = run_cli(capsys, "merge", m1, m2, "-o", mm)
    assert code == 0
    _, a, _ = run_cli(capsys, "score", model, data, "--json")
    _, b, _ = run_cli(capsys, "score", mm, data, "--json")
    assert json.loads(a) == json.loads(b)
    # compare: one row per scenario x mode x k
    code, out, _ = run_cli(capsys, "compare", data, "--baseline", "normal", "-k", "2..4", "--json")
    rows = json.loads(out)
    assert [(r["scenario"], r["k"]) for r in rows] == [("normal", 2), ("normal", 3), ("normal", 4),
                                                         ("recon", 2), ("recon", 3), ("recon", 4)]
    assert rows[-1]["new_call_names"] == "socket,connect"
    out_csv = tmp_path / "cmp.csv"
    code, _, _ = run_cli(capsys, "compare", data, "-k", "3", "-o", out_csv)
    assert code == 0 and out_csv.read_text().startswith('"scenario"')


def test_bad_input_gives_one_sentence_and_status_2(tmp_path, capsys):
    data = _make(tmp_path)
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"\x00\x01 not a model")
    for argv in (
        ("score", junk, data),
        ("score", tmp_path / "none.model", data),
        ("train", data, "-o", tmp_path / "x.model", "--where", "category=nothing"),
        ("train", data, "-o", tmp_path / "x.model", "--where", "colour=red"),
        ("train", data, "-o", tmp_path / "x.model", "--detector", "nope"),
        ("train", data, "-o", tmp_path / "x.model", "--param", "bogus=1"),
        ("compare", data, "-k", "ten"),
        ("compare", data, "--baseline", "absent"),
        ("merge", tmp_path / "none.model", "-o", tmp_path / "y.model"),
    ):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("syssense: ") and err.count("\n") == 1, (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "x.model").exists()
