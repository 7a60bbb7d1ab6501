"""Background load for the stress scenarios: CPU, memory or IO, never traced.

Built in: worker processes of the running Python (``sys.executable -c ...``), each in a
session of its own so that they are stopped as a group and a terminal Ctrl-C does not
reach them first. ``cpu`` spins on arithmetic, ``mem`` allocates a block and keeps
touching every page, ``io`` writes 1 MiB files with fsync, reads them back and removes
them, inside ``<scratch>/.stress``. With ``engine = "stress-ng"`` (or ``auto`` when
stress-ng is installed) the same load comes from ``stress-ng --cpu / --vm / --hdd``.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import CaptureError
from .runner import kill_tree
from .scenario import StressorSpec

_CPU = """
import os, sys
os.write(1, b"r")
x = 1
while True:
    for i in range(100000):
        x = (x * 1103515245 + 12345) & 0x7fffffff
"""

_MEM = """
import os, sys, mmap
size = int(sys.argv[1]) << 20
buf = mmap.mmap(-1, size)
page = mmap.PAGESIZE
for off in range(0, size, page):
    buf[off] = 1
os.write(1, b"r")
v = 0
while True:
    v = (v + 1) & 0xff
    for off in range(0, size, page):
        buf[off] = v
"""

_IO = """
import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
block = os.urandom(1 << 20)
name = os.path.join(d, "io-%d.bin" % os.getpid())
os.write(1, b"r")
while True:
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    for _ in range(4):
        os.write(fd, block)
    os.fsync(fd)
    os.lseek(fd, 0, 0)
    while os.read(fd, 1 << 20):
        pass
    os.close(fd)
    os.unlink(name)
"""


def _mem_available_mb() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 1024


class Stressor:
    """Start with :meth:`start`, stop with :meth:`stop` (also a context manager)."""

    def __init__(self, spec: StressorSpec, scratch: str | os.PathLike[str]) -> None:
        self.spec = spec
        self.scratch = Path(scratch)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.engine = self._engine()
        self.workers = spec.workers or (os.cpu_count() or 1)
        # never ask for more than a quarter of the memory available, spread over workers
        self.mem_mb = max(16, min(spec.mem_mb, _mem_available_mb() // 4 // self.workers))

    def _engine(self) -> str:
        if self.spec.engine == "builtin":
            return "builtin"
        has = shutil.which("stress-ng") is not None
        if self.spec.engine == "stress-ng" and not has:
            raise CaptureError("this scenario asks for stress-ng, which is not installed: `apt-get install stress-ng` or set engine = \"builtin\"")
        return "stress-ng" if has else "builtin"

    def describe(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.spec.kind, "engine": self.engine, "workers": self.workers}
        if self.spec.kind == "mem":
            d["mem_mb"] = self.mem_mb
        return d

    def _argv(self) -> list[list[str]]:
        kind, n = self.spec.kind, self.workers
        iodir = str(self.scratch / ".stress")
        if self.engine == "stress-ng":
            opt = {"cpu": ["--cpu", str(n)], "mem": ["--vm", str(n), "--vm-bytes", f"{self.mem_mb}M"],
                   "io": ["--hdd", str(n), "--hdd-bytes", "4M", "--temp-path", iodir]}[kind]
            return [["stress-ng", *opt, "--timeout", "600s", "--quiet"]]
        code = {"cpu": _CPU, "mem": _MEM, "io": _IO}[kind]
        arg = {"cpu": [], "mem": [str(self.mem_mb)], "io": [iodir]}[kind]
        return [[sys.executable, "-I", "-S", "-c", code, *arg] for _ in range(n)]

    def start(self, ready_timeout: float = 10.0) -> Stressor:
        """Start the workers and wait until each has its load running."""
        if self.spec.kind == "io":
            (self.scratch / ".stress").mkdir(exist_ok=True)
        for argv in self._argv():
            self.procs.append(
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, start_new_session=True, cwd=self.scratch)
            )
        if self.engine == "builtin":
            deadline = time.monotonic() + ready_timeout
            for p in self.procs:
                assert p.stdout is not None
                left = max(0.0, deadline - time.monotonic())
                r, _, _ = select.select([p.stdout], [], [], left)
                if not r or not p.stdout.read(1):
                    self.stop()
                    raise CaptureError(f"the {self.spec.kind} stressor did not start within {ready_timeout:g} s")
        else:
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        """Stop every worker and whatever it started (its whole session), then clean up."""
        if self.engine == "stress-ng":
            for p in self.procs:  # let stress-ng stop its stressors and remove its files
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
            for p in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=3)
        for p in self.procs:
            # stress-ng puts stressors in process groups of their own: kill by session
            kill_tree(p.pid, p.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=5)
            if p.stdout:
                p.stdout.close()
        self.procs.clear()
        shutil.rmtree(self.scratch / ".stress", ignore_errors=True)

    def __enter__(self) -> Stressor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
