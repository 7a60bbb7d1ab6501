"""Verdict thresholds calibrated on held-out normal traces (Detector.calibrate, train --calibrate),
and the timing detector trained and scored from the command line on real strace runs."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_cli
from syssense.dataset import Dataset, write_dataset
from syssense.detect import load_model
from syssense.detect.cover import CoverDetector
from syssense.detect.frequency import FrequencyDetector
from syssense.detect.ngram import NGram
from syssense.detect.timing import TimedSequences, TimingDetector
from syssense.errors import SyssenseError
from syssense.features import Sequences
from syssense.monitor import ModelScorer

CALLS = ["open", "read", "write", "close", "mmap", "stat"]


def _sequences(traces: dict[str, list[str]]) -> Sequences:
    return Sequences.from_lists(list(traces.values()), trace_ids=list(traces))


def _normal_traces(n: int, seed: int) -> dict[str, list[str]]:
    """Noisy repetitions of one loop: every trace differs a little from the others."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        calls: list[str] = []
        for _ in range(int(rng.integers(5, 12))):
            calls += ["open", "read", "read", "write", "close"]
            if rng.random() < 0.3:
                calls.append(str(rng.choice(CALLS)))
        out[f"n{i}"] = calls
    return out


def _leave_one_out_scores(make, seqs: Sequences) -> np.ndarray:
    """Independent oracle: train on all traces but one, score that one, for every trace."""
    scores = []
    for i in range(len(seqs)):
        rest = seqs.take([j for j in range(len(seqs)) if j != i])
        scores.append(make().fit(rest).score_traces(seqs.take([i])).column("score")[0].as_py())
    return np.array(scores)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 9), rate=st.sampled_from([0.01, 0.1, 0.25, 0.5]))
def test_leave_one_out_threshold_is_the_quantile_of_held_out_scores(seed, n, rate):
    seqs = _sequences(_normal_traces(n, seed))
    for make in (CoverDetector, lambda: NGram(k=3)):
        model = make().fit(seqs).calibrate(seqs, false_alarm_rate=rate, folds=n)  # folds = traces: leave one out
        held_out = _leave_one_out_scores(make, seqs)
        assert model.threshold_ == pytest.approx(np.quantile(held_out, 1 - rate, method="higher"))
        # the promise in words: at most `rate` of the held-out normal traces score above it
        assert np.mean(held_out > model.threshold_) <= rate + 1e-12
        assert model.verdict_calibration_["held_out_traces"] == n


def test_unseen_normal_traces_mostly_pass_and_anomalies_are_flagged():
    train = _sequences(_normal_traces(60, 1))
    fresh = _sequences(_normal_traces(200, 2))
    odd = _sequences({f"a{i}": ["socket", "connect", "execve", "setuid"] * 5 + ["open", "read"] for i in range(5)})
    for model in (CoverDetector(), NGram(k=4), FrequencyDetector()):
        model.fit(train).calibrate(train, false_alarm_rate=0.05, folds=5)
        fresh_scores = model.score_traces(fresh).column("score").to_numpy()
        assert np.mean(fresh_scores > model.verdict_threshold()) <= 0.15, model.name
        assert (model.score_traces(odd).column("score").to_numpy() > model.verdict_threshold()).all(), model.name


def test_window_thresholds_binary_scores_keep_the_default_and_continuous_ones_are_set():
    seqs = _sequences(_normal_traces(20, 3))
    cover = CoverDetector().fit(seqs).calibrate(seqs)
    assert cover.window_threshold_ is None and cover.window_verdict_threshold() == CoverDetector.default_threshold
    ngram = NGram(k=3).fit(seqs).calibrate(seqs, false_alarm_rate=0.05)
    windows = ngram.score_windows(seqs)
    assert ngram.window_threshold_ is not None and windows.min() <= ngram.window_threshold_ <= windows.max()
    # the live monitor alerts at the calibrated window threshold unless told otherwise
    assert ModelScorer(ngram, "ngram").threshold == pytest.approx(ngram.window_threshold_)
    assert ModelScorer(ngram, "ngram", threshold=9.0).threshold == 9.0


