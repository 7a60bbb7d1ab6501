"""Property-based tests of the dataset readers (ADFA-LD, UNM, generic, UAV, LID-DS 2021).

Hypothesis writes random but well-formed data in each published layout (interleaved
processes, gzip, separators the real files use, SYSRET/exit lines that pair with their
calls or are missing), reads it back, and compares with what it wrote: every call, in
order, per process, with its time, duration, return value and label. Random bytes given
to any reader give a dataset or one InputFormatError sentence, never another exception.
"""

from __future__ import annotations

import gzip
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syssense.errors import InputFormatError
from syssense.parse import read_format
from syssense.parse.syscalls import name_of

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.integers(0, 330)
pids = st.integers(1, 99_999)


@st.composite
def interleaved(draw, per_process, max_procs: int = 4):
    """``(processes, order)``: a list per process and a random interleaving that keeps
    every process's own order."""
    procs = draw(st.lists(per_process, min_size=1, max_size=max_procs))
    slots = [i for i, p in enumerate(procs) for _ in p]
    order = draw(st.permutations(slots))
    return procs, order


def _events_by(ds, key: str) -> dict:
    out: dict = {}
    for e in ds.events.to_pylist():
        out.setdefault(e[key], []).append(e)
    return out


# --------------------------------------------------------------------------- UNM
@SETTINGS
@given(data=interleaved(st.lists(numbers, min_size=1, max_size=15)), pid_values=st.lists(pids, min_size=4, max_size=4, unique=True),
       sep=st.sampled_from([" ", "\t", "  "]), compress=st.booleans())
def test_unm_pid_num_lines_round_trip(data, pid_values, sep, compress):
    procs, order = data
    cursor = [0] * len(procs)
    lines = []
    for p in order:
        lines.append(f"{pid_values[p]}{sep}{procs[p][cursor[p]]}")
        cursor[p] += 1
    text = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / ("sendmail.int.gz" if compress else "sendmail.int")
        f.write_bytes(gzip.compress(text) if compress else text)
        ds = read_format(f, "unm")
    got = _events_by(ds, "pid")
    assert {pid: [e["syscall"] for e in evs] for pid, evs in got.items()} == {
        pid_values[i]: [str(n) for n in p] for i, p in enumerate(procs)}
    assert len(ds.traces) == len(procs)  # one trace per process of the file
    for evs in got.values():  # line numbers lead back to the file
        assert all(lines[e["line"] - 1].split()[1] == e["syscall"] for e in evs)


# --------------------------------------------------------------------------- generic
names = st.sampled_from(["open", "read", "write", "close", "mmap", "execve", "setuid", "socket"])


@SETTINGS
@given(traces=st.lists(st.tuples(st.sampled_from(["normal", "attack"]), st.lists(names, min_size=1, max_size=40)),
                       min_size=1, max_size=5),
       sep=st.sampled_from([" ", "\n", " \n"]))
def test_generic_one_trace_per_file_round_trip(traces, sep):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "set"
        for i, (folder, calls) in enumerate(traces):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"t{i}.txt").write_text(sep.join(calls) + "\n")
        ds = read_format(root, "generic")
    got = _events_by(ds, "trace_id")
    labels = {t["trace_id"]: t["label"] for t in ds.traces.to_pylist()}
    for i, (folder, calls) in enumerate(traces):
        tid = f"generic:{folder}/t{i}.txt"
        assert [e["syscall"] for e in got[tid]] == calls
        assert labels[tid] == ("normal" if folder == "normal" else "anomalous")


# --------------------------------------------------------------------------- ADFA-LD
@SETTINGS
@given(training=st.lists(st.lists(numbers, min_size=1, max_size=30), min_size=1, max_size=3),
       attack=st.lists(st.lists(numbers, min_size=1, max_size=30), min_size=1, max_size=3),
       as_zip=st.booleans())
