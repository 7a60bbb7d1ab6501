"""syssense: system-call traces to a behavioural fingerprint of a program.

The Python API exposes the same verbs as the command line. Names are imported lazily so
``import syssense`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_API = {
    # tables
    "Dataset": "dataset",
    "read_dataset": "dataset",
    "write_dataset": "dataset",
    "write_files": "dataset",
    "EVENT_SCHEMA": "dataset",
    "TRACE_SCHEMA": "dataset",
    # parse
    "parse_strace": "parse.strace",
    "iter_strace_events": "parse.strace",
    "decode_args": "parse.decode",
    "decode_args_column": "parse.decode",
    "load": "parse.registry",
    "read_format": "parse.registry",
    "sniff_format": "parse.registry",
    # capture
    "capture_command": "capture.runner",
    "run_scenarios": "capture.suite",
    "load_scenario": "capture.scenario",
    # features
    "Vocabulary": "features",
    "Sequences": "features",
    "sliding_windows": "features",
    # detectors
    "Detector": "detect.base",
    "load_model": "detect.base",
    "make_detector": "detect",
    "Stide": "detect.stide",
    "TStide": "detect.stide",
    "LookaheadPairs": "detect.lookahead",
    "NGram": "detect.ngram",
    "HMMDetector": "detect.hmm",
    "FrequencyDetector": "detect.frequency",
    "TimingDetector": "detect.timing",
    "Ensemble": "detect.ensemble",
    "CoverDetector": "detect.cover",
    "TfidfDetector": "detect.tfidf",
    "LSTMDetector": "detect.lstm",
    # analysis
    "compare": "compare",
    "interpret": "interpret",
    "evaluate": "evaluate",
    "write_report": "report.html",
    "Monitor": "monitor",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'syssense' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
