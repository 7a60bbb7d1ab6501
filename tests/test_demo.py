"""The end-to-end demo: real captures of the built-in sets, compare, interpret, report."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from click.testing import CliRunner

from syssense.cli import cli
from syssense.dataset import read_dataset


def _can_trace() -> bool:
    if shutil.which("strace") is None:
        return False
    proc = subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True, timeout=30)
    return proc.returncode == 0


needs_strace = pytest.mark.skipif(not _can_trace(), reason="strace is missing or ptrace is not permitted here")


@needs_strace
@pytest.mark.slow
def test_demo_end_to_end(tmp_path) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "-o", str(out), "--runs", "1", "--ks", "3..7"])
    assert res.exit_code == 0, res.output
    report = out / "report.html"
    assert report.exists()
    html = report.read_text()
    for section in ("Dataset summary", "Coverage against window size", "Priv/recon quadrants", "Most anomalous windows"):
        assert section in html
    assert str(report.resolve()) in res.output.replace("\n", "")
    runs = list((out / "runs").iterdir())
    assert len(runs) == 1
    ds = read_dataset(runs[0] / "data")
    scen = set(ds.traces.column("scenario").to_pylist())
    assert {"normal-single", "priv-single", "recon-multi", "stress-io", "stress-normal"} <= scen
    # the summary table names every scenario and a quadrant
    assert "priv-single" in res.output and "stress-cpu" in res.output
    assert "reconnaissance" in res.output or "stronger" in res.output
    for fig in ("coverage", "quadrants", "mismatch", "frequency"):
        assert (runs[0] / "figures" / f"{fig}.png").exists() and (runs[0] / "figures" / f"{fig}.svg").exists()


@needs_strace
def test_demo_rerun_captures_afresh(tmp_path) -> None:
    out = tmp_path / "demo"
    runner = CliRunner()
    args = ["demo", "-o", str(out), "--runs", "1", "--sets", "stress", "--ks", "3,4", "-k", "4"]
    # the stress set has no priv/recon runs: the demo still writes a report and says why quadrants are missing
    res1 = runner.invoke(cli, args)
    assert res1.exit_code == 0, res1.output
    first = (out / "report.html").read_bytes()
    res2 = runner.invoke(cli, args)
    assert res2.exit_code == 0, res2.output
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2  # a fresh capture folder every time
    for r in runs:
        assert len(read_dataset(r / "data")) == 4  # one run of each of the 4 stress scenarios, nothing appended
    assert (out / "report.html").read_bytes() != first  # rewritten from the new capture


def test_demo_bad_arguments(tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["demo", "-o", str(tmp_path / "d"), "--runs", "0"])
    assert res.exit_code != 0
    assert "at least 1" in str(res.exception) or "at least 1" in res.output
    f = tmp_path / "file"
    f.write_text("x")
    res = runner.invoke(cli, ["demo", "-o", str(f)])
    assert res.exit_code != 0
    assert "not a folder" in str(res.exception) or "not a folder" in res.output