def test_adfa_folders_and_zip_round_trip(training, attack, as_zip):
    files = {f"ADFA-LD/Training_Data_Master/UTD-{i:04d}.txt": t for i, t in enumerate(training)}
    files |= {f"ADFA-LD/Attack_Data_Master/Adduser_3/UAD-Adduser-3-{i}.txt": t for i, t in enumerate(attack)}
    with tempfile.TemporaryDirectory() as d:
        if as_zip:
            src = Path(d) / "ADFA-LD.zip"
            with zipfile.ZipFile(src, "w") as z:
                for name, calls in files.items():
                    z.writestr(name, " ".join(map(str, calls)) + " \n")
        else:
            for name, calls in files.items():
                (Path(d) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(d) / name).write_text(" ".join(map(str, calls)) + " \n")
            src = Path(d) / "ADFA-LD"
        ds = read_format(src, "adfa-ld")
    traces = {t["trace_id"]: t for t in ds.traces.to_pylist()}
    got = _events_by(ds, "trace_id")
    assert len(traces) == len(files)
    for name, calls in files.items():
        tid = next(t for t in traces if t.endswith("/" + Path(name).stem))  # adfa:<split>/[<run dir>/]<file stem>
        assert [e["syscall"] for e in got[tid]] == [name_of(n, "i386") for n in calls]  # i386 numbers
        attack_file = "Attack_Data_Master" in name
        assert traces[tid]["split"] == ("attack" if attack_file else "training")
        assert traces[tid]["label"] == ("anomalous" if attack_file else "normal")
        assert traces[tid]["group"] == ("Adduser" if attack_file else None)


# --------------------------------------------------------------------------- UAV (Bochs)
@st.composite
def bochs_processes(draw):
    """Per process (CR3): calls, each with a number, a gap before it, a duration, and
    whether its SYSRET was logged (a call that never returns, like exit, has none)."""
    return draw(st.lists(st.lists(st.tuples(numbers, st.integers(1, 50), st.integers(1, 40), st.booleans()),
                                  min_size=1, max_size=8), min_size=1, max_size=3))


@SETTINGS
@given(procs=bochs_processes(), seed=st.integers(0, 2**32 - 1), hexadecimal=st.booleans(), comma=st.booleans())
def test_uav_raw_bochs_round_trip(procs, seed, hexadecimal, comma):
    """Processes run one after another in slices; a call's SYSRET comes before that
    process's next call (calls do not nest), other processes' lines may come between."""
    rng = np.random.default_rng(seed)
    cr3 = [0x1000 * (i + 1) + 0xA0000 for i in range(len(procs))]
    fmt = (lambda v: hex(v)) if hexadecimal else str
    lines, want = [], {c: [] for c in cr3}
    t = 1000
    pending: list[tuple[int, int]] = []  # (earliest time of SYSRET, cr3) not yet written

    def write_sysret(rt: int, c: int) -> None:
        nonlocal t
        t = max(t, rt)
        lines.append(f"{t} SYSRET {fmt(c)}")
        name, call_t, _dur = want[c][-1]  # the open call of c is its latest one
        want[c][-1] = (name, call_t, t - call_t)

    cursor = [0] * len(procs)
    while any(cursor[i] < len(p) for i, p in enumerate(procs)):
        live = [i for i, p in enumerate(procs) if cursor[i] < len(p)]
        i = int(rng.choice(live))
        if any(c == cr3[i] for _t, c in pending):  # finish this process's open call first
            rt, c = next(x for x in pending if x[1] == cr3[i])
            pending.remove((rt, c))
            write_sysret(rt, c)
            continue
        num, gap, dur, returns = procs[i][cursor[i]]
        cursor[i] += 1
        t += gap
        regs = [num, 3, 0x7FFD1000, 0x400, 0, 0, 0, cr3[i]]
        sep = "," if comma else " "
        lines.append(sep.join([str(t), "SYSCALL", *map(fmt, regs)]))
        want[cr3[i]].append((name_of(num, "x86_64"), t, None))
        if returns:
            pending.append((t + dur, cr3[i]))
    for rt, c in sorted(pending):
        write_sysret(rt, c)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "normal" / "flight.log"
        f.parent.mkdir()
        f.write_text("\n".join(lines) + "\n")
        ds = read_format(f, "uav")
    got = _events_by(ds, "pid")
    for c, calls in want.items():
        assert [e["syscall"] for e in got[c]] == [n for n, _t, _d in calls]
        assert [e["ts"] for e in got[c]] == [ts for _n, ts, _d in calls]
        assert [e["duration"] for e in got[c]] == [d for _n, _ts, d in calls]  # None: no SYSRET logged
    assert ds.traces["label"].to_pylist() == ["normal"]


