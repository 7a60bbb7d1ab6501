"""The one exception type users see: a clear sentence, exit status 2."""

from __future__ import annotations


class SyssenseError(Exception):
    """Bad input or an unusable environment, described in one sentence.

    The command line prints the message (no traceback) and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class InputFormatError(SyssenseError):
    """An input file is empty, binary, truncated or not in a format syssense reads."""


class ModelFormatError(SyssenseError):
    """A model file of another kind or another format version."""


class CaptureError(SyssenseError):
    """strace is missing, ptrace is not permitted, or a scenario cannot run."""
