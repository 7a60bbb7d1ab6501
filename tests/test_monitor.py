"""Live monitor: online scoring equals offline scoring, bounded state, never harming
the monitored program, and the CLI's errors. Real strace runs of real programs."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from syssense.detect.stide import Stide
from syssense.errors import SyssenseError
from syssense.features import Sequences
from syssense.monitor import (
    Alert,
    AlertLimiter,
    ModelScorer,
    Monitor,
    replay,
    run_monitor,
    scan_sequences,
)

STRACE = shutil.which("strace")
needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed")
SYSSENSE = [str(Path(sys.executable).with_name("syssense"))]
FLAGS = ["-f", "-ttt", "-T", "-yy"]


def _trace(tmp: Path, name: str, argv: list[str]) -> Path:
    log = tmp / f"{name}.log"
    subprocess.run([STRACE, *FLAGS, "-o", str(log), *argv], check=True, cwd=tmp,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return log


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    if STRACE is None:
        pytest.skip("strace is not installed")
    tmp = tmp_path_factory.mktemp("monlogs")
    return {
        "ls1": _trace(tmp, "ls1", ["ls", "-la", "/usr/bin"]),
        "ls2": _trace(tmp, "ls2", ["ls", "-l", "/etc"]),
        "sh": _trace(tmp, "sh", ["sh", "-c", "ls / >/dev/null; cat /etc/hostname; id; (sleep 0.01 &); wait"]),
    }


@pytest.fixture(scope="module")
def model(logs, tmp_path_factory) -> tuple[Stide, Path]:
    seqs = scan_sequences(logs["ls1"].read_bytes() + logs["ls2"].read_bytes())
    m = Stide(k=6).fit(seqs)
    path = tmp_path_factory.mktemp("monmodel") / "ls.npz"
    m.save(path)
    return m, path


def _key(a):
    return (a.pid, a.line, a.lfc, tuple(a.calls), round(a.score, 9))


def test_online_equals_offline_stide(logs, model):
    """Alerts of the monitor are exactly the mismatching windows stide finds offline,
    with the same LFC and the anomaly signal (min Hamming distance / k) as score."""
    m, _ = model
    text = logs["sh"].read_bytes()
    alerts = replay(logs["sh"], Monitor([m]))
    assert alerts, "the shell run should differ from ls"
    seqs = scan_sequences(text)
    seqs = Sequences.from_lists([[seqs.vocab.names[c] for c in s] for s in seqs], vocab=m.vocab_)
    a = m.analyse(seqs)
    full = ~a["padded"]
    assert len(alerts) == int(a["mismatch"].sum())
    assert sorted(x.lfc for x in alerts) == sorted(a["lfc"][a["mismatch"] & full].tolist()
                                                  + [1] * int((a["mismatch"] & ~full).sum()))
    assert sorted(round(x.score, 9) for x in alerts) == sorted(
        np.round(a["hamming"][a["mismatch"]] / 6, 9).tolist())
    assert max(x.lfc for x in alerts) == int(a["lfc"].max())
    # every alert points at a line of the log holding the window's last call
    lines = text.decode().splitlines()
    for x in alerts[:50]:
        assert f"{x.calls[-1]}(" in lines[x.line - 1]
        assert lines[x.line - 1].startswith(str(x.pid))


def test_normal_run_has_no_alerts_and_counts_all_calls(logs, model):
    m, _ = model
    mon = Monitor([m])
    assert replay(logs["ls1"], mon) == []
    s = mon.summary()
    n_calls = scan_sequences(logs["ls1"].read_bytes()).n_calls
    assert s.events == n_calls
    assert s.models[0]["windows"] == n_calls - 6 + 1
    assert s.models[0]["lookup"] == "set"


def test_any_chunking_gives_the_same_alerts(logs, model):
    m, _ = model
    text = logs["sh"].read_bytes()
    whole = [_key(a) for a in replay(logs["sh"], Monitor([m]))]
    rng = random.Random(3)
    for _ in range(3):
        mon = Monitor([m])
        got, pos = [], 0
        while pos < len(text):
            step = rng.randint(1, 700)
            got += mon.feed(text[pos : pos + step])
            pos += step
        got += mon.close()
        assert sorted(_key(a) for a in got) == sorted(whole)


def test_set_lookup_equals_score_windows_path(logs, model):
    m, _ = model
    fast = Monitor([m])
    slow = Monitor([m])
    slow.scorers[0] = ModelScorer(m, "slow", use_set=False)
    assert fast.scorers[0].fast and not slow.scorers[0].fast
    a = replay(logs["sh"], fast)
    b = replay(logs["sh"], slow)
    assert [(x.pid, x.line, x.lfc) for x in a] == [(x.pid, x.line, x.lfc) for x in b]


def test_two_models_and_min_lfc(logs, model):
    m, path = model
    m4 = Stide(k=4).fit(scan_sequences(logs["ls1"].read_bytes()))
    mon = Monitor([path, m4], names=["k6", "k4"], min_lfc=5)
    alerts = replay(logs["sh"], mon)
    assert {a.model for a in alerts} == {"k6", "k4"}
    assert all(a.lfc >= 5 for a in alerts)
    assert {a.calls.__len__() for a in alerts if a.model == "k4"} == {4}


def test_state_is_bounded(model):
    """Exited processes are dropped; without exit lines at most max_pids are kept."""
    m, _ = model
    mon = Monitor([m], max_pids=50)
    calls = ["openat", "read", "close", "mmap", "write", "brk", "fstat", "read"]
    for batch in range(20):
        lines = []
        for pid in range(batch * 100, batch * 100 + 100):
            ts = 1700000000.0 + pid
            lines += [f"{pid}  {ts:.6f} {c}(3) = 0 <0.000001>" for c in calls]
            if pid % 2 == 0:
                lines.append(f"{pid}  {ts:.6f} +++ exited with 0 +++")
        mon.feed_lines(lines)
        assert mon.live_processes <= 50
        for p in mon._procs.values():
            assert len(p.gtail) <= 5 and all(len(f) <= 19 for f in p.flags.values())
    mon.close()
    assert mon.live_processes == 0
    assert mon.summary().processes == 2000
    assert mon.events == 2000 * len(calls)


def test_short_process_scores_its_padded_window(model):
    m, _ = model
    mon = Monitor([m])
    alerts = mon.feed_lines(["77  1.0 getppid() = 1", "77  1.1 +++ exited with 0 +++"])
    assert len(alerts) == 1 and alerts[0].calls == ["getppid"] and alerts[0].window == 0


def test_unknown_threshold_name_and_missing_threshold(model):
    m, _ = model
    with pytest.raises(SyssenseError, match="not a model here"):
        Monitor([m], names=["a"], thresholds={"b": 1.0})

    class NoThreshold(Stide):
        name = "custom"
        default_threshold = None

    nt = NoThreshold(k=3).fit(Sequences.from_lists([["a", "b", "c", "d"]]))
    with pytest.raises(SyssenseError, match="--threshold"):
        Monitor([nt])
    assert Monitor([nt], names=["c"], thresholds={"c": 0.5}).scorers[0].threshold == 0.5


# ----------------------------------------------------------------------------- live


def _slow_program(tmp: Path, n: int = 10, pause: float = 0.15) -> tuple[list[str], Path]:
    out = tmp / "progress.txt"
    script = f"for i in $(seq 1 {n}); do echo $i >> {out}; sleep {pause}; done"
    return ["sh", "-c", script], out


@needs_strace
def test_live_command_alerts_and_exit_status(tmp_path, model):
    _, path = model
    mon = Monitor([path])
    got = []
    s = run_monitor(mon, command=["sh", "-c", "ls / > /dev/null; exit 3"], on_batch=got.extend,
                    stdout=subprocess.DEVNULL, timeout=60)
    assert s.exit_status == 3 and not s.interrupted
    assert got and s.models[0]["alerts"] == len(got)
    assert s.events > 100


@needs_strace
def test_cli_live_jsonl_and_summary(tmp_path, model):
    _, path = model
    out = tmp_path / "alerts.jsonl"
    raw = tmp_path / "raw.log"
    r = subprocess.run([*SYSSENSE, "monitor", str(path), "--jsonl", str(out), "--json", "--save-log", str(raw),
                        "--", "sh", "-c", "ls / >/dev/null; id >/dev/null"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    records = [json.loads(x) for x in out.read_text().splitlines()]
    rows = [x for x in records if x.get("type") != "suppressed"]
    assert rows and {"model", "pid", "ts", "line", "calls", "score", "lfc", "L"} <= set(rows[0])
    saved = raw.read_text().splitlines()
    for row in rows:  # alert line numbers point into the saved raw log
        line = saved[row["line"] - 1]
        assert line.startswith(str(row["pid"])) and f" {row['calls'][-1]}(" in line
    summary = json.loads(r.stdout[r.stdout.index("{\n"):])
    # alerts beyond the default 10 per second are counted, not written
    suppressed = sum(x["count"] for x in records if x.get("type") == "suppressed")
    assert summary["models"][0]["alerts"] == len(rows) + suppressed
    assert summary["suppressed"] == suppressed == summary["models"][0]["suppressed"]
    assert summary["max_alerts_per_second"] == 10
    assert summary["exit_status"] == 0


@needs_strace
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_monitor_never_harms_the_program(tmp_path, model, sig):
    """Interrupt, terminate or kill the monitor mid-run: the program completes."""
    _, path = model
    argv, progress = _slow_program(tmp_path)
    mon = subprocess.Popen([*SYSSENSE, "monitor", str(path), "-q", "--", *argv],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not (progress.exists() and progress.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    assert progress.exists(), "the program did not start under the monitor"
    os.kill(mon.pid, sig)
    mon.communicate(timeout=20)
    if sig != signal.SIGKILL:
        assert mon.returncode in (0, 130)
    deadline = time.time() + 20
    while time.time() < deadline:
        if progress.read_text().split() == [str(i) for i in range(1, 11)]:
            break
        time.sleep(0.1)
    assert progress.read_text().split() == [str(i) for i in range(1, 11)]
    # no tracer is left attached to anything we started
    time.sleep(0.3)


@needs_strace
def test_attach_to_pid_then_stop_leaves_program_running(tmp_path, model):
    _, path = model
    argv, progress = _slow_program(tmp_path, n=12, pause=0.1)
    prog = subprocess.Popen(argv)
    try:
        mon = Monitor([path])
        s = run_monitor(mon, pid=prog.pid, timeout=0.6)
        assert s.interrupted and s.events > 0
        assert prog.wait(timeout=20) == 0
        assert progress.read_text().split() == [str(i) for i in range(1, 13)]
    finally:
        if prog.poll() is None:
            prog.kill()


@pytest.mark.parametrize(
    "args, message",
    [
        (["M"], "say what to monitor"),
        (["nope.npz", "--replay", "nope.log"], "does not exist"),
        (["MODEL", "--threshold", "x", "--", "true"], "cannot read threshold"),
        (["MODEL", "--pid", "999999999"], "no process with pid"),
        (["MODEL", "--", "/no/such/program"], "command not found"),
        (["nope.npz", "--", "true"], "does not exist"),
    ],
)
def test_cli_errors_are_one_sentence(tmp_path, model, args, message):
    _, path = model
    args = [str(path) if a == "MODEL" else a for a in args]
    r = subprocess.run([*SYSSENSE, "monitor", *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_online_ngram_equals_offline(logs):
    """An n-gram model scored online (per batch, with k-1 calls of extra history) gives
    the same window scores as scoring each whole process sequence offline."""
    ngram = pytest.importorskip("syssense.detect.ngram")
    seqs_train = scan_sequences(logs["ls1"].read_bytes())
    m = ngram.NGram(k=4).fit(seqs_train)
    text = logs["sh"].read_bytes()
    seqs = scan_sequences(text)
    seqs = Sequences.from_lists([[seqs.vocab.names[c] for c in s] for s in seqs], vocab=m.vocab_)
    offline = np.asarray(m.score_windows(seqs))
    # distinct scores after rounding: the same window scored in another order can differ
    # in the last bits (3.0998657371932797 vs ...800), and a threshold between two such
    # copies would be decided by rounding
    u = np.unique(np.round(offline, 9))
    i = int(np.searchsorted(u, np.quantile(offline, 0.8)))
    thr = float((u[i] + u[i + 1]) / 2)  # between two scores >= 1e-9 apart: rounding cannot flip a window
    expected = int((offline > thr).sum())
    for chunk in (97, 1 << 20):
        mon = Monitor([m], names=["ng"], thresholds={"ng": thr})
        got = []
        for pos in range(0, len(text), chunk):
            got += mon.feed(text[pos : pos + chunk])
        got += mon.close()
        assert len(got) == expected
        assert sorted(round(a.score, 6) for a in got) == sorted(np.round(offline[offline > thr], 6).tolist())


@needs_strace
def test_a_failing_monitor_detaches_and_the_program_completes(tmp_path, model):
    """An exception inside the monitor (here: the alert callback) stops monitoring,
    detaches strace, and is raised; the program runs to its end, untraced."""
    _, path = model
    argv, progress = _slow_program(tmp_path, n=8, pause=0.1)
    argv[-1] = "ls / >/dev/null; " + argv[-1]  # something novel early, to raise alerts

    def boom(alerts):
        raise RuntimeError("scorer failed")

    with pytest.raises(RuntimeError, match="scorer failed"):
        run_monitor(Monitor([path]), command=argv, on_batch=boom, stdout=subprocess.DEVNULL, timeout=60)
    deadline = time.time() + 20
    while time.time() < deadline and not (
        progress.exists() and progress.read_text().split() == [str(i) for i in range(1, 9)]
    ):
        time.sleep(0.1)
    assert progress.read_text().split() == [str(i) for i in range(1, 9)]


def test_garbage_input_keeps_memory_bounded(model):
    m, _ = model
    mon = Monitor([m])
    import syssense.monitor as sm

    mon.feed(b"x" * (sm._MAX_LINE + 10))  # one endless line without a newline
    assert len(mon._buf) == 0
    mon.feed_lines(f"1  1.0 fake_{i}(0) = 0" for i in range(sm._MAX_NAMES + 500))
    assert len(mon._names) <= sm._MAX_NAMES + 1
    assert mon.events == sm._MAX_NAMES + 500


def test_models_together_equal_models_alone(logs, model):
    """Scoring several models in one monitor changes nothing for each of them."""
    ngram = pytest.importorskip("syssense.detect.ngram")
    m6, _ = model
    ng = ngram.NGram(k=4).fit(scan_sequences(logs["ls1"].read_bytes()))
    text = logs["sh"].read_bytes()

    def run(models, names, chunk):
        mon = Monitor(models, names=names, thresholds={"ng": 2.0} if "ng" in names else None)
        got = []
        for pos in range(0, len(text), chunk):
            got += mon.feed(text[pos : pos + chunk])
        return got + mon.close()

    both = run([m6, ng], ["st", "ng"], 333)
    alone = run([m6], ["st"], 1 << 20) + run([ng], ["ng"], 1 << 20)
    assert sorted(map(_key, both)) == sorted(map(_key, alone))
    assert {a.model for a in both} == {"st", "ng"}


def _parsed_vs_scanned(log: Path) -> tuple[dict, dict]:
    registry = pytest.importorskip("syssense.parse.registry")
    if "strace" not in registry.load_all_readers():
        pytest.skip("the strace reader is not installed")
    parsed = Sequences.from_events(registry.read_format(log, "strace").events)
    scanned = scan_sequences(log.read_bytes())
    return ({int(p): [parsed.vocab.names[c] for c in s] for p, s in zip(parsed.pids, parsed, strict=True)},
            {int(p): [scanned.vocab.names[c] for c in s] for p, s in zip(scanned.pids, scanned, strict=True)})


@needs_strace
def test_scanner_agrees_with_the_strace_parser(logs, tmp_path):
    """The monitor's scanner and syssense's full strace parser give the same
    per-process call sequences (so models trained on parsed data fit the monitor)."""
    multi = _trace(tmp_path, "multi", ["sh", "-c", "ls /; cat /etc/hostname; id"])
    for log in (logs["ls1"], logs["ls2"], multi):
        parsed, scanned = _parsed_vs_scanned(log)
        assert parsed == scanned


@needs_strace
def test_scanner_agrees_with_the_parser_on_redirections(logs):
    parsed, scanned = _parsed_vs_scanned(logs["sh"])
    assert parsed == scanned


# --------------------------------------------------------------------------- rate limit
def _alert(ts, line, model="m"):
    return Alert(model=model, detector="stide", pid=1, ts=ts, line=line, calls=["read"], score=1.0, lfc=1, L=20,
                 window=line)


def test_alert_limiter_sliding_second():
    lim = AlertLimiter(2)
    ts = [0.0, 0.1, 0.2, 0.5, 1.05, 1.2, 2.5]
    out = lim.admit([_alert(t, i + 1, "a" if i % 2 else "b") for i, t in enumerate(ts)])
    kept = [x.line for x in out if isinstance(x, Alert)]
    # 0.0 and 0.1 pass; 0.2 and 0.5 are over the limit; 1.05 passes (0.0 has left the last
    # second), 1.2 passes (0.1 has left), 2.5 passes
    assert kept == [1, 2, 5, 6, 7]
    recs = [x for x in out if isinstance(x, dict)]
    assert recs == [{"type": "suppressed", "max_alerts_per_second": 2, "count": 2, "first_ts": 0.2,
                     "first_line": 3, "last_ts": 0.5, "last_line": 4, "models": {"b": 1, "a": 1}}]
    assert out.index(recs[0]) == 2  # the record comes just before the next reported alert
    assert lim.suppressed == 2 and lim.per_model == {"b": 1, "a": 1} and lim.finish() == []
    # a run still open at the end is handed out by finish
    out = lim.admit([_alert(2.6, 8), _alert(2.7, 9)])
    assert [x.line for x in out] == [8] and lim.finish()[0]["count"] == 1 and lim.suppressed == 3
    # no limit
    assert len(AlertLimiter(0).admit([_alert(0.0, i) for i in range(50)])) == 50
    with pytest.raises(SyssenseError):
        AlertLimiter(-1)


@needs_strace
def test_cli_replay_rate_limit(logs, model, tmp_path):
    """--replay: a burst of alerts is cut to N per second of trace time; the rest are
    counted in the summary and in one "suppressed" JSON record per run."""
    _, path = model
    full = tmp_path / "all.jsonl"
    r = subprocess.run([*SYSSENSE, "monitor", str(path), "--replay", str(logs["sh"]), "--jsonl", str(full),
                        "--json", "-q", "--max-alerts-per-second", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    every = [json.loads(x) for x in full.read_text().splitlines()]
    assert len(every) > 5 and not any(x.get("type") == "suppressed" for x in every)
    assert json.loads(r.stdout)["suppressed"] == 0
    limited = tmp_path / "lim.jsonl"
    r = subprocess.run([*SYSSENSE, "monitor", str(path), "--replay", str(logs["sh"]), "--jsonl", str(limited),
                        "--max-alerts-per-second", "3"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    records = [json.loads(x) for x in limited.read_text().splitlines()]
    shown = [x for x in records if x.get("type") != "suppressed"]
    runs = [x for x in records if x.get("type") == "suppressed"]
    ts = np.array([x["ts"] for x in shown])
    assert all(((ts > t - 1.0) & (ts <= t)).sum() <= 3 for t in ts)  # never more than 3 in a second
    keys = {(y["line"], y["window"]) for y in shown}
    assert shown == [x for x in every if (x["line"], x["window"]) in keys]  # the same alerts, in order
    assert len(shown) + sum(x["count"] for x in runs) == len(every)  # nothing lost from the count
    assert runs and all(x["max_alerts_per_second"] == 3 for x in runs)
    assert f"{len(every) - len(shown)} alerts were not printed" in r.stdout.replace("\n", " ")
    assert "more alerts suppressed" in r.stdout or "more alert suppressed" in r.stdout


@pytest.mark.parametrize("frame_threshold", [None, 2.0])
def test_online_cover_equals_offline(logs, frame_threshold):
    """Sequence covering scored online, in any chunking, breaks exactly where covering each
    whole process offline breaks (the open segment carries over between batches); with a
    threshold of t breaks per frame of L calls, only breaks whose frame holds more than t alert."""
    from syssense.detect.cover import CoverDetector

    L = 8
    model = CoverDetector(locality=L).fit(scan_sequences(logs["ls1"].read_bytes()))
    text = logs["sh"].read_bytes()
    scanned = scan_sequences(text)
    pids = scanned.pids  # one sequence per process, in the monitor's order
    seqs = Sequences.from_lists([[scanned.vocab.names[c] for c in s] for s in scanned], vocab=model.vocab_)
    breaks = np.asarray(model.score_windows(seqs))
    frames = np.asarray(CoverDetector(trace_score="lfc", locality=L).fit(
        scan_sequences(logs["ls1"].read_bytes())).score_windows(seqs))
    t = -1.0 if frame_threshold is None else frame_threshold
    expected = set()
    w = 0
    for pid, s in zip(pids, seqs, strict=True):
        for j in range(len(s)):
            if breaks[w + j] == 1.0 and frames[w + j] > t:
                expected.add((int(pid), j))
        w += len(s)
    assert expected  # the shell does things ls never did
    for chunk in (97, 1 << 20):
        thresholds = {} if frame_threshold is None else {"cv": frame_threshold}
        mon = Monitor([model], names=["cv"], thresholds=thresholds, L=L)
        got = []
        for pos in range(0, len(text), chunk):
            got += mon.feed(text[pos: pos + chunk])
        got += mon.close()
        assert {(a.pid, a.window) for a in got} == expected
        assert all(a.calls and a.score == 1.0 and a.lfc > t for a in got)


def test_cover_monitor_calibration_sets_the_frame_count_an_alert_needs(logs):
    from syssense.detect.cover import CoverDetector
    from syssense.monitor import ModelScorer

    train = scan_sequences(logs["ls1"].read_bytes())
    model = CoverDetector(trace_score="lfc", locality=10).fit(train)
    normal = scan_sequences(logs["ls2"].read_bytes())
    sc = ModelScorer(model, "cv")
    frame = sc.calibrate(normal, quantile=1.0)
    offline = np.asarray(model.score_windows(normal.recode(model.vocab_)))
    assert frame == offline.max() and sc.min_lfc == int(offline.max()) + 1
    model.window_threshold_ = 3.0  # as `syssense train` stores it
    assert ModelScorer(model, "cv").min_lfc == 4
