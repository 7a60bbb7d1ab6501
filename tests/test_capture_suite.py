"""Real captures of the built-in scenarios into dataset directories, and suite behaviour.

Every test runs strace on real programs with one run per scenario, parses the logs with
syssense's strace parser and asserts facts of the resulting tables.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from syssense.capture.runner import capture_command
from syssense.capture.scenario import load_scenario, parse_scenario
from syssense.capture.suite import available_commands, run_scenarios
from syssense.dataset import read_dataset
from syssense.errors import CaptureError

pytestmark = [
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
]
SYSSENSE = str(Path(sys.executable).parent / "syssense")


def _events_of(ds, trace_ids):
    ev = ds.events
    ids = pc.cast(ev.column("trace_id"), pa.string())
    return ev.filter(pc.is_in(ids, value_set=pa.array(list(trace_ids), pa.string())))


def _syscalls(ev) -> set[str]:
    kinds = pc.cast(ev.column("kind"), pa.string())
    names = pc.cast(ev.filter(pc.equal(kinds, "syscall")).column("syscall"), pa.string())
    return set(names.to_pylist())


def _opens(ev, path: str) -> bool:
    names = pc.cast(ev.column("syscall"), pa.string())
    is_open = pc.is_in(names, value_set=pa.array(["open", "openat", "openat2"]))
    args = ev.filter(pc.fill_null(is_open, False)).column("args")
    return bool(pc.any(pc.match_substring(args, f'"{path}"')).as_py())


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())



def _sigint_default() -> None:
    """In the child: Ctrl-C's default action, as in a terminal. A shell's background job
    (``nohup ... &``, some CI runners) starts with SIGINT ignored, Python keeps an inherited
    ignore, and then the SIGINT these tests send would never reach syssense."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def test_recon_single_and_multi(tmp_path):
    out = tmp_path / "ds"
    res = run_scenarios(["recon-single", "recon-multi"], out, runs=1)
    assert not res.interrupted
    ds = read_dataset(out)
    tr = ds.traces.to_pylist()
    single = [t for t in tr if t["scenario"] == "recon-single"]
    multi = [t for t in tr if t["scenario"] == "recon-multi"]
    n_cmds = len(available_commands(load_scenario("recon-single"))[0])
    assert len(single) == n_cmds  # single mode: one trace per command
    assert len(multi) == 1  # multi mode: one trace per session
    assert len({t["command"] for t in single}) == n_cmds
    for t in tr:
        assert t["category"] == "recon" and t["label"] == "anomalous" and t["run"] == 1
        assert t["format"] == "strace" and t["tracer"] == "strace" and t["n_events"] > 10
        assert t["status"] == "ok" and t["start_time"] > 0 and t["wall_seconds"] > 0
    passwd = [t for t in single if "/etc/passwd" in t["command"]]
    assert passwd and _opens(_events_of(ds, [passwd[0]["trace_id"]]), "/etc/passwd")
    assert _opens(_events_of(ds, [multi[0]["trace_id"]]), "/etc/passwd")
    # raw logs are kept where the manifest says
    m = _manifest(out)
    assert {r["scenario"] for r in m["runs"]} == {"recon-single", "recon-multi"}
    for r in m["runs"]:
        assert r["status"] == "ok"
        for t in r["traces"]:
            assert (out / t["raw"]).is_file()
    assert (out / "raw" / "recon-single" / "single" / "run-1").is_dir()


def test_priv_single_changes_only_scratch_copy(tmp_path):
    out = tmp_path / "ds"
    before = os.stat("/usr/bin/true")
    run_scenarios(["priv-single"], out, runs=1)
    after = os.stat("/usr/bin/true")
    assert (before.st_mode, before.st_uid) == (after.st_mode, after.st_uid)
    ds = read_dataset(out)
    calls = _syscalls(ds.events)
    assert calls & {"fchmodat", "chmod", "fchmod", "fchmodat2"}
    if os.geteuid() == 0:
        assert calls & {"setuid", "setresuid", "setreuid", "setgid", "setresgid", "capset"}
    assert _opens(ds.events, "/etc/shadow")
    # sudo is often missing: then it is skipped and listed in the manifest
    if shutil.which("sudo") is None:
        skipped = _manifest(out)["skipped"]
        assert any(s["command"].startswith("sudo") and s["reason"] == "not installed" for s in skipped)


