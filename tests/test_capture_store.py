"""The capture dataset directory: locking, run numbering, manifest recovery."""

from __future__ import annotations

import json

import pytest

from syssense.capture.store import CaptureStore
from syssense.errors import CaptureError


def test_second_writer_refused(tmp_path):
    with CaptureStore(tmp_path / "d"), pytest.raises(CaptureError, match="another syssense capture"):
        CaptureStore(tmp_path / "d").__enter__()
    with CaptureStore(tmp_path / "d") as s:  # free again afterwards
        assert s.manifest["runs"] == []


def test_run_numbers_continue_from_manifest_and_raw(tmp_path):
    d = tmp_path / "d"
    with CaptureStore(d) as s:
        assert s.next_run("a") == 1
        e = s.begin_run(scenario="a", mode="single", run=1, raw=s.raw_dir("a", "single", 1))
        s.end_run(e, "ok")
        assert s.next_run("a") == 2 and s.next_run("b") == 1
        (d / "raw" / "b" / "multi" / "run-4").mkdir(parents=True)  # e.g. a manifest edited by hand
        assert s.next_run("b") == 5
        with pytest.raises(FileExistsError):
            s.raw_dir("a", "single", 1)  # never reuse a run directory
    m = json.loads((d / "manifest.json").read_text())
    assert m["runs"][0]["status"] == "ok" and m["runs"][0]["raw"] == "raw/a/single/run-1"


def test_stale_running_run_marked_failed(tmp_path):
    d = tmp_path / "d"
    with CaptureStore(d) as s:
        s.begin_run(scenario="a", mode="single", run=1)
        # simulate the process dying: skip __exit__ by rewriting the manifest as it was
        snapshot = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps(snapshot))
    with CaptureStore(d) as s:
        assert s.manifest["runs"][0]["status"] == "failed"
        assert "ended before" in s.manifest["runs"][0]["note"]


def test_unreadable_manifest(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(CaptureError, match="not a readable syssense manifest"):
        CaptureStore(d).__enter__()


def test_output_is_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(CaptureError, match="not a directory"):
        CaptureStore(f)


def test_skips_counted_once_per_command(tmp_path):
    with CaptureStore(tmp_path / "d") as s:
        s.record_skip("a", "sudo -n -l", "not installed")
        s.record_skip("a", "sudo -n -l", "not installed")
        s.record_skip("b", "sudo -n -l", "not installed")
        assert [(k["scenario"], k["count"]) for k in s.manifest["skipped"]] == [("a", 2), ("b", 1)]