def test_calibration_is_saved_and_forgotten_when_the_model_changes(tmp_path):
    seqs = _sequences(_normal_traces(12, 4))
    model = NGram(k=3).fit(seqs).calibrate(seqs, false_alarm_rate=0.1)
    path = model.save(tmp_path / "m.model")
    back = load_model(path)
    assert back.threshold_ == model.threshold_ and back.window_threshold_ == model.window_threshold_
    assert back.verdict_calibration_ == model.verdict_calibration_
    back.partial_fit(_sequences({"x": ["open", "stat", "close"]}))
    assert not hasattr(back, "threshold_") and back.verdict_threshold() == NGram.default_threshold
    other = NGram(k=3).fit(seqs).calibrate(seqs)
    other.merge(NGram(k=3).fit(seqs))
    assert not hasattr(other, "threshold_")
    model.fit(seqs)
    assert not hasattr(model, "verdict_calibration_")
    # an uncalibrated model saves and loads without thresholds
    assert not hasattr(load_model(model.save(tmp_path / "plain.model")), "threshold_")


def test_calibration_refuses_what_it_cannot_do():
    seqs = _sequences(_normal_traces(5, 5))
    model = NGram(k=3).fit(seqs)
    for kwargs in ({"false_alarm_rate": 0.0}, {"false_alarm_rate": 1.0}, {"folds": 1}):
        with pytest.raises(SyssenseError):
            model.calibrate(seqs, **kwargs)
    one = _sequences({"only": ["open", "read", "close"]})
    with pytest.raises(SyssenseError, match="two normal traces"):
        NGram(k=3).fit(one).calibrate(one)
    with pytest.raises(SyssenseError):
        NGram(k=3).calibrate(seqs)  # not trained


def test_identical_histograms_are_at_distance_zero():
    seqs = _sequences({"a": ["open", "read", "close"] * 7, "b": ["read", "open", "close"] * 7})
    scores = FrequencyDetector().fit(seqs).score_traces(seqs).column("nn").to_numpy()
    assert (scores == 0.0).all()  # not ~1e-8 of rounding error


# --------------------------------------------------------------------------- command line
def _dataset(tmp_path, traces: dict[str, list[str]], categories: dict[str, str]):
    rows, events = [], []
    for tid, calls in traces.items():
        rows.append({"trace_id": tid, "scenario": categories[tid], "category": categories[tid], "mode": "single",
                     "run": 1, "label": "normal" if categories[tid] == "normal" else "anomalous"})
        events += [{"trace_id": tid, "seq": i, "line": i + 1, "pid": 7, "syscall": c, "kind": "syscall"}
                   for i, c in enumerate(calls)]
    d = tmp_path / "data"
    write_dataset(Dataset(pa.Table.from_pylist(rows), pa.Table.from_pylist(events)), d)
    return d


def test_train_calibrates_by_default_and_score_uses_it(tmp_path, capsys):
    normal = _normal_traces(30, 6)
    odd = {"r1": ["socket", "connect", "execve", "setuid"] * 5}
    data = _dataset(tmp_path, {**normal, **odd}, {**dict.fromkeys(normal, "normal"), "r1": "recon"})
    model = tmp_path / "cover.model"
    code, out, err = run_cli(capsys, "train", data, "--detector", "cover", "-o", model, "--where", "category=normal",
                          "--by", "trace", "--false-alarm-rate", "0.05")
    assert code == 0, err
    assert "0.05 of 30 held-out traces above" in out
    saved = load_model(model)
    code, out, _ = run_cli(capsys, "score", model, data, "--json")
    rows = {r["trace_id"]: r for r in json.loads(out)}
    assert rows["r1"]["verdict"] == "anomalous"
    assert all((rows[t]["score"] > saved.threshold_) == (rows[t]["verdict"] == "anomalous") for t in rows)
    # the old default (score > 0) would have called every normal trace anomalous
    assert all(rows[t]["score"] > 0 for t in normal)
    assert sum(rows[t]["verdict"] == "normal" for t in normal) >= 28
    code, out, _ = run_cli(capsys, "score", model, data)
    assert "calibrated for 0.05 held-out false alarms" in " ".join(out.split())  # the title may wrap
    # --no-calibrate keeps the detector's default; stide is not calibrated unless asked
    code, out, _ = run_cli(capsys, "train", data, "--detector", "cover", "-o", tmp_path / "plain.model",
                        "--where", "category=normal", "--no-calibrate")
    assert code == 0 and "detector default, not calibrated" in out
    assert not hasattr(load_model(tmp_path / "plain.model"), "threshold_")
    code, out, _ = run_cli(capsys, "train", data, "-o", tmp_path / "stide.model", "--where", "category=normal")
    assert code == 0 and not hasattr(load_model(tmp_path / "stide.model"), "threshold_")
    code, out, _ = run_cli(capsys, "train", data, "-o", tmp_path / "stide2.model", "--where", "category=normal", "--calibrate")
    assert code == 0 and load_model(tmp_path / "stide2.model").threshold_ >= 0.0


