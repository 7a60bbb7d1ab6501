"""Shared by the command-line tests: run ``syssense`` in-process and collect what it printed."""

import pytest

from syssense.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``syssense ARGV...`` (0 when it returns normally)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err
