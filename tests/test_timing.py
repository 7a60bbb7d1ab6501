"""Timing detector: per-call log-time z-scores on hand-made event tables and on real
strace -ttt -T runs."""

import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pytest

from syssense.detect.base import load_model
from syssense.detect.timing import TimedSequences, TimingDetector
from syssense.errors import SyssenseError
from syssense.features import Sequences


def _events(trace, pid, calls, gaps, durations=None):
    ts = np.cumsum(gaps)
    n = len(calls)
    return pa.table({
        "trace_id": [trace] * n, "seq": list(range(n)), "pid": [pid] * n, "tid": [pid] * n,
        "syscall": calls, "kind": ["syscall"] * n, "ts": ts.tolist(),
        "duration": durations if durations is not None else [None] * n,
    })


def _normal(seed, trace):
    rng = np.random.default_rng(seed)
    calls = ["read", "write"] * 50
    gaps = np.where(np.array(calls) == "read", 1e-3, 1e-2) * rng.lognormal(0, 0.1, len(calls))
    return _events(trace, 1, calls, gaps, (np.full(len(calls), 1e-4) * rng.lognormal(0, 0.1, len(calls))).tolist())


def test_gaps_are_per_process_and_first_call_has_none():
    ev = pa.concat_tables([_events("t", 1, ["a", "b"], [1.0, 0.5]), _events("t", 2, ["c", "d"], [1.2, 0.1])])
    ev = ev.set_column(1, "seq", pa.array([0, 1, 2, 3]))
    s = TimedSequences.from_events(ev)
    assert len(s) == 2
    assert np.isnan(s.gap[0]) and s.gap[1] == pytest.approx(0.5)
    assert np.isnan(s.gap[2]) and s.gap[3] == pytest.approx(0.1)
    # take/recode keep the times
    assert np.isnan(s.take([1]).gap[0]) and s.take([1]).gap[1] == pytest.approx(0.1)


def test_slow_calls_score_high_and_normal_ones_low(tmp_path):
    train = pa.concat_tables([_normal(i, f"n{i}") for i in range(3)])
    model = TimingDetector(k=4).fit(TimedSequences.from_events(train))
    slow = _normal(9, "slow")
    gaps = np.diff(np.concatenate([[0.0], slow.column("ts").to_numpy()]))
    gaps[40:48] *= 200  # the process stalls for a few calls
    slow = _events("slow", 1, slow.column("syscall").to_pylist(), gaps, slow.column("duration").to_pylist())
    test = TimedSequences.from_events(pa.concat_tables([_normal(7, "ok"), slow]))
    rows = {r["trace_id"]: r for r in model.score_traces(test).to_pylist()}
    assert rows["ok"]["score"] < 3.0 < rows["slow"]["score"]
    assert rows["slow"]["anomalous_windows"] > 0 and rows["ok"]["anomalous_windows"] == 0
    assert rows["slow"]["outlier_frac"] == pytest.approx(8 / 100, abs=0.02)
    table, windows = model.score_all(test)
    assert np.allclose(windows, model.score_windows(test))
    back = load_model(model.save(tmp_path / "t.npz"))
    assert np.allclose(back.score_traces(test).column("score").to_numpy(),
                       model.score_traces(test).column("score").to_numpy())


def test_merge_equals_whole():
    a, b = _normal(1, "a"), _normal(2, "b")
    whole = TimingDetector().fit(TimedSequences.from_events(pa.concat_tables([a, b])))
    merged = TimingDetector().fit(TimedSequences.from_events(a)).merge(TimingDetector().fit(TimedSequences.from_events(b)))
    assert np.allclose(whole.distribution()[0], merged.distribution()[0])
    assert np.allclose(whole.distribution()[1], merged.distribution()[1])


def test_untimed_data_is_refused_in_one_sentence():
    with pytest.raises(SyssenseError, match="timestamps"):
        TimingDetector().fit(Sequences.from_lists([list("abc")]))
    ev = _events("t", 1, ["a", "b"], [1.0, 1.0]).set_column(6, "ts", pa.nulls(2, pa.float64()))
    with pytest.raises(SyssenseError, match="timestamps"):
        TimingDetector().fit(TimedSequences.from_events(ev))


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_real_strace_runs_sleeping_process_is_timing_anomalous(tmp_path):
    from syssense.parse.strace import parse_strace

    def run(name, script):
        log = tmp_path / f"{name}.log"
        proc = subprocess.run(["strace", "-f", "-ttt", "-T", "-o", str(log), "python3", "-c", script],
                              capture_output=True, timeout=60)
        if proc.returncode != 0 and b"ptrace" in proc.stderr:
            pytest.skip("ptrace is not permitted here")
        return log

    # the same calls in both; only the sleeps of the slow run take longer
    loop = "import os, time\nfor i in range(300):\n    os.stat('/')\n    time.sleep({} if i % 10 == 0 else 0)"
    fast, slow = loop.format(0), loop.format(0.01)
    logs = [run(f"n{i}", fast) for i in range(3)] + [run("fast", fast), run("slow", slow)]
    ds = parse_strace(logs, trace_ids=["n0", "n1", "n2", "fast", "slow"])
    seqs = TimedSequences.from_events(ds.events)
    assert np.isfinite(seqs.duration).mean() > 0.5  # -T durations were read
    model = TimingDetector(k=4).fit(seqs.for_traces(["n0", "n1", "n2"]))
    # whole-trace figures of a Python start-up (~10k calls) on a shared machine are noisy;
    # the sleeps themselves are not
    rows = {r["trace_id"]: r for r in model.score_traces(seqs.for_traces(["fast", "slow"])).to_pylist()}
    assert rows["slow"]["timed_calls"] > 1000 and rows["slow"]["anomalous_windows"] > 0
    # the 10 ms sleeps are far outside the normal duration of their call
    slow_seqs = seqs.for_traces(["slow"])
    z = model.event_scores(slow_seqs)
    sleeps = [slow_seqs.vocab.id(n) for n in ("clock_nanosleep", "nanosleep", "select", "pselect6")]
    is_sleep = np.isin(slow_seqs.codes, [i for i in sleeps if i])
    long_sleeps = is_sleep & (np.nan_to_num(slow_seqs.duration) > 0.008)
    assert long_sleeps.sum() >= 25
    assert np.mean(z[long_sleeps] > 3.0) >= 0.9
    fast_seqs = seqs.for_traces(["fast"])
    fast_sleep = np.isin(fast_seqs.codes, [i for i in sleeps if i])
    # a whole run can drift under load from other jobs, but a 10 ms sleep stays far beyond
    # any sleep(0) of the undelayed run
    assert np.median(z[long_sleeps]) > np.median(model.event_scores(fast_seqs)[fast_sleep]) + 1.0