def test_train_calibration_bad_input_is_one_sentence_and_writes_nothing(tmp_path, capsys):
    normal = _normal_traces(4, 7)
    data = _dataset(tmp_path, normal, dict.fromkeys(normal, "normal"))
    for args, words in ((["--false-alarm-rate", "1.5"], "--false-alarm-rate"), (["--folds", "1"], "--folds"),
                        (["--calibrate", "--where", "trace_id=n0"], "two normal traces")):
        out_model = tmp_path / "bad.model"
        code, out, err = run_cli(capsys, "train", data, "--detector", "ngram", "-o", out_model, *args)
        assert code == 2 and words in err and "Traceback" not in err and not out_model.exists()
    # one trace and no explicit --calibrate: trained, not calibrated, and said so
    code, out, err = run_cli(capsys, "train", data, "--detector", "ngram", "-o", tmp_path / "one.model",
                          "--where", "trace_id=n0")
    assert code == 0 and "not calibrated" in out


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_timing_trains_and_scores_from_the_command_line_on_real_strace_runs(tmp_path, capsys):
    data = tmp_path / "data"
    script = "import os, time\nfor i in range(40):\n    os.stat('/')\n    time.sleep({})"
    for category, pause in (("normal", 0), ("normal", 0), ("normal", 0), ("slow", 0.01)):
        code, _, err = run_cli(capsys, "capture", "-o", data, "--category", category, "--scenario", category, "--",
                            "python3", "-c", script.format(pause))
        if code != 0 and "ptrace" in err:
            pytest.skip("ptrace is not permitted here")
        assert code == 0, err
    model = tmp_path / "timing.model"
    code, out, err = run_cli(capsys, "train", data, "--detector", "timing", "-o", model, "-k", "4",
                          "--where", "category=normal")
    assert code == 0, err
    # the command line learned exactly what the Python API learns from the same events
    from syssense.parse.registry import load

    ds = load(data).select({"category": ["normal"]})
    api = TimingDetector(k=4).fit(TimedSequences.from_events(ds.events))
    loaded = load_model(model)
    assert loaded.vocab_.to_list() == api.vocab_.to_list()
    np.testing.assert_allclose(loaded.stats_, api.stats_)
    assert loaded.threshold_ is not None  # calibrated on the three normal runs
    code, out, err = run_cli(capsys, "score", model, data, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert sorted(r["category"] for r in rows) == ["normal", "normal", "normal", "slow"]
    slow = next(r for r in rows if r["category"] == "slow")
    assert slow["score"] > max(r["score"] for r in rows if r["category"] == "normal")


# --------------------------------------------------------------------------- evaluate --calibrate
def test_evaluate_reports_the_operating_point_of_a_threshold_set_on_training_traces(capsys):
    from pathlib import Path

    from syssense.dataset import read_dataset
    from syssense.evaluate import _restrict, evaluate, split_dataset

    ds = read_dataset(Path(__file__).parent / "data" / "evaluate" / "adfa-small")
    result = evaluate(ds, detectors="cover,ngram", ks=4, n_bootstrap=0, recording=False, calibrate=0.05, by="trace")
    train_ids, _test_ids, _labels, _info = split_dataset(ds)
    train, _test = _restrict(Sequences.from_events(ds.events, by="trace"), train_ids)
    scores = result.scores.to_pylist()
    for row in result.rows:
        name = row["detector"]
        # the same threshold as calibrating a model trained on the training traces by hand
        model = (CoverDetector() if name == "cover" else NGram(k=4)).fit(train).calibrate(train, false_alarm_rate=0.05)
        assert row["cal_threshold"] == pytest.approx(model.threshold_)
        mine = [r for r in scores if r["detector"] == name]
        normal = np.array([r["score"] for r in mine if r["label"] == "normal"])
        attack = np.array([r["score"] for r in mine if r["label"] == "anomalous"])
        assert row["cal_far"] == pytest.approx(np.mean(normal > row["cal_threshold"]))
        assert row["cal_dr"] == pytest.approx(np.mean(attack > row["cal_threshold"]))
        assert row["cal_dr"] > row["cal_far"]  # better than chance on real ADFA-LD traces
    code, out, err = run_cli(capsys, "evaluate", Path(__file__).parent / "data" / "evaluate" / "adfa-small",
                          "-d", "cover", "--calibrate", "0.05", "--bootstrap", "0", "--no-recording")
    assert code == 0 and "cal FA" in out and "cal DR" in out
    code, out, err = run_cli(capsys, "evaluate", Path(__file__).parent / "data" / "evaluate" / "adfa-small",
                          "-d", "cover", "--calibrate", "5")
    assert code == 2 and "--calibrate" in err and "Traceback" not in err
