"""Detectors: one module per family behind one interface (:mod:`.base`).

Import :data:`DETECTORS` after :func:`load_all_detectors` to see every registered one.
"""

from __future__ import annotations

import importlib

from .base import DETECTORS, Detector, load_model, register

#: modules that register detectors; a module that is absent (not written yet, or an
#: optional dependency missing) is skipped.
_DETECTOR_MODULES = ("stide", "lookahead", "ngram", "hmm", "frequency", "timing", "ensemble", "lstm", "cover", "tfidf")


def load_all_detectors() -> dict[str, type[Detector]]:
    """Import every detector module so that :data:`DETECTORS` is complete."""
    for mod in _DETECTOR_MODULES:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__name__):
                continue
            raise
    return DETECTORS


def make_detector(name: str, **params) -> Detector:
    """A new, unfitted detector by registered name."""
    from ..errors import SyssenseError

    load_all_detectors()
    if name not in DETECTORS:
        raise SyssenseError(f"unknown detector '{name}': choose one of {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**params)


__all__ = ["DETECTORS", "Detector", "load_all_detectors", "load_model", "make_detector", "register"]
