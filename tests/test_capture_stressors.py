"""Background stressors: they load the machine while running and leave nothing behind."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from syssense.capture.runner import tree_pids
from syssense.capture.scenario import StressorSpec
from syssense.capture.stressors import Stressor
from syssense.errors import CaptureError


def _stat(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return fh.read().rsplit(b")", 1)[1].split()


def _rss_mb(pid: int) -> float:
    return int(_stat(pid)[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_ticks(pid: int) -> int:
    st = _stat(pid)
    return int(st[11]) + int(st[12])


def _live(pids) -> list[int]:
    out = []
    for p in pids:
        try:
            if _stat(p)[0] not in (b"Z", b"X"):
                out.append(p)
        except OSError:
            pass
    return out


@pytest.mark.parametrize("kind", ["cpu", "mem", "io"])
def test_builtin_stressor_loads_and_cleans_up(tmp_path, kind):
    st = Stressor(StressorSpec(kind, workers=1, mem_mb=64, engine="builtin"), tmp_path)
    st.start()
    try:
        pids = [p.pid for p in st.procs]
        assert len(pids) == 1 and _live(pids) == pids
        time.sleep(0.3)
        if kind == "cpu":
            assert _cpu_ticks(pids[0]) > 0
        elif kind == "mem":
            assert _rss_mb(pids[0]) >= 60  # every page of the block touched
        else:
            assert (tmp_path / ".stress").is_dir()
        assert st.describe()["engine"] == "builtin"
    finally:
        st.stop()
    time.sleep(0.05)
    assert _live(pids) == []
    assert not (tmp_path / ".stress").exists()


def test_mem_stressor_capped_by_available_memory(tmp_path):
    st = Stressor(StressorSpec("mem", workers=2, mem_mb=10**7, engine="builtin"), tmp_path)
    with open("/proc/meminfo") as fh:
        avail = next(int(line.split()[1]) // 1024 for line in fh if line.startswith("MemAvailable:"))
    assert st.mem_mb * 2 <= max(32, avail // 4)


@pytest.mark.skipif(shutil.which("stress-ng") is None, reason="stress-ng is not installed")
@pytest.mark.parametrize("kind", ["cpu", "io"])
def test_stress_ng_engine_leaves_nothing(tmp_path, kind):
    st = Stressor(StressorSpec(kind, workers=1, engine="stress-ng"), tmp_path)
    st.start()
    root = st.procs[0].pid
    try:
        time.sleep(0.3)
        assert tree_pids(root, root)  # stress-ng started its stressor processes
    finally:
        st.stop()
    time.sleep(0.1)
    assert _live(tree_pids(root, root)) == []
    assert sorted(os.listdir(tmp_path)) == []


def test_stress_ng_required_but_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CaptureError, match="stress-ng"):
        Stressor(StressorSpec("cpu", engine="stress-ng"), tmp_path)
