"""``syssense stats``: counts per trace and process, top calls, errors, signals, exits."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from syssense.cli import cli
from syssense.cli.parse_cmds import compute_stats
from syssense.parse.strace import parse_strace

DATA = Path(__file__).parent / "data" / "strace"

LOG = """\
100 openat(AT_FDCWD, "/a", O_RDONLY) = -1 ENOENT (No such file or directory)
100 openat(AT_FDCWD, "/b", O_RDONLY) = 3
100 read(3, "x", 1) = 1
101 read(4,  <unfinished ...>
100 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=101, si_uid=0, si_status=0} ---
101 <... read resumed>"", 1) = 0
101 +++ exited with 0 +++
100 this line is garbage
100 exit_group(1) = ?
100 +++ killed by SIGKILL +++
"""


def test_compute_stats_counts(tmp_path: Path) -> None:
    p = tmp_path / "s.log"
    p.write_text(LOG)
    st = compute_stats(parse_strace(p))
    (tr,) = st["traces"]
    assert tr["syscalls"] == 5 and tr["errors"] == 1 and tr["signals"] == 1 and tr["unparsed"] == 1
    assert tr["processes"] == 2 and tr["exit_status"] == 128 + 9
    top = {r["syscall"]: r for r in st["top_calls"]}
    assert top["read"]["calls"] == 2 and top["openat"]["errors"] == 1
    assert st["errors"] == [{"syscall": "openat", "errno": "ENOENT", "count": 1}]
    assert st["signals"] == [{"signal": "SIGCHLD", "count": 1}]
    procs = {r["pid"]: r for r in st["processes"]}
    assert procs[101]["exit"] == "exited 0" and procs[100]["exit"] == "killed by SIGKILL"
    assert st["unparsed"][0]["line"] == 8


def test_stats_cli_on_log_table_and_dir(tmp_path: Path) -> None:
    p = tmp_path / "s.log"
    p.write_text(LOG)
    r = CliRunner().invoke(cli, ["stats", str(p), "--json"])
    assert r.exit_code == 0, r.output
    js = json.loads(r.output)
    assert js["traces"][0]["syscalls"] == 5
    assert CliRunner().invoke(cli, ["parse", str(p), "-o", str(tmp_path / "e.parquet")]).exit_code == 0
    r2 = CliRunner().invoke(cli, ["stats", str(tmp_path / "e.parquet"), "--json"])
    assert json.loads(r2.output)["top_calls"] == js["top_calls"]
    assert CliRunner().invoke(cli, ["parse", str(p), "-o", str(tmp_path / "ds") + "/"]).exit_code == 0
    r3 = CliRunner().invoke(cli, ["stats", str(tmp_path / "ds"), "--json"])
    assert json.loads(r3.output)["errors"] == js["errors"]
    r4 = CliRunner().invoke(cli, ["stats", str(p)])
    assert r4.exit_code == 0 and "top system calls" in r4.output and "SIGCHLD" in r4.output


def test_stats_bad_input(tmp_path: Path) -> None:
    (tmp_path / "e.log").write_text("")
    r = CliRunner().invoke(cli, ["stats", str(tmp_path / "e.log")])
    assert r.exit_code != 0