def test_priv_multi_one_session(tmp_path):
    out = tmp_path / "ds"
    run_scenarios(["priv-multi"], out, runs=1)
    ds = read_dataset(out)
    assert ds.traces.num_rows == 1 and ds.traces.column("mode")[0].as_py() == "multi"
    assert _syscalls(ds.events) & {"fchmodat", "chmod", "fchmod", "fchmodat2"}


def test_normal_scenarios(tmp_path):
    out = tmp_path / "ds"
    run_scenarios(["normal-single", "normal-multi"], out, runs=1)
    ds = read_dataset(out)
    t = ds.traces.to_pylist()
    assert {r["label"] for r in t} == {"normal"} and {r["status"] for r in t} == {"ok"}
    assert sum(r["mode"] == "multi" for r in t) == 1
    # everything ran in its scratch directory
    assert all(r["cwd"].startswith(str(Path(r["cwd"]).parent)) and "syssense-normal" in r["cwd"] for r in t)
    assert not any(Path(r["cwd"]).exists() for r in t)  # scratch removed afterwards


def test_stress_set_io_pattern(tmp_path):
    out = tmp_path / "ds"
    run_scenarios(["stress"], out, runs=1)
    ds = read_dataset(out)
    t = {r["category"]: r for r in ds.traces.to_pylist()}
    assert set(t) == {"normal", "cpu", "mem", "io"}
    for cat in ("cpu", "mem", "io"):
        meta = json.loads(t[cat]["meta"])
        assert meta["stressor"]["kind"] == cat
    ev = _events_of(ds, [t["io"]["trace_id"]])
    names = pc.cast(ev.column("syscall"), pa.string()).to_pylist()
    fdp = ev.column("fd_paths").to_pylist()
    on_target = [n for n, f in zip(names, fdp, strict=True) if f and "target-data.bin" in f]
    assert on_target.count("write") >= 24 and on_target.count("fsync") >= 6
    # the pattern: four writes, then an fsync
    first = on_target.index("fsync")
    assert on_target[first - 4 : first] == ["write"] * 4
    # nothing left behind by the stressors
    m = _manifest(out)
    assert all(r["status"] == "ok" for r in m["runs"])


def _tiny(tmp_path: Path, commands: str, extra: str = "", name: str = "tiny") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(f'name = "{name}"\ncategory = "normal"\nmode = "single"\nruns = 2\ntimeout = 10\n'
                 f"commands = {commands}\n{extra}")
    return p


def test_rerun_adds_runs_and_never_overwrites(tmp_path):
    sc = _tiny(tmp_path, '["true", "no-such-tool-xyz --x"]')
    out = tmp_path / "ds"
    warnings: list[str] = []
    run_scenarios([str(sc)], out, warn=warnings.append)
    assert any("no-such-tool-xyz" in w for w in warnings)
    parts_before = {p: p.read_bytes() for p in (out / "traces").glob("*.parquet")}
    run_scenarios([str(sc)], out, runs=1)
    ds = read_dataset(out)
    assert sorted(ds.traces.column("run").to_pylist()) == [1, 2, 3]
    for p, data in parts_before.items():
        assert p.read_bytes() == data
    assert (out / "raw" / "tiny" / "single" / "run-3").is_dir()
    m = _manifest(out)
    assert [r["run"] for r in m["runs"]] == [1, 2, 3]
    sk = [s for s in m["skipped"] if "no-such-tool-xyz" in s["command"]]
    assert len(sk) == 1 and sk[0]["count"] == 2 and sk[0]["reason"] == "not installed"


def test_suite_timeout_marks_trace(tmp_path):
    sc = parse_scenario('name = "slow"\ncategory = "normal"\nmode = "multi"\ntimeout = 1\n'
                        'commands = ["sleep 30 &", "sleep 31"]\n', "slow.toml")
    out = tmp_path / "ds"
    t0 = time.monotonic()
    res = run_scenarios([sc], out, runs=1)
    assert time.monotonic() - t0 < 10
    ds = read_dataset(out)
    assert ds.traces.column("status").to_pylist() == ["timeout"]
    assert res.runs[0]["status"] == "timeout"
    kinds = pc.cast(ds.events.column("kind"), pa.string()).to_pylist()
    assert "killed" in kinds


