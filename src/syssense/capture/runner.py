"""Run one command (or attach to one process) under strace and keep everything it gives.

:func:`trace_process` is the mechanism: strace writes its log with ``-o``, runs in a
session of its own (so a terminal Ctrl-C reaches syssense, not the tracer), and on a
timeout or an interrupt every process of that session except strace is killed with
SIGKILL, so strace records the kills, flushes its log and exits: what was captured is
kept and the trace is marked ``timeout`` / ``interrupted``.

:func:`capture_command` is the verb behind ``syssense capture``: trace, keep the raw log
under ``DIR/raw/``, parse it into the traces and events tables with the capture metadata
(command, cwd, user, tracer version and flags, exit status, start time, duration, host,
kernel) and add them to the dataset directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dataset import Dataset
from ..errors import CaptureError

#: strace flags used unless told otherwise: follow forks, absolute microsecond
#: timestamps, call durations, decoded descriptors (paths, sockets), 256-byte strings.
DEFAULT_FLAGS: tuple[str, ...] = ("-f", "-ttt", "-T", "-yy", "-s", "256")

_INSTALL_HINT = (
    "install it with `apt-get install strace` (Debian/Ubuntu), `dnf install strace` "
    "(Fedora/RHEL) or `apk add strace` (Alpine)"
)
_PTRACE_RE = re.compile(
    r"(PTRACE_TRACEME|PTRACE_SEIZE|PTRACE_ATTACH|ptrace\(|Could not attach|attach: ).*"
    r"(Operation not permitted|EPERM|Permission denied)|Could not attach to process",
    re.IGNORECASE,
)


_MSG_RE = re.compile(r"^(?:\S*/)?strace: ")


@dataclass
class TraceRun:
    """What one traced process left behind."""

    log: Path
    argv: list[str]
    flags: list[str]
    cwd: str
    user: str
    tracer: str
    tracer_version: str
    start_time: float
    wall_seconds: float
    exit_status: int | None
    status: str  # ok / timeout / interrupted / failed
    strace_messages: list[str] = field(default_factory=list)
    attach_pid: int | None = None

    def meta(self) -> dict[str, Any]:
        """The capture metadata columns of the traces table."""
        cmd = f"--pid {self.attach_pid}" if self.attach_pid else shlex.join(self.argv)
        return {
            "command": cmd,
            "cwd": self.cwd,
            "user": self.user,
            "tracer": "strace",
            "tracer_version": self.tracer_version,
            "flags": shlex.join(self.flags),
            "host": socket.gethostname(),
            "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
            "exit_status": self.exit_status,
            "start_time": self.start_time,
            "wall_seconds": self.wall_seconds,
            "status": self.status,
        }


# --------------------------------------------------------------------------- strace itself


def find_strace(strace: str | os.PathLike[str] | None = None) -> str:
    """Path of the strace binary (``$SYSSENSE_STRACE`` or PATH); a clear error when missing."""
    name = str(strace or os.environ.get("SYSSENSE_STRACE") or "strace")
    found = shutil.which(name)
    if found is None:
        if os.sep in name:
            raise CaptureError(f"strace not found at {name}: {_INSTALL_HINT}")
        raise CaptureError(f"strace is not installed (not on PATH): {_INSTALL_HINT}")
    return found


@functools.lru_cache(maxsize=8)
def strace_version(strace: str) -> str:
    """strace's version string, e.g. ``6.1`` (``unknown`` when it does not say)."""
    try:
        out = subprocess.run([strace, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(r"version\s+(\S+)", out)
    return m.group(1) if m else (out.strip().splitlines() or ["unknown"])[0]


def ptrace_error(messages: Sequence[str]) -> CaptureError | None:
    """A CaptureError explaining ptrace restrictions when strace's stderr shows one."""
    for line in messages:
        if _PTRACE_RE.search(line):
            said = line.removeprefix("strace: ").strip()
            return CaptureError(
                f"strace cannot trace here because ptrace is not permitted (strace said: {said}); "
                "on a host, /proc/sys/kernel/yama/ptrace_scope 1-3 restricts tracing (run as root "
                "or `sysctl kernel.yama.ptrace_scope=0`), and in a container start it with "
                "`--cap-add=SYS_PTRACE` (plus a seccomp profile that allows ptrace)"
            )
    return None


# --------------------------------------------------------------------------- process trees


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, session id) for every live (non-zombie) process we can see."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        with contextlib.suppress(IndexError, ValueError):
            if rest[0] in (b"Z", b"X"):
                continue
            out[int(entry.name)] = (int(rest[1]), int(rest[3]))
    return out


def tree_pids(root: int, session: int | None = None) -> set[int]:
    """Descendants of ``root`` plus every process of ``session`` (``root`` excluded)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in found:
                found.add(c)
                stack.append(c)
    if session is not None:
        found.update(pid for pid, (_p, sid) in table.items() if sid == session)
    found.discard(root)
    found.discard(os.getpid())
    return found


def kill_tree(root: int, session: int | None = None, sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to every descendant / session member of ``root`` until none is left.

    Returns how many processes were signalled. ``root`` itself is spared so that strace
    can write its last lines and exit.
    """
    total = 0
    for _ in range(50):
        pids = tree_pids(root, session)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                total += 1
        time.sleep(0.02)
    return total


# --------------------------------------------------------------------------- one traced process


def _user_name(user: str | None) -> str:
    if user:
        return user
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def check_user(user: str | None) -> None:
    """Running as another user needs root and an existing account."""
    if not user:
        return
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise CaptureError(f"no user named '{user}' on this machine") from None
    if os.geteuid() != 0 and pw.pw_uid != os.geteuid():
        raise CaptureError(f"running as user '{user}' needs root: start syssense as root or drop --user")


def trace_process(
    argv: Sequence[str] | None,
    log: str | os.PathLike[str],
    *,
    flags: Sequence[str] = DEFAULT_FLAGS,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
    timeout: float | None = None,
    attach_pid: int | None = None,
    seconds: float | None = None,
    stdout: str | os.PathLike[str] | None = None,
    strace: str | None = None,
) -> TraceRun:
    """Run ``argv`` (or attach to ``attach_pid``) under strace, writing the log to ``log``.

    The tracee's stdout goes to ``stdout`` (or /dev/null), its stderr and strace's own
    messages to ``log + '.stderr'``; stdin is /dev/null. On ``timeout`` (or ``seconds``
    when attaching: strace detaches on SIGINT) the tree is stopped and what was captured
    is kept. A KeyboardInterrupt kills the tree, marks the run ``interrupted`` and is
    re-raised after the returned result is stored in ``exc.trace_run``.
    """
    exe = find_strace(strace)
    version = strace_version(exe)
    log = Path(log).absolute()
    log.parent.mkdir(parents=True, exist_ok=True)
    flags = list(flags)
    cmd = [exe, "-o", str(log), *flags]
    if user:
        check_user(user)
        cmd += ["-u", user]
    if attach_pid is not None:
        if not Path(f"/proc/{attach_pid}").exists():
            raise CaptureError(f"no process with id {attach_pid} to attach to")
        cmd += ["-p", str(attach_pid)]
        argv = []
    else:
        if not argv:
            raise CaptureError("no command to capture: put it after `--`, e.g. syssense capture -o DIR -- ls -l")
        cmd += ["--", *argv]
    err_path = log.with_name(log.name + ".stderr")
    workdir = str(cwd) if cwd is not None else os.getcwd()

    start = time.time()
    t0 = time.monotonic()
    status = "ok"
    interrupt: BaseException | None = None
    with open(os.devnull, "rb") as devnull_in, open(err_path, "wb") as err_fh, (
        open(stdout, "wb") if stdout else open(os.devnull, "wb")
    ) as out_fh:
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=devnull_in,
                stdout=out_fh,
                stderr=err_fh,
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise CaptureError(f"working directory {workdir} does not exist") from None
        limit = seconds if attach_pid is not None and seconds else timeout
        expired = threading.Event()

        def on_limit() -> None:  # runs in a timer thread; the main thread blocks in wait()
            expired.set()
            if attach_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)  # strace detaches and flushes
            else:
                kill_tree(proc.pid, proc.pid)
            # strace exits once its tracees are gone; force it if it does not
            deadline = time.monotonic() + 5.0
            while proc.returncode is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.returncode is None:  # not reaped yet, so the pid is still strace's
                kill_tree(proc.pid, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)

        timer = threading.Timer(limit, on_limit) if limit else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            try:
                proc.wait()  # blocking waitpid: exact wall time, Ctrl-C still raises here
            finally:
                if timer is not None:
                    timer.cancel()
        except KeyboardInterrupt as exc:
            interrupt = exc
            status = "interrupted"
            with contextlib.suppress(KeyboardInterrupt):
                if attach_pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGINT)
                else:
                    kill_tree(proc.pid, proc.pid)
                _finish(proc)
        if expired.is_set() and attach_pid is None and interrupt is None:
            status = "timeout"
    wall = time.monotonic() - t0
    rc = proc.returncode
    messages = _strace_messages(err_path)
    perr = ptrace_error(messages)
    if perr is not None and interrupt is None:
        raise perr
    exit_status: int | None = rc if rc is not None and rc >= 0 else (128 - rc if rc is not None else None)
    if status == "ok" and rc not in (None, 0) and _strace_failed(messages, log):
        status = "failed"
        if interrupt is None and (not log.exists() or log.stat().st_size == 0):
            said = "; ".join(m.removeprefix("strace: ") for m in messages[:2])
            if attach_pid is not None:
                raise CaptureError(f"strace could not attach to process {attach_pid}: {said}")
            raise CaptureError(f"strace could not start the command: {said}")
    run = TraceRun(
        log=log,
        argv=list(argv or []),
        flags=flags + (["-u", user] if user else []),
        cwd=workdir,
        user=_user_name(user),
        tracer=exe,
        tracer_version=version,
        start_time=start,
        wall_seconds=wall,
        # attached: the process lives on after strace detaches, so there is no exit status
        exit_status=None if status in ("timeout", "interrupted") or attach_pid is not None else exit_status,
        status=status,
        strace_messages=messages,
        attach_pid=attach_pid,
    )
    if interrupt is not None:
        interrupt.trace_run = run  # type: ignore[attr-defined]
        raise interrupt
    return run


