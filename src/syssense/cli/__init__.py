"""The command line: ``syssense VERB ...``.

This package is the only place that knows every stage. Each module here holds the
commands of one stage and exposes them in a ``COMMANDS`` list; :func:`main` gathers them
and turns every :class:`~syssense.errors.SyssenseError` into one sentence on stderr and a
non-zero exit status (2), never a traceback. ``SYSSENSE_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__
from ..errors import SyssenseError

#: command modules, in help order; a module not written yet is skipped.
_COMMAND_MODULES = ("parse_cmds", "import_cmds", "capture_cmds", "detect_cmds", "evaluate_cmds", "report_cmds", "monitor_cmds")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="syssense")
def cli() -> None:
    """syssense: a behavioural fingerprint of a program from its system calls,
    and how other runs deviate from it."""


def _register() -> None:
    for mod in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{mod}":
                continue
            raise
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


_register()


def fail(message: str, code: int = 2) -> None:
    """Print one sentence to stderr, prefixed ``syssense:``."""
    click.echo(f"syssense: {message}", err=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    debug = bool(os.environ.get("SYSSENSE_DEBUG"))
    try:
        cli.main(args=argv, prog_name="syssense", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("syssense: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SyssenseError as exc:
        if debug:
            raise
        click.echo(f"syssense: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("syssense: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # last resort: one sentence, not a traceback
        if debug:
            raise
        click.echo(
            f"syssense: internal error ({type(exc).__name__}: {exc}); rerun with SYSSENSE_DEBUG=1 for details",
            err=True,
        )
        sys.exit(1)
