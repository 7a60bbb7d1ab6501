"""Scenario files: loading, validation errors with key and line, built-in sets."""

from __future__ import annotations

import pytest

from syssense.capture.scenario import (
    builtin_sets,
    command_argv,
    load_scenario,
    parse_scenario,
    program_available,
    resolve_scenarios,
)
from syssense.capture.suite import available_commands, planned_steps
from syssense.errors import CaptureError

GOOD = """\
name = "mine"
category = "normal"
mode = "multi"
runs = 2
timeout = 5
commands = ["ls -l", ["no-such-tool-xyz --flag", "true"], "echo hi | wc -c"]

[stressor]
kind = "cpu"
workers = 1
"""


def test_parse_good_scenario():
    sc = parse_scenario(GOOD, "mine.toml")
    assert sc.name == "mine" and sc.mode == "multi" and sc.runs == 2 and sc.timeout == 5.0
    assert sc.label == "normal"  # default from category
    assert sc.stressor is not None and sc.stressor.kind == "cpu" and sc.stressor.workers == 1
    # the alternative list resolves to the first installed program
    assert sc.commands[1].resolve() == "true"
    run, missing = available_commands(sc)
    assert run == ["ls -l", "true", "echo hi | wc -c"] and missing == []


def test_malformed_toml_names_the_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\ncategory = "normal"\nmode = "single"\ncommands = ["ls",\n  oops\n]\n')
    with pytest.raises(CaptureError) as err:
        load_scenario(p)
    msg = str(err.value)
    assert "bad.toml" in msg and "not valid TOML" in msg and "line 5" in msg


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('name = "x"\ncategory = "normal"\nmode = "both"\ncommands = ["ls"]\n', "mode", 3),
        ('name = "x"\ncategory = "normal"\nmode = "single"\nruns = 0\ncommands = ["ls"]\n', "runs", 4),
        ('name = "x"\ncategory = "normal"\nmode = "single"\ncommands = [1, 2]\n', "commands", 4),
        ('name = "x"\ncategory = "normal"\nmode = "single"\ncommand = ["ls"]\ncommands = ["ls"]\n', "command", 4),
        ('name = "x"\ncategory = "normal"\nmode = "single"\ncommands = ["ls"]\n[stressor]\nkind = "gpu"\n', "stressor.kind", 6),
        ('name = "x"\ncategory = "normal"\nmode = "single"\ntimeout = "soon"\ncommands = ["ls"]\n', "timeout", 4),
    ],
)
def test_bad_value_names_key_and_line(tmp_path, text, key, line):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(CaptureError) as err:
        load_scenario(p)
    msg = str(err.value)
    assert f"'{key}'" in msg and f"line {line}" in msg, msg


def test_missing_required_key():
    with pytest.raises(CaptureError, match="required key 'commands'"):
        parse_scenario('name = "x"\ncategory = "normal"\nmode = "single"\n', "s.toml")


def test_unknown_scenario_lists_choices():
    with pytest.raises(CaptureError) as err:
        load_scenario("no-such-scenario")
    msg = str(err.value)
    assert "unknown scenario 'no-such-scenario'" in msg and "behaviour" in msg and "recon-single" in msg


def test_missing_file():
    with pytest.raises(CaptureError, match="does not exist"):
        load_scenario("/nonexistent/dir/x.toml")


def test_builtin_sets_complete():
    sets = builtin_sets()
    assert set(sets) == {"behaviour", "stress"}
    beh = {(s.category, s.mode) for s in sets["behaviour"]}
    assert beh == {(c, m) for c in ("normal", "recon", "priv") for m in ("single", "multi")}
    stress = {s.category: s for s in sets["stress"]}
    assert set(stress) == {"normal", "cpu", "mem", "io"}
    assert stress["normal"].stressor is None
    for k in ("cpu", "mem", "io"):
        assert stress[k].stressor is not None and stress[k].stressor.kind == k
    # one shipped target program, copied into the scratch directory
    for s in sets["stress"]:
        assert len(s.files) == 1 and s.files[0].endswith("stress_target.py")
    # labels: recon and priv anomalous, the rest normal
    for s in sets["behaviour"]:
        assert s.label == ("normal" if s.category == "normal" else "anomalous")


def test_builtin_single_and_multi_share_commands():
    sets = {s.name: s for s in builtin_sets()["behaviour"]}
    for cat in ("normal", "recon", "priv"):
        assert sets[f"{cat}-single"].commands == sets[f"{cat}-multi"].commands


def test_resolve_sets_and_names_dedup():
    scs = resolve_scenarios(["behaviour", "recon-single", "stress-io"])
    names = [s.name for s in scs]
    assert len(names) == len(set(names)) == 7
    assert planned_steps(scs, 1) > len(scs)
    with pytest.raises(CaptureError, match="at least one"):
        resolve_scenarios([])


def test_command_argv_and_availability():
    assert command_argv("ls -l /tmp") == ["ls", "-l", "/tmp"]
    assert command_argv("grep -c 'a b' f") == ["grep", "-c", "a b", "f"]
    assert command_argv("echo hi | wc -c") == ["/bin/sh", "-c", "echo hi | wc -c"]
    assert program_available("ls -l")
    assert not program_available("no-such-tool-xyz -q")
    assert program_available("LC_ALL=C sort x")
