"""The strace runner: real traced runs, timeouts that kill the whole tree, errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syssense.capture.runner import find_strace, parse_flags, ptrace_error, trace_process, tree_pids
from syssense.errors import CaptureError

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")



def _sigint_default() -> None:
    """In the child: Ctrl-C's default action, as in a terminal. A shell's background job
    (``nohup ... &``, some CI runners) starts with SIGINT ignored, Python keeps an inherited
    ignore, and then the SIGINT these tests send would never reach syssense."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def test_plain_run_keeps_log_and_metadata(tmp_path):
    out = tmp_path / "ls.out"
    r = trace_process(["ls", "/etc/hostname"], tmp_path / "ls.strace", cwd=tmp_path, stdout=out)
    assert r.status == "ok" and r.exit_status == 0
    text = (tmp_path / "ls.strace").read_text()
    assert 'execve("/usr/bin/ls"' in text or "execve(" in text
    assert "+++ exited with 0 +++" in text
    assert out.read_text().strip() == "/etc/hostname"  # tracee stdout kept separately
    m = r.meta()
    assert m["command"] == "ls /etc/hostname" and m["cwd"] == str(tmp_path)
    assert m["flags"] == "-f -ttt -T -yy -s 256" and m["tracer"] == "strace"
    assert m["tracer_version"][0].isdigit() and m["kernel"].startswith("Linux")
    assert 0 < m["wall_seconds"] < 10 and abs(m["start_time"] - time.time()) < 60


def test_exit_status_and_signal(tmp_path):
    assert trace_process(["sh", "-c", "exit 3"], tmp_path / "e.strace").exit_status == 3
    r = trace_process(["sh", "-c", "kill -SEGV $$"], tmp_path / "k.strace")
    assert r.exit_status == 128 + 11
    assert "+++ killed by SIGSEGV" in (tmp_path / "k.strace").read_text()


def test_timeout_kills_whole_tree_and_keeps_log(tmp_path):
    marker = tmp_path / "pids"
    t0 = time.monotonic()
    r = trace_process(
        ["sh", "-c", f"sleep 40 & echo $! > {marker}; sh -c 'sleep 41' & wait"],
        tmp_path / "t.strace", timeout=1.0,
    )
    took = time.monotonic() - t0
    assert r.status == "timeout" and r.exit_status is None
    assert took < 8
    bg = int(marker.read_text())
    assert not _alive(bg)  # the background child is gone too
    text = (tmp_path / "t.strace").read_text()
    assert text.count("+++ killed by SIGKILL +++") >= 3  # sh, sleep 40, sh, sleep 41
    assert "sleep" in text


def test_custom_flags(tmp_path):
    r = trace_process(["true"], tmp_path / "c.strace", flags=parse_flags("-f -tt -e trace=execve"))
    text = (tmp_path / "c.strace").read_text()
    assert "execve(" in text and "mmap(" not in text and r.flags[:2] == ["-f", "-tt"]


def test_flags_managed_by_syssense_rejected():
    with pytest.raises(CaptureError, match="-o"):
        parse_flags("-f -o x.log")
    with pytest.raises(CaptureError, match="-c"):
        parse_flags(["-c"])


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_run_as_user(tmp_path):
    out = tmp_path / "id.out"
    os.chmod(tmp_path, 0o755)
    r = trace_process(["id", "-u"], tmp_path / "id.strace", user="nobody", stdout=out, cwd="/")
    assert out.read_text().strip() == "65534"
    assert r.meta()["user"] == "nobody" and "-u nobody" in r.meta()["flags"]


def test_unknown_user():
    with pytest.raises(CaptureError, match="no user named"):
        trace_process(["true"], "/nonexistent-dir-xyz/x.strace", user="no-such-user-xyz")


def test_strace_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SYSSENSE_STRACE", raising=False)
    with pytest.raises(CaptureError) as err:
        find_strace()
    assert "strace is not installed" in str(err.value) and "apt-get install strace" in str(err.value)
    with pytest.raises(CaptureError, match="not found at"):
        find_strace(str(tmp_path / "strace"))


def _fake_strace(tmp_path: Path, message: str) -> str:
    """A stand-in strace that fails the way strace does when ptrace is denied."""
    fake = tmp_path / "strace"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = -V ] && {{ echo 'strace -- version 6.1'; exit 0; }}\necho '{message}' >&2\nexit 1\n")
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize(
    "message",
    [
        "strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted",
        "/usr/bin/strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted",
    ],
)
def test_ptrace_not_permitted_explained(tmp_path, message):
    fake = _fake_strace(tmp_path, message)
    with pytest.raises(CaptureError) as err:
        trace_process(["true"], tmp_path / "x.strace", strace=fake)
    msg = str(err.value)
    assert "ptrace is not permitted" in msg and "ptrace_scope" in msg and "SYS_PTRACE" in msg


def test_ptrace_error_ignores_ordinary_messages():
    assert ptrace_error(["strace: Process 12 attached"]) is None
    assert ptrace_error(["strace: Could not attach to process. If your uid matches ..."]) is not None


def test_attach_for_seconds(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"])
    try:
        time.sleep(0.2)
        r = trace_process(None, tmp_path / "p.strace", attach_pid=proc.pid, seconds=0.7)
        assert proc.poll() is None  # detached, not killed
        assert r.status == "ok" and r.meta()["command"] == f"--pid {proc.pid}"
        text = (tmp_path / "p.strace").read_text()
        assert "clock_nanosleep" in text or "select" in text or "nanosleep" in text
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in tree_pids(os.getpid())


def test_strace_refusing_flags_is_an_error(tmp_path):
    with pytest.raises(CaptureError, match="could not start the command: unrecognized option"):
        trace_process(["true"], tmp_path / "b.strace", flags=["--no-such-strace-flag"])


def test_attach_missing_pid(tmp_path):
    with pytest.raises(CaptureError, match="no process with id"):
        trace_process(None, tmp_path / "p.strace", attach_pid=2**22 + 12345)


_INTERRUPT_SCRIPT = """
import sys
from syssense.capture.runner import trace_process
try:
    trace_process(["sh", "-c", "sleep 40 & sleep 41; wait"], sys.argv[1], timeout=60)
except KeyboardInterrupt as exc:
    print("interrupted", exc.trace_run.status, exc.trace_run.exit_status, flush=True)
    sys.exit(130)
print("not interrupted")
"""


def test_ctrl_c_kills_tree_and_marks_run(tmp_path):
    log = tmp_path / "i.strace"
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPT_SCRIPT, str(log)], stdout=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (log.exists() and "sleep" in log.read_text()):
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(2)  # what a terminal Ctrl-C sends to syssense
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert out.split() == ["interrupted", "interrupted", "None"]
    assert log.read_text().count("+++ killed by SIGKILL +++") >= 2
