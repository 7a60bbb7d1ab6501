"""The planted buffer overflow example, end to end: build, capture normal and exploited
runs under strace, train stide (and the n-gram model), score held-out runs, monitor live."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "overflow"

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is missing: the example cannot be built"),
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
]


def test_exploit_really_redirects_control_flow(tmp_path):
    """Without any tracing: normal input runs normally, the exploit runs `id`."""
    subprocess.run(["sh", str(EXAMPLE / "build.sh"), str(tmp_path)], check=True, capture_output=True)
    addr = (tmp_path / "run_diagnostics.addr").read_text().strip()
    assert int(addr, 16) > 0
    subprocess.run([sys.executable, str(EXAMPLE / "make_exploit.py"), str(tmp_path / "run_diagnostics.addr"),
                    str(tmp_path / "x.txt")], check=True, capture_output=True)
    normal = subprocess.run([str(tmp_path / "recproc"), str(EXAMPLE / "inputs" / "sample-000.txt")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert normal.returncode == 0 and "uid=" not in normal.stdout
    bad = subprocess.run([str(tmp_path / "recproc"), str(tmp_path / "x.txt")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert "uid=" in bad.stdout  # /bin/sh -c id ran: control flow was hijacked
    assert "NEVER REACHED" not in bad.stdout


@pytest.mark.slow
def test_example_end_to_end(tmp_path):
    work = tmp_path / "work"
    r = subprocess.run([sys.executable, str(EXAMPLE / "run.py"), "--work", str(work), "--train", "200",
                        "--heldout", "40"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((work / "results.json").read_text())
    st = res["models"]["stide"]
    assert st["exploit_flagged"] and st["heldout_false_positives"] == []
    assert st["exploit_max_lfc"] >= 10 > st["heldout_max_lfc"]
    assert st["exploit"]["mismatches"] > 0
    if "ngram" in res["models"]:
        ng = res["models"]["ngram"]
        assert ng["exploit_flagged"] and ng["heldout_false_positives"] == []
    # live: the exploited run raises alerts, the held-out normal run none
    assert res["live"]["exploit"]["alerts"] > 0
    assert res["live"]["normal"]["alerts"] == 0
    assert res["live"]["exploit"]["summary"]["exit_status"] == 0
    # partial_fit with more normal runs never adds false alarms
    rt = res["retraining"]
    assert rt["heldout_flagged_after"] <= rt["heldout_flagged_before"]
