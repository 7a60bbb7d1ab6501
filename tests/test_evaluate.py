"""evaluate(): protocol (normal-only training, splits), metrics by hand, the CLI."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from syssense.cli import cli
from syssense.dataset import Dataset, read_dataset, traces_table, write_dataset
from syssense.errors import SyssenseError
from syssense.evaluate import alarm_runs, bootstrap_auc, dr_at_far, evaluate, split_dataset

ADFA_SMALL = Path(__file__).parent / "data" / "evaluate" / "adfa-small"


def _dataset(normal, anomalous, split=None):
    rows, ev = [], {"trace_id": [], "seq": [], "pid": [], "syscall": [], "kind": []}
    for label, group in (("normal", normal), ("anomalous", anomalous)):
        for i, calls in enumerate(group):
            tid = f"{label}-{i}"
            rows.append({"trace_id": tid, "label": label, "split": split(label, i) if split else None})
            ev["trace_id"] += [tid] * len(calls)
            ev["seq"] += list(range(len(calls)))
            ev["pid"] += [1] * len(calls)
            ev["syscall"] += list(calls)
            ev["kind"] += ["syscall"] * len(calls)
    return Dataset(traces_table(rows), pa.table(ev))


def _toy(n_normal=30, n_anom=10, seed=0):
    rng = np.random.default_rng(seed)
    normal = [list("openreadwriteclose" * int(rng.integers(1, 4))) for _ in range(n_normal)]
    anom = [list("openexecvesocketconnect" * int(rng.integers(1, 3))) for _ in range(n_anom)]
    return normal, anom


def test_metrics_by_hand():
    fpr = np.array([0.0, 0.005, 0.02, 0.05, 0.3, 1.0])
    tpr = np.array([0.0, 0.4, 0.5, 0.7, 0.9, 1.0])
    assert dr_at_far(fpr, tpr, 0.01) == 0.4 and dr_at_far(fpr, tpr, 0.05) == 0.7
    alarm = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], bool)
    group = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
    # group 0: runs [1,1] and [1] -> 2; group 1: one run (the run across groups is split) -> 1
    assert alarm_runs(alarm, group, 3).tolist() == [2, 1, 1]


def test_bootstrap_interval_brackets_the_auc():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60, bool), np.zeros(200, bool)]
    s = np.r_[rng.normal(1, 1, 60), rng.normal(0, 1, 200)]
    lo, hi = bootstrap_auc(y, s, 500, seed=1)
    auc = roc_auc_score(y, s)
    assert lo < auc < hi and 0.05 < hi - lo < 0.3
    assert bootstrap_auc(y, s, 500, seed=1) == (lo, hi)  # seeded


def test_random_split_trains_on_normal_only_and_is_seeded():
    normal, anom = _toy()
    ds = _dataset(normal, anom)
    tr, te, label, info = split_dataset(ds, 0.5, seed=3)
    assert info["split"] == "random" and len(tr) == 15
    assert all(label[t] == "normal" for t in tr)
    assert not set(tr) & set(te) and sum(label[t] == "anomalous" for t in te) == 10
    assert split_dataset(ds, 0.5, seed=3)[0] == tr and split_dataset(ds, 0.5, seed=4)[0] != tr


def test_published_split_is_used_and_attack_never_trains():
    normal, anom = _toy()
    ds = _dataset(normal, anom, split=lambda lab, i: "attack" if lab == "anomalous" else ("training" if i < 10 else "validation"))
    tr, te, label, info = split_dataset(ds)
    assert info["split"] == "published" and sorted(tr) == sorted(f"normal-{i}" for i in range(10))
    assert info["n_test_normal"] == 20 and info["n_test_anomalous"] == 10


def test_split_random_ignores_the_published_split_and_published_insists_on_it():
    normal, anom = _toy()
    ds = _dataset(normal, anom, split=lambda lab, i: "attack" if lab == "anomalous" else ("training" if i < 10 else "validation"))
    tr, te, label, info = split_dataset(ds, 0.4, seed=0, split="random")
    assert info["split"] == "random" and len(tr) == 12  # 40 % of all 30 normal traces, both published parts pooled
    assert all(label[t] == "normal" for t in tr) and any(int(t.split("-")[1]) >= 10 for t in tr)
    assert not set(tr) & set(te) and info["n_test_normal"] == 18 and info["n_test_anomalous"] == 10
    assert split_dataset(ds, 0.4, seed=0, split="published")[3]["split"] == "published"
    with pytest.raises(SyssenseError, match="no published training split"):
        split_dataset(_dataset(normal, anom), split="published")
    with pytest.raises(SyssenseError, match="--split must be"):
        split_dataset(ds, split="sideways")


def test_evaluate_separates_an_obvious_attack_and_returns_curves():
    normal, anom = _toy()
    ev = evaluate(_dataset(normal, anom), detectors=["ngram", "frequency", "stide"], ks="3..4", n_bootstrap=50)
    rows = {(r["detector"], r["k"]): r for r in ev.rows}
    assert set(rows) == {("ngram", 3), ("ngram", 4), ("frequency", None), ("stide", 3), ("stide", 4)}
    for r in rows.values():
        assert r["auc"] == 1.0 and r["dr_at_far_1"] == 1.0 and r["rec_dr"] == 1.0
        assert r["fit_seconds"] >= 0 and r["n_train"] == 15
    c = ev.curves[("ngram", 3)]
    assert c["fpr"][0] == 0.0 and c["tpr"][-1] == 1.0
    assert ev.scores.num_rows == 5 * 25  # every test trace per (detector, k)
    assert set(ev.scores.column("label").to_pylist()) == {"normal", "anomalous"}


def test_evaluate_on_real_adfa_subset():
    ds = read_dataset(ADFA_SMALL)
    ev = evaluate(ds, detectors="ngram", ks=6, n_bootstrap=100)
    r = ev.rows[0]
    assert ev.info["split"] == "published" and r["n_train"] == 80 and r["n_test_anomalous"] == 40
    assert 0.7 < r["auc"] <= 1.0 and r["auc_lo"] <= r["auc"] <= r["auc_hi"]


def test_timing_is_skipped_without_times_and_errors_are_sentences():
    normal, anom = _toy()
    ev = evaluate(_dataset(normal, anom), detectors="timing", ks=3, n_bootstrap=0)
    assert "timestamps" in ev.rows[0]["skipped"]
    from syssense.errors import SyssenseError

    with pytest.raises(SyssenseError, match="anomalous"):
        evaluate(_dataset(normal, []), detectors="ngram")
    with pytest.raises(SyssenseError, match="unknown detector"):
        evaluate(_dataset(normal, anom), detectors="nope")


def test_cli_json_and_table(tmp_path):
    normal, anom = _toy()
    data = write_dataset(_dataset(normal, anom), tmp_path / "toy")
    runner = CliRunner()
    res = runner.invoke(cli, ["evaluate", str(data), "-d", "ngram,frequency", "-k", "3", "--json",
                              "--bootstrap", "20", "--scores", str(tmp_path / "s.parquet"),
                              "--curves", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {o["detector"] for o in out} == {"ngram", "frequency"}
    assert all({"detector", "k", "auc", "dr_at_far_1", "dr_at_far_5"} <= set(o) for o in out)
    assert json.loads((tmp_path / "c.json").read_text())[0]["fpr"][0] == 0.0
    res = runner.invoke(cli, ["evaluate", str(data), "-d", "all", "-k", "3", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert "ngram" in res.output and "timing: skipped" in res.output


def test_cli_bad_input_exits_2_with_one_sentence(tmp_path, capsys):
    from syssense.cli import main

    normal, _ = _toy()
    data = write_dataset(_dataset(normal, []), tmp_path / "noattack")
    for args in (["evaluate", str(data), "-d", "ngram"], ["evaluate", str(tmp_path / "missing")],
                 ["evaluate", str(data), "-k", "x..y"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("syssense: ") and "Traceback" not in err[0]