@SETTINGS
@given(rows=st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.integers(1, 331)), min_size=1, max_size=40),
       sep=st.sampled_from([",", "\t", " "]))
def test_uav_processed_csv_round_trip(rows, sep):
    text = f"Beta{sep}SysCall ID\n" + "".join(f"{b!r}{sep}{i}\n" for b, i in rows)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "processed.csv"
        f.write_text(text)
        ev = read_format(f, "uav").events.to_pylist()
    assert [e["syscall"] for e in ev] == [name_of(i - 1, "x86_64") for _b, i in rows]  # ID is number + 1
    np.testing.assert_allclose([e["ts"] for e in ev], np.cumsum([b for b, _i in rows]))


# --------------------------------------------------------------------------- LID-DS 2021
@st.composite
def sysdig_threads(draw):
    call = st.tuples(st.sampled_from(["open", "read", "write", "close", "mmap", "poll"]),
                     st.integers(-20, 5000), st.integers(1, 10_000), st.booleans())
    return draw(st.lists(st.lists(call, min_size=1, max_size=8), min_size=1, max_size=3))


@SETTINGS
@given(threads=sysdig_threads(), seed=st.integers(0, 2**32 - 1))
def test_lidds_2021_entry_and_exit_are_paired(threads, seed):
    """Each call is an entry line '>' and, unless it is still running at the end, an exit
    line '<' with res=; threads interleave, each in its own order."""
    rng = np.random.default_rng(seed)
    tids = [2000 + 7 * i for i in range(len(threads))]
    script: list[tuple[int, str]] = []  # (thread, "entry"/"exit") in file order
    steps = {i: [] for i in range(len(threads))}
    for i, calls in enumerate(threads):
        for j, (_name, _res, _dur, finished) in enumerate(calls):
            steps[i].append(("entry", j))
            if finished:
                steps[i].append(("exit", j))
    cursor = dict.fromkeys(steps, 0)
    while any(cursor[i] < len(steps[i]) for i in steps):
        i = int(rng.choice([i for i in steps if cursor[i] < len(steps[i])]))
        script.append((i, *steps[i][cursor[i]]))
        cursor[i] += 1
    ns = 1_631_209_047_000_000_000
    lines, want = [], {t: [] for t in tids}
    entered: dict[tuple[int, int], int] = {}
    for i, what, j in script:
        name, res, dur, finished = threads[i][j]
        tid = tids[i]
        if what == "entry":
            ns += 1000
            entered[(i, j)] = ns
            lines.append(f"{ns} 33 {tid} nginx {tid} {name} > fd=5 size=10")
            want[tid].append((name, ns, res if finished else None))
        else:
            ns = max(ns + 1, entered[(i, j)] + dur)
            lines.append(f"{ns} 33 {tid} nginx {tid} {name} < res={res} data=")
            k = len([x for x in want[tid]]) - 1
            want[tid][k] = (*want[tid][k][:2], res, ns - entered[(i, j)])
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "calm_curie_1.sc"
        f.write_text("\n".join(lines) + "\n")
        ds = read_format(f, "lid-ds")
    got = _events_by(ds, "tid")
    for tid, calls in want.items():
        assert [e["syscall"] for e in got[tid]] == [c[0] for c in calls]
        for e, c in zip(got[tid], calls, strict=True):
            assert e["ts"] == pytest.approx(c[1] / 1e9, abs=1e-9)
            assert e["ret"] == c[2]
            if len(c) == 4:  # exited: duration from entry to exit
                assert e["duration"] == pytest.approx(c[3] / 1e9, abs=1e-9) and not e["unfinished"]
            else:
                assert e["duration"] is None and e["unfinished"]
            assert e["pid"] == tid


# --------------------------------------------------------------------------- garbage
@settings(max_examples=60, deadline=None)
@given(blob=st.binary(min_size=0, max_size=400), fmt=st.sampled_from(["unm", "generic", "uav", "lid-ds"]))
def test_random_bytes_give_a_dataset_or_one_sentence(blob, fmt):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "input.txt"
        f.write_bytes(blob)
        try:
            ds = read_format(f, fmt)
        except InputFormatError as exc:
            text = str(exc)
            assert text and "\n" not in text and "Traceback" not in text
        else:
            assert ds.events.num_rows >= 0 and len(ds.traces) >= 0
