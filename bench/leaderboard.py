"""Reproduce the results table of docs/evaluate.md: every detector on ADFA-LD and the UNM
sets that have both normal and intrusion traces.

    .venv/bin/python bench/leaderboard.py                 # ADFA-LD, k 3..10, then UNM, k 6
    .venv/bin/python bench/leaderboard.py --only adfa     # just ADFA-LD
    .venv/bin/python bench/leaderboard.py --only unm --k 6

ADFA-LD: trained on Training_Data_Master (833 normal traces), tested on
Validation_Data_Master (4,372 normal) vs Attack_Data_Master (746 attacks): the published
split. UNM: no published split, so a random half of the normal traces (seed 0) trains and
the other half plus every intrusion trace tests. Nothing is tuned on test traces: every
detector runs with its documented defaults, for every k.

Figures are printed with ratios against stide at k = 6 measured in the same run (AUC
difference, time ratio). The machine is shared with other jobs, so times are under load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from syssense.cli.common import console
from syssense.cli.evaluate_cmds import leaderboard_table, skipped_notes
from syssense.evaluate import evaluate
from syssense.parse.registry import load

ADFA = Path("/work/shared/datasets/adfa-ld/ADFA-LD.zip")
UNM = Path("/work/shared/datasets/unm")
#: UNM sets with both normal and intrusion traces: (name, path, where)
UNM_SETS = [
    ("unm-sendmail (stide)", UNM / "stide", None),
    ("unm-synth-sendmail", UNM / "synth-sendmail", None),
    ("unm-lpr-mit", UNM / "lpr-mit", None),
    ("unm-login", UNM / "login-ps", {"group": "login"}),
    ("unm-ps", UNM / "login-ps", {"group": "ps"}),
    ("unm-xlock", UNM / "xlock", None),
    ("unm-ftp", UNM / "synth-ftp", None),
    ("unm-inetd", UNM / "inetd", None),
]


def run(name: str, path: Path, ks: str, where: dict | None, detectors: str, results: list[dict]) -> None:
    t0 = time.perf_counter()
    ds = load(path, "adfa-ld" if path.suffix == ".zip" else "unm")
    if where:
        ds = ds.select(where)
    t_load = time.perf_counter() - t0
    def progress(label: str, done: int, total: int) -> None:
        print(f"  [{time.perf_counter() - t0:7.1f} s] {name}: {label} ({done}/{total})", file=sys.stderr, flush=True)

    ev = evaluate(ds, detectors=detectors, ks=ks, n_bootstrap=1000, seed=0, progress=progress)
    total = time.perf_counter() - t0
    rows = ev.leaderboard()
    info = ev.info
    console.print(leaderboard_table(rows, title=f"{name}: {info['n_train']} normal training traces "
                                                f"({info['split']} split); {info['n_test_normal']} normal + "
                                                f"{info['n_test_anomalous']} anomalous test traces"))
    for line in skipped_notes(rows):
        console.print(line)
    ref = next((r for r in rows if r["detector"] == "stide" and r["k"] == 6), None)
    best = rows[0]
    if ref and "auc" in ref:
        ref_time = ref["fit_seconds"] + ref["score_seconds"]
        best_time = best["fit_seconds"] + best["score_seconds"]
        console.print(f"best: {best['detector']} k={best['k']} AUC {best['auc']:.3f} "
                      f"({best['auc'] - ref['auc']:+.3f} vs stide k=6 at {ref['auc']:.3f}); "
                      f"its fit+score time {best_time:.1f} s = {best_time / max(ref_time, 1e-9):.1f}x stide k=6's")
    console.print(f"{name}: loading {t_load:.1f} s, whole leaderboard {total:.1f} s (shared machine, under load)\n")
    for r in rows:
        results.append({"dataset": name, **r})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["adfa", "unm"], default=None)
    ap.add_argument("--k", default=None, help="k range (default: 3..10 for ADFA-LD, 6 for UNM)")
    ap.add_argument("--detectors", default="all")
    ap.add_argument("--json", type=Path, default=None, help="also write every row to this JSON file")
    args = ap.parse_args()
    results: list[dict] = []
    if args.only in (None, "adfa"):
        run("ADFA-LD", ADFA, args.k or "3..10", None, args.detectors, results)
    if args.only in (None, "unm"):
        for name, path, where in UNM_SETS:
            run(name, path, args.k or "6", where, args.detectors, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
