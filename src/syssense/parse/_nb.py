"""The numba guard and the byte-class helpers the compiled parser kernels share.

``_scan`` (line scanner, column assembly) and ``_decode_scan`` (argument decoder) both
import :data:`AVAILABLE`, :func:`njit` and the byte classes from here. If numba cannot be
imported, :data:`AVAILABLE` is False and :func:`njit` returns the plain Python function
(the callers then keep their Python/Arrow paths).

Note: numba's on-disk cache (``cache=True``) keys a kernel on its own file only; after
editing a helper here, clear ``__pycache__`` so kernels in the other files are recompiled.
"""

from __future__ import annotations

try:  # pragma: no cover - exercised by the fallback tests through AVAILABLE
    from numba import njit

    AVAILABLE = True
except Exception:  # numba missing or broken: the Python paths are used instead
    AVAILABLE = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        def wrap(f):
            return f

        return wrap


@njit(cache=True, nogil=True, inline="always")
def _isdigit(c):
    return 48 <= c <= 57


@njit(cache=True, nogil=True, inline="always")
def _isalpha_(c):
    return (65 <= c <= 90) or (97 <= c <= 122) or c == 95


@njit(cache=True, nogil=True, inline="always")
def _isword(c):
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95


@njit(cache=True, nogil=True, inline="always")
def _ishex(c):
    return (48 <= c <= 57) or (65 <= c <= 70) or (97 <= c <= 102)


@njit(cache=True, nogil=True, inline="always")
def _hexval(c):
    if c <= 57:
        return c - 48
    if c <= 70:
        return c - 55
    return c - 87


@njit(cache=True, nogil=True, inline="always")
def _hexdigit(v):
    return v + 48 if v < 10 else v + 87  # lowercase, as Python writes them
