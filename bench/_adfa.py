"""Shared by the ADFA-LD benches: the published split, per-trace score look-up, one report line.

Protocol (Creech & Hu 2013): train on Training_Data_Master (833 normal traces), test on
Validation_Data_Master (4,372 normal) + Attack_Data_Master (746), one sequence per trace.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.metrics import roc_auc_score, roc_curve

from syssense.dataset import Dataset
from syssense.evaluate import bootstrap_auc, dr_at_far
from syssense.features import Sequences
from syssense.parse.registry import load

ZIP = Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip")
#: per-trace scores written by bench/adfa_lstm_ensemble.py, read by the later analyses
SAVED_SCORES = Path(__file__).parent / "out" / "adfa_session3_scores.npz"


def saved_scores(path: Path = SAVED_SCORES) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """``(arrays, test trace ids, attack labels)`` of a scores file of bench/adfa_lstm_ensemble.py."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/adfa_lstm_ensemble.py first")
    saved = dict(np.load(path, allow_pickle=False))
    return saved, saved["trace_id"].tolist(), saved["y"].astype(bool)


def published_split(path: Path = ZIP) -> tuple[Dataset, Sequences, Dataset]:
    """``(dataset, training sequences, test dataset)`` of ADFA-LD's published split."""
    ds = load(path)
    train = ds.select({"split": ["training"]})
    test = ds.select({"split": ["validation", "attack"]})
    return ds, Sequences.from_events(train.events, by="trace"), test


def scores_by_id(table: pa.Table, trace_ids: list[str]) -> np.ndarray:
    """The ``score`` column of a ``score_traces`` table, in the order of ``trace_ids``."""
    got = dict(zip(table.column("trace_id").to_pylist(), table.column("score").to_pylist(), strict=True))
    return np.array([got[t] for t in trace_ids], dtype=float)


def report(name: str, y: np.ndarray, s: np.ndarray, extra: str = "") -> float:
    """Print AUC with its 1000-resample bootstrap 95 % CI and DR at 1 % / 5 % FAR; return the AUC."""
    fpr, tpr, _ = roc_curve(y, s)
    lo, hi = bootstrap_auc(y, s, 1000, 0)
    auc = float(roc_auc_score(y, s))
    print(f"  {name:30s} AUC {auc:.4f} (95% CI {lo:.3f}-{hi:.3f})  "
          f"DR@1%FAR {dr_at_far(fpr, tpr, 0.01):.3f}  DR@5%FAR {dr_at_far(fpr, tpr, 0.05):.3f}  {extra}", flush=True)
    return auc
