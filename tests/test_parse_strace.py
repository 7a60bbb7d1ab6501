"""The strace parser on real strace runs of real programs, and on the reference corpus.

strace's own -C summary is the oracle: for every call it lists, the parsed number of
completed calls and of error returns must equal its ``calls`` and ``errors`` columns.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import json
import lzma
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

import syssense
from syssense.errors import InputFormatError
from syssense.parse._fast import parse_stream
from syssense.parse.strace import (
    StraceStreamParser,
    iter_strace_events,
    open_log,
    parse_strace,
    sniff,
)

DATA = Path(__file__).parent / "data" / "strace"
STRACE = shutil.which("strace")
needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed")
PY = sys.executable

#: threads, a fork, a child process, failing calls, a signal with a handler
BUSY = r"""
import os, signal, subprocess, threading, time
def work(i):
    for _ in range(3):
        try: open('/nonexistent/%d' % i)
        except OSError: pass
        with open('/etc/hostname') as f: f.read()
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
signal.signal(signal.SIGUSR1, lambda *a: None)
os.kill(os.getpid(), signal.SIGUSR1)
pid = os.fork()
if pid == 0:
    os._exit(3)
os.waitpid(pid, 0)
subprocess.run(['ls', '/nonexistent'], stderr=subprocess.DEVNULL)
time.sleep(0.01)
"""


def run_strace(tmp: Path, name: str, flags: list[str], cmd: list[str], ff: bool = False) -> Path:
    out = tmp / name
    subprocess.run([STRACE, *flags, "-o", str(out), *cmd], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return out


def both_paths(path: Path):
    with open_log(path) as fh:
        fast, frow = parse_stream(fh, str(path), fast=True)
    with open_log(path) as fh:
        slow, srow = parse_stream(fh, str(path), fast=False)
    return fast, frow, slow, srow


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> Path:
    if STRACE is None:
        pytest.skip("strace is not installed")
    tmp = tmp_path_factory.mktemp("busy")
    return run_strace(tmp, "busy.log", ["-f", "-C", "-ttt", "-T", "-y"], [PY, "-c", BUSY])


# --------------------------------------------------------------------------- the oracle


@needs_strace
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "line-by-line"])
def test_summary_oracle_calls_and_errors(busy: Path, fast: bool) -> None:
    with open_log(busy) as fh:
        events, row = parse_stream(fh, str(busy), fast=fast)
    summary = json.loads(row["summary"])
    assert summary["calls"], "strace -C printed a summary table"
    calls: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for e in events.select(["kind", "syscall", "ret", "errno"]).to_pylist():
        if e["kind"] != "syscall" or (e["ret"] is None and e["errno"] is None):
            continue  # exit/exit_group never return: strace does not count them
        calls[e["syscall"]] += 1
        if e["errno"] is not None:
            errors[e["syscall"]] += 1
    for name, col in summary["calls"].items():
        assert calls[name] == col["calls"], name
        assert errors[name] == (col["errors"] or 0), name
    assert sum(calls.values()) == summary["total"]["calls"]
    assert row["n_unparsed"] == 0


@needs_strace
def test_unfinished_resumed_joined_and_ordered(busy: Path) -> None:
    raw = busy.read_text()
    assert "<unfinished ...>" in raw and "resumed>" in raw  # threads interleave
    ds = parse_strace(busy)
    ev = ds.events
    notes = [n for n in ev.column("note").to_pylist() if n]
    assert not any("resumed without start" in n for n in notes)
    assert pc.sum(pc.fill_null(ev.column("unfinished"), False)).as_py() == 0
    # stamped with the start time: per process, time never goes backwards in seq order
    rows = ev.select(["pid", "ts", "seq"]).to_pylist()
    last: dict[int, float] = {}
    for r in rows:
        assert r["ts"] >= last.get(r["pid"], 0.0)
        last[r["pid"]] = r["ts"]
    assert ev.column("seq").to_pylist() == list(range(ev.num_rows))
    # a joined call carries arguments from both halves
    joined = [a for a in ev.column("args").to_pylist() if a and "<unfinished" in a]
    assert joined == []


@needs_strace
def test_fast_and_line_by_line_paths_agree(busy: Path, tmp_path: Path) -> None:
    logs = [busy]
    logs.append(run_strace(tmp_path, "tt.log", ["-f", "-tt", "-yy"], ["sh", "-c", "ls / | wc -l; cat /etc/hostname"]))
    logs.append(run_strace(tmp_path, "t.log", ["-t"], ["ls", "/nonexistent"]))
    logs.append(run_strace(tmp_path, "ns.log", ["-f", "--timestamps=unix,ns", "-T"], ["sh", "-c", "true"]))
    logs.extend(sorted(DATA.glob("*.log")))
    for path in logs:
        fast, frow, slow, srow = both_paths(path)
        assert fast.to_pylist() == slow.to_pylist(), path.name
        for k in ("n_lines", "n_unparsed", "n_events", "summary", "exit_status", "meta", "start_time"):
            assert frow[k] == srow[k], (path.name, k)


# --------------------------------------------------------------------------- forms


@needs_strace
def test_pid_forms_o_file_and_stderr(tmp_path: Path) -> None:
    f = run_strace(tmp_path, "f.log", ["-f"], ["sh", "-c", "/bin/true; /bin/true"])
    err = tmp_path / "stderr.log"
    with open(err, "w") as fh:
        subprocess.run([STRACE, "-f", "sh", "-c", "/bin/true & wait"], stdout=subprocess.DEVNULL,
                       stderr=fh, check=False, timeout=60)
    assert "[pid " in err.read_text()
    for path in (f, err):
        ds = parse_strace(path)
        pids = set(ds.events.column("pid").to_pylist())
        # on stderr the first process's lines may carry no [pid N] prefix (pid None)
        assert len(pids) >= 2 and len(pids - {None}) >= 1, path.name
        assert ds.traces.column("n_unparsed").to_pylist() == [0], path.read_text()
        assert ds.traces.column("exit_status").to_pylist() == [0]


@needs_strace
def test_ff_per_pid_files_form_one_trace(tmp_path: Path) -> None:
    run_strace(tmp_path, "run", ["-ff", "-ttt"], ["sh", "-c", "/bin/true; ls / >/dev/null"])
    files = sorted(tmp_path.glob("run.*"))
    assert len(files) >= 3
    ds = parse_strace(files)
    assert ds.traces.num_rows == 1
    pids = {int(p.name.split(".")[-1]) for p in files}
    assert set(ds.events.column("pid").to_pylist()) == pids
    ts = ds.events.column("ts").to_pylist()
    assert ts == sorted(ts)
    assert ds.traces.column("n_lines").to_pylist()[0] == sum(
        len([ln for ln in p.read_text().splitlines() if ln.strip()]) for p in files
    )
    # a folder of them reads the same
    assert parse_strace(tmp_path).events.num_rows == ds.events.num_rows


@needs_strace
def test_timestamps_every_form(tmp_path: Path) -> None:
    cases = {
        "t": ["-t"], "tt": ["-tt"], "ttt": ["-ttt"], "r": ["-r"],
        "uns": ["--timestamps=unix,ns"], "rns": ["-r", "--relative-timestamps=ns"],
    }
    for name, flags in cases.items():
        path = run_strace(tmp_path, f"{name}.log", flags, ["ls", "/"])
        ds = parse_strace(path)
        ts = ds.events.column("ts").to_pylist()
        assert None not in ts, name
        assert ts == sorted(ts), name
        meta = json.loads(ds.traces.column("meta")[0].as_py())
        expect = {"t": "clock", "tt": "clock", "ttt": "unix", "uns": "unix", "r": "relative", "rns": "relative"}
        assert meta["ts_format"] == expect[name]
        if meta["ts_format"] == "relative":
            assert ts[0] < 1.0 and ts[-1] < 60
        if meta["ts_format"] == "unix":
            assert ds.traces.column("start_time")[0].as_py() == ts[0]


@needs_strace
def test_durations_fd_paths_and_return_paths(tmp_path: Path) -> None:
    path = run_strace(tmp_path, "y.log", ["-T", "-y"], ["cat", "/etc/hostname"])
    ev = parse_strace(path).events.to_pylist()
    opened = [e for e in ev if e["syscall"] == "openat" and e["ret_path"] == "/etc/hostname"]
    assert opened and opened[0]["ret"] >= 3
    fd = str(opened[0]["ret"])
    reads = [e for e in ev if e["syscall"] == "read" and e["fd_paths"]]
    assert any(json.loads(e["fd_paths"]).get(fd) == "/etc/hostname" for e in reads)
    assert all(e["duration"] is not None and e["duration"] >= 0 for e in ev if e["kind"] == "syscall" and e["ret"] is not None)


@needs_strace
def test_signals_exits_and_kills(tmp_path: Path) -> None:
    code = "import ctypes; ctypes.string_at(0)"
    path = run_strace(tmp_path, "segv.log", [], [PY, "-c", code])
    ds = parse_strace(path)
    ev = ds.events.to_pylist()
    sig = [e for e in ev if e["kind"] == "signal"]
    killed = [e for e in ev if e["kind"] == "killed"]
    assert sig and sig[-1]["syscall"] == "SIGSEGV" and "si_signo=SIGSEGV" in sig[-1]["args"]
    assert killed and killed[0]["syscall"] == "SIGSEGV"
    assert ds.traces.column("exit_status").to_pylist() == [128 + 11]
    path = run_strace(tmp_path, "exit.log", ["-f"], ["sh", "-c", "sh -c 'exit 7'; exit 5"])
    ds = parse_strace(path)
    exits = [e for e in ds.events.to_pylist() if e["kind"] == "exit"]
    assert sorted(e["ret"] for e in exits) == [5, 7]
    assert ds.traces.column("exit_status").to_pylist() == [5]


@needs_strace
def test_attach_and_detach(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "5"])
    try:
        err = tmp_path / "attach.log"
        with open(err, "w") as fh:
            tracer = subprocess.Popen([STRACE, "-p", str(proc.pid)], stdout=subprocess.DEVNULL, stderr=fh)
            import time

            time.sleep(0.5)
            tracer.send_signal(2)
            tracer.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    ds = parse_strace(err)
    kinds = ds.events.column("kind").to_pylist()
    assert "attach" in kinds and "detach" in kinds
    assert ds.traces.column("n_unparsed").to_pylist() == [0], err.read_text()
    fix = parse_strace(DATA / "10b_attach_detach_detached.log").events.to_pylist()
    assert [e["kind"] for e in fix] == ["attach", "detach", "syscall"]
    assert fix[2]["unfinished"] and fix[2]["note"] == "detached"


@needs_strace
def test_stack_traces_attach_to_their_event(tmp_path: Path) -> None:
    path = run_strace(tmp_path, "k.log", ["-f", "-k", "-e", "trace=write,exit_group"], ["sh", "-c", "echo a; /bin/echo b"])
    ds = parse_strace(path)
    writes = [e for e in ds.events.to_pylist() if e["syscall"] == "write"]
    if not any(e["stack"] for e in writes):
        pytest.skip("this strace was built without -k stack support")
    assert all(e["stack"] and "write" in e["stack"] for e in writes)
    assert ds.traces.column("n_unparsed").to_pylist() == [0]


@needs_strace
def test_c_summary_is_trace_metadata_not_events(tmp_path: Path) -> None:
    path = run_strace(tmp_path, "c.log", ["-c"], ["ls", "/"])
    ds = parse_strace(path)
    assert ds.events.num_rows == 0
    summary = json.loads(ds.traces.column("summary")[0].as_py())
    assert summary["calls"]["openat"]["calls"] >= 1
    assert set(summary["calls"]["openat"]) >= {"calls", "errors", "seconds", "usecs/call", "%time"}
    assert summary["total"]["calls"] == sum(c["calls"] for c in summary["calls"].values())
    custom = parse_strace(DATA / "18c_c_custom_columns.log")
    s2 = json.loads(custom.traces.column("summary")[0].as_py())
    assert s2["calls"]["openat"] == {"calls": 34, "errors": 13, "shortest": 0.0, "longest": 0.0,
                                     "usecs/call": 0, "seconds": 0.0}


@needs_strace
def test_compressed_inputs_and_stdin(tmp_path: Path) -> None:
    path = run_strace(tmp_path, "p.log", ["-f"], ["sh", "-c", "ls / >/dev/null"])
    data = path.read_bytes()
    ref = parse_strace(path).events.drop_columns(["trace_id"]).to_pylist()
    variants = {"p.log.gz": gzip.compress(data), "p.log.xz": lzma.compress(data), "p.log.bz2": bz2.compress(data)}
    try:
        import zstandard

        variants["p.log.zst"] = zstandard.ZstdCompressor().compress(data)
    except ImportError:
        pass
    for name, blob in variants.items():
        (tmp_path / name).write_bytes(blob)
        got = parse_strace(tmp_path / name).events.drop_columns(["trace_id"]).to_pylist()
        assert got == ref, name
    (tmp_path / "cut.gz").write_bytes(gzip.compress(data)[:200])
    with pytest.raises(InputFormatError, match="truncated or damaged"):
        parse_strace(tmp_path / "cut.gz")
    out = tmp_path / "stdin.jsonl"
    r = subprocess.run([sys.executable, "-m", "syssense.cli", "parse", "-", "-o", str(out)], input=data,
                       capture_output=True, timeout=60)
    if r.returncode != 0 and b"No module named syssense.cli.__main__" in r.stderr:
        r = subprocess.run([Path(sys.executable).with_name("syssense"), "parse", "-", "-o", str(out)],
                           input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == len(ref)


def test_reference_corpus_forms() -> None:
    ev = parse_strace(DATA / "42_documented_only.log").events.to_pylist()
    unavailable, select, close = ev  # the personality line and strace's message are not events
    assert unavailable["syscall"] == "futex" and unavailable["ret"] is None and "<unavailable>" in unavailable["note"]
    assert select["syscall"] == "select" and select["ret"] == 1 and "(in [3])" in select["note"]
    assert close["fd_paths"] == json.dumps({"3": "/tmp/x"}) and close["args"] == "3</tmp/x> (deleted)"
    # interleaved attach message cuts a call that resumes later: still one event
    ev = parse_strace(DATA / "10a_process_attached.log").events.to_pylist()
    calls = [e for e in ev if e["kind"] == "syscall"]
    assert len(calls) == 1 and calls[0]["errno"] == "ERESTARTNOHAND" and calls[0]["line"] == 1
    assert [e["kind"] for e in ev].count("attach") == 1
    # an execve in a thread resumes under the leader's pid
    ev = parse_strace(DATA / "20_thread_execve_superseded.log").events.to_pylist()
    ex = [e for e in ev if e["syscall"] == "execve"]
    assert len(ex) == 1 and ex[0]["pid"] == 9527 and ex[0]["ret"] == 0 and "resumed in pid 9526" in ex[0]["note"]
    # never resumed (the log ends): one event each, marked
    ev = parse_strace(DATA / "08a_unfinished.log").events.to_pylist()
    assert len(ev) == 4 and all(e["unfinished"] for e in ev)
    # -y paths with hazards: ", x) = 3" inside the returned path
    ev = parse_strace(DATA / "32_y_path_escaping_hazards.log").events.to_pylist()
    assert [e["ret"] for e in ev] == [3, 0] * 4
    assert ev[4]["ret_path"] == "/tmp/work/weird/sp ace, x) = 3"
    # -i -n -Y columns
    ev = parse_strace(DATA / "25_combo_f_tt_T_yy_i_n.log").events.to_pylist()
    assert ev[0]["nr"] == 59 and ev[0]["ip"] == "00007fd3918c4ad7" and ev[0]["duration"] == 0.000221
    ev = parse_strace(DATA / "16c_Y_decode_pids_comm.log").events.to_pylist()
    assert ev[0]["comm"] == "strace" and ev[1]["comm"] == "sh" and ev[1]["ret"] == 7869
    # injected errors keep their annotation; hex dumps go with their event
    ev = parse_strace(DATA / "11d_injected.log").events.to_pylist()
    assert ev[0]["errno"] == "EACCES" and ev[0]["note"] == "(INJECTED)"
    ev = parse_strace(DATA / "19_write_hexdump.log").events.to_pylist()
    assert len(ev) == 1 and "68 65 6c 6c 6f" in ev[0]["note"]
    ev = parse_strace(DATA / "31_k_with_f.log").events.to_pylist()
    assert ev[0]["stack"].count("\n") == 10 and ev[0]["stack"].startswith("/usr/lib/x86_64-linux-gnu/libc.so.6")


def test_strict_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    p.write_text('openat(AT_FDCWD, "/etc/x", O_RDONLY) = 3\nthis is not strace\nclose(3) = 0\n')
    ds = parse_strace(p)
    assert ds.traces.column("n_unparsed").to_pylist() == [1]
    un = [e for e in ds.events.to_pylist() if e["kind"] == "unparsed"]
    assert un[0]["line"] == 2 and un[0]["raw"] == "this is not strace"
    with pytest.raises(InputFormatError, match="line 2"):
        parse_strace(p, strict=True)


def test_bad_inputs_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "bin.log").write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    (tmp_path / "prose.txt").write_text("hello world\nthis is a note\n")
    for name, msg in (("empty.log", "is empty"), ("bin.log", "binary"), ("prose.txt", "does not look like a strace log")):
        with pytest.raises(InputFormatError, match=msg) as exc:
            parse_strace(tmp_path / name)
        assert "strace" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(InputFormatError, match="does not exist"):
        parse_strace(tmp_path / "missing.log")


def test_streaming_iterator_and_parser() -> None:
    lines = (DATA / "20_thread_execve_superseded.log").read_text().splitlines(keepends=True)
    events = list(iter_strace_events(iter(lines)))
    assert [e.syscall for e in events if e.kind == "syscall"].count("execve") == 1
    p = StraceStreamParser()
    out = []
    for ln in ["1 read(3,  <unfinished ...>\n", "2 close(4) = 0\n"]:
        out += p.feed(ln)
    assert [e.syscall for e in out] == []  # close is held until the next line shows no -k stack
    out += p.feed('1 <... read resumed>"ab", 2) = 2\n')
    assert [e.syscall for e in out] == ["close"]
    out += p.close()
    assert [(e.syscall, e.args, e.ret, e.line) for e in out] == [("close", "4", 0, 2), ("read", '3, "ab", 2', 2, 1)]
    p = StraceStreamParser()
    assert p.feed("9 poll([{fd=3, events=POLLIN}], 1, -1 <unfinished ...>") == []
    (left,) = p.close()
    assert left.unfinished and left.pid == 9 and left.syscall == "poll"


def test_streaming_memory_is_bounded() -> None:
    p = StraceStreamParser()
    for i in range(20000):
        p.feed(f"{100 + i % 7} read(3,  <unfinished ...>\n")
        p.feed(f"{100 + i % 7} <... read resumed>\"x\", 1) = 1\n")
    assert len(p._pending) == 0 and p._held is not None
    assert len(p.messages) <= 100


def test_registry_reads_raw_logs(tmp_path: Path) -> None:
    assert sniff(DATA / "32_y_path_escaping_hazards.log")
    prose = tmp_path / "p.txt"
    prose.write_text("just words here\n")
    assert not sniff(prose)
    ds = syssense.load(DATA / "32_y_path_escaping_hazards.log")
    assert ds.traces.column("format").to_pylist() == ["strace"]
    assert syssense.sniff_format(DATA / "31_k_with_f.log") == "strace"


def test_meta_and_trace_ids_apply(tmp_path: Path) -> None:
    ds = parse_strace([DATA / "11d_injected.log", DATA / "19_write_hexdump.log"],
                      trace_ids=["a", "b"], meta={"scenario": "s1", "category": "normal", "run": 2})
    rows = ds.traces.to_pylist()
    assert [r["trace_id"] for r in rows] == ["a", "b"]
    assert all(r["scenario"] == "s1" and r["category"] == "normal" and r["run"] == 2 for r in rows)
    assert set(pc.cast(ds.events.column("trace_id"), "string").to_pylist()) == {"a", "b"}