def _finish(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Wait for strace to exit after its tracees died; force it after ``grace`` seconds."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid, proc.pid)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def _strace_messages(err_path: Path) -> list[str]:
    try:
        with open(err_path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        return []
    # strace prefixes its messages with argv[0]: "strace: ..." or "/usr/bin/strace: ..."
    out = []
    for ln in data.decode("utf-8", "replace").splitlines():
        m = _MSG_RE.match(ln)
        if m:
            out.append("strace: " + ln[m.end():])
    return out


def _strace_failed(messages: list[str], log: Path) -> bool:
    """strace itself failed (could not exec, bad flag) rather than the command."""
    if not messages:
        return False
    if not log.exists() or log.stat().st_size == 0:
        return True
    return any(
        ("Can't stat" in m or "exec" in m.lower() or "invalid" in m.lower()) for m in messages
    )


def parse_flags(text: str | Sequence[str] | None) -> list[str]:
    """strace flags from a string (``"-f -tt"``) or a list; the default when None."""
    if text is None:
        return list(DEFAULT_FLAGS)
    flags = shlex.split(text) if isinstance(text, str) else list(text)
    for bad in ("-o", "--output", "-p", "--attach", "-ff", "--output-separately", "-c", "--summary-only"):
        if bad in flags:
            raise CaptureError(
                f"strace flag {bad} is managed by syssense (or would leave no trace to parse); remove it"
            )
    return flags


# --------------------------------------------------------------------------- capture verb


def capture_command(
    argv: Sequence[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    pid: int | None = None,
    seconds: float | None = None,
    scenario: str = "capture",
    category: str | None = None,
    mode: str = "single",
    label: str = "unknown",
    flags: str | Sequence[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    user: str | None = None,
    timeout: float | None = None,
    strace: str | None = None,
) -> Dataset:
    """Trace one command (or attach to ``pid``) into the dataset directory ``out_dir``.

    The raw log is kept under ``out_dir/raw/<scenario>/<mode>/run-N/``, the manifest is
    updated, and the new traces / events (with capture metadata) are added as new parts;
    nothing already there is overwritten. Returns the Dataset of this capture.
    """
    from .store import CaptureStore

    if argv is not None and len(argv) > 0 and pid is not None:
        raise CaptureError("give either a command after `--` or --pid, not both")
    fl = parse_flags(flags)
    find_strace(strace)
    if pid is None:
        if not argv:
            raise CaptureError("no command to capture: put it after `--`, e.g. syssense capture -o DIR -- ls -l")
        prog = argv[0]
        if shutil.which(prog) is None and not (os.sep in prog and os.access(prog, os.X_OK)):
            raise CaptureError(f"command '{prog}' not found on PATH")
    if pid is not None and user:
        raise CaptureError("--user applies to a command syssense starts; an attached process keeps its own user")
    if pid is not None and not Path(f"/proc/{pid}").exists():
        raise CaptureError(f"no process with id {pid} to attach to")
    check_user(user)
    with CaptureStore(out_dir) as store:
        run_no = store.next_run(scenario)
        rdir = store.raw_dir(scenario, mode, run_no)
        name = Path(argv[0]).name if pid is None else f"pid-{pid}"
        log = rdir / f"01-{_safe(name)}.strace"
        entry = store.begin_run(
            scenario=scenario, category=category, mode=mode, run=run_no, label=label,
            command=shlex.join(argv) if pid is None else f"--pid {pid}", log=log,
        )
        try:
            tr = trace_process(
                None if pid is not None else argv, log, flags=fl, cwd=cwd, user=user,
                timeout=timeout, attach_pid=pid, seconds=seconds,
                stdout=rdir / f"01-{_safe(name)}.stdout" if pid is None else None, strace=strace,
            )
        except KeyboardInterrupt as exc:
            tr = getattr(exc, "trace_run", None)
            if tr is not None:
                store.add_traces(entry, [tr], scenario=scenario, category=category, mode=mode, run=run_no, label=label)
            else:
                store.end_run(entry, "interrupted")
            raise
        except BaseException:
            store.end_run(entry, "failed")
            raise
        return store.add_traces(entry, [tr], scenario=scenario, category=category, mode=mode, run=run_no, label=label)


def _safe(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40].strip("._")
    return s or "cmd"