@pytest.mark.skipif(os.geteuid() != 0, reason="--user needs root")
def test_user_option_runs_unprivileged(tmp_path):
    sc = _tiny(tmp_path, '["cat /etc/shadow", "id -u"]')
    out = tmp_path / "ds"
    run_scenarios([str(sc)], out, runs=1, user="nobody")
    ds = read_dataset(out)
    assert set(ds.traces.column("user").to_pylist()) == {"nobody"}
    shadow = [r for r in ds.traces.to_pylist() if "shadow" in r["command"]][0]
    ev = _events_of(ds, [shadow["trace_id"]])
    names = pc.cast(ev.column("syscall"), pa.string()).to_pylist()
    errs = pc.cast(ev.column("errno"), pa.string()).to_pylist()
    args = ev.column("args").to_pylist()
    assert any(n == "openat" and "/etc/shadow" in (a or "") and e == "EACCES"
               for n, a, e in zip(names, args, errs, strict=True))
    assert shadow["exit_status"] == 1


def test_capture_command_api(tmp_path):
    out = tmp_path / "ds"
    ds = capture_command(["cat", "/etc/hostname"], out, label="normal", category="normal")
    ds2 = capture_command(["true"], out)
    assert ds.traces.column("run").to_pylist() == [1] and ds2.traces.column("run").to_pylist() == [2]
    allds = read_dataset(out)
    assert allds.traces.num_rows == 2
    row = allds.traces.to_pylist()[0]
    assert row["command"] == "cat /etc/hostname" and row["exit_status"] == 0 and row["scenario"] == "capture"
    assert _opens(allds.events, "/etc/hostname")
    with pytest.raises(CaptureError, match="not found on PATH"):
        capture_command(["no-such-tool-xyz"], out)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([SYSSENSE, *args], capture_output=True, text=True, timeout=120, **kw)


def test_cli_errors_are_one_sentence(tmp_path):
    r = _cli("run", "no-such-scenario", "-o", str(tmp_path / "d"))
    assert r.returncode == 2 and "unknown scenario 'no-such-scenario'" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ncategory = "normal"\nmode = "single"\nruns = -1\ncommands = ["ls"]\n')
    r = _cli("run", str(bad), "-o", str(tmp_path / "d"))
    assert r.returncode == 2 and "'runs'" in r.stderr and "line 4" in r.stderr
    r = _cli("capture", "-o", str(tmp_path / "d"), "--", "true", env={**os.environ, "PATH": "/nonexistent"})
    assert r.returncode == 2 and "strace is not installed" in r.stderr


def test_cli_capture_and_scenarios(tmp_path):
    out = tmp_path / "d"
    r = _cli("capture", "-o", str(out), "--label", "normal", "--json", "--", "ls", "-l", "/etc/hostname")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows[0]["status"] == "ok" and rows[0]["command"] == "ls -l /etc/hostname" and rows[0]["n_events"] > 10
    r = _cli("scenarios", "list", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 10
    r = _cli("scenarios", "show", "recon-multi", "--json")
    info = json.loads(r.stdout)
    assert info["mode"] == "multi" and "cat /etc/passwd" in info["commands"]


def test_cli_ctrl_c_keeps_dataset_readable(tmp_path):
    sc = _tiny(tmp_path, '["true", "sleep 30"]', name="long")
    out = tmp_path / "d"
    proc = subprocess.Popen([SYSSENSE, "run", str(sc), "-o", str(out), "--runs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    log = out / "raw" / "long" / "single" / "run-1" / "02-sleep.strace"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (log.exists() and "nanosleep" in log.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    m = _manifest(out)
    assert m["runs"][0]["status"] == "interrupted"
    ds = read_dataset(out)
    status = dict(zip(ds.traces.column("command").to_pylist(), ds.traces.column("status").to_pylist(), strict=True))
    assert status == {"true": "ok", "sleep 30": "interrupted"}
