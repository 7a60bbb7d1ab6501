#!/usr/bin/env python3
"""The planted buffer overflow, end to end.

1. build recproc (build.sh: -fno-stack-protector -no-pie) and the exploit input;
2. capture many normal runs under strace (-f -ttt -T -yy, the monitor's flags), each in
   a fresh scratch directory, plus the exploited run;
3. train stide (k=6) and, when available, the n-gram model on the first runs;
4. score the held-out normal runs and the exploited run offline;
5. watch the exploited run (and a held-out normal one) live with the monitor;
6. retraining: a model trained on few runs, then updated with partial_fit.

Usage: python3 run.py [--work DIR] [--train N] [--heldout M] [--k K]
Writes DIR/results.json and exits 0 when the exploit is flagged and no held-out normal
run is, 1 otherwise (3 when gcc is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STRACE_FLAGS = ["-f", "-ttt", "-T", "-yy"]


# ----------------------------------------------------------------------------- capture


def make_scratch(root: Path, seed: int) -> Path:
    """A fresh working directory with the files the normal inputs refer to."""
    d = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    rng = random.Random(seed)
    (d / "data.txt").write_text("".join(f"line {i} {rng.random():.6f}\n" for i in range(rng.randint(5, 3000))))
    (d / "empty.txt").write_text("")
    (d / "sub").mkdir()
    (d / "sub" / "notes.txt").write_text("notes\n" * rng.randint(1, 50))
    return d


def capture(binary: Path, inp: Path, log: Path, scratch_root: Path, seed: int) -> int:
    cwd = make_scratch(scratch_root, seed)
    try:
        r = subprocess.run(
            ["strace", *STRACE_FLAGS, "-o", str(log.resolve()), str(binary.resolve()), str(inp.resolve())],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
        )
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    if not log.exists() or log.stat().st_size == 0:
        raise SystemExit(f"strace produced no log for {inp}: {r.stderr.decode(errors='replace').strip()}")
    return r.returncode


def load_sequences(logs: list[Path]):
    """Per-process call sequences of the logs, one trace per log (trace id = log stem).

    Uses syssense's strace parser when it is installed, else the monitor's scanner
    (both produce the same per-process sequences of kind=syscall events)."""
    from syssense.features import Sequences

    try:
        from syssense.dataset import Dataset
        from syssense.parse.registry import load_all_readers, read_format

        if "strace" not in load_all_readers():
            raise ImportError
        parts = []
        for log in logs:
            ds = read_format(log, "strace")
            ds = Dataset(ds.traces, ds.events)
            parts.append((log.stem, ds))
        import pyarrow as pa
        import pyarrow.compute as pc

        events = []
        for stem, ds in parts:
            ev = ds.events
            ev = ev.set_column(ev.schema.get_field_index("trace_id"), "trace_id",
                               pc.cast(pa.array([stem] * ev.num_rows, pa.string()), pa.dictionary(pa.int32(), pa.string())))
            events.append(ev)
        table = pa.concat_tables(events).unify_dictionaries()
        return Sequences.from_events(table), "syssense.parse.strace"
    except ImportError:
        from syssense.monitor import scan_sequences

        seqs = [scan_sequences(log.read_bytes(), trace_id=log.stem) for log in logs]
        names = [[sq.vocab.names[c] for c in seq] for sq in seqs for seq in sq]
        tids = [t for sq in seqs for t in sq.trace_ids]
        out = Sequences.from_lists(names, trace_ids=tids)
        out.pids = np.concatenate([sq.pids for sq in seqs])
        return out, "syssense.monitor.scan_sequences"


def max_lfc(model, seqs, threshold: float, L: int = 20) -> dict[str, int]:
    """Highest locality frame count per trace: anomalous windows (score > threshold)
    among the last L windows of one process (Hofmeyr, Forrest & Somayaji 1998)."""
    from syssense.features import sliding_windows

    k = int(model.get_params().get("k", 6))
    w = sliding_windows(seqs.recode(model.vocab_), k)
    bad = np.asarray(model.score_windows(seqs), dtype=np.float64) > threshold
    cs = np.concatenate([[0], np.cumsum(bad)])
    i = np.arange(len(bad))
    lo = np.maximum(i - L + 1, i - w.start)  # never reach into the previous process
    lfc = cs[i + 1] - cs[lo]
    tids = seqs.trace_ids[w.seq_index]
    return {t: int(lfc[tids == t].max(initial=0)) for t in np.unique(seqs.trace_ids)}


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--heldout", type=int, default=100)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--min-lfc", type=int, default=10,
                    help="a run is flagged when some window's LFC (anomalous windows among the last 20) reaches this")
    ap.add_argument("--seed", type=int, default=8, help="seed of the generated normal inputs")
    ap.add_argument("--no-live", action="store_true", help="skip the live monitor runs")
    args = ap.parse_args(argv)

    from syssense.detect import load_all_detectors, make_detector
    from syssense.detect.stide import Stide
    from syssense.monitor import Monitor, run_monitor

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "models", "scratch"):
        (work / sub).mkdir(exist_ok=True)
    build = work / "build"
    if shutil.which(os.environ.get("CC", "gcc")) is None:
        print("gcc not found: cannot build the example", file=sys.stderr)
        return 3
    subprocess.run(["sh", str(HERE / "build.sh"), str(build)], check=True)
    binary = build / "recproc"
    exploit = work / "exploit.txt"
    subprocess.run([sys.executable, str(HERE / "make_exploit.py"), str(build / "run_diagnostics.addr"), str(exploit)],
                   check=True)

    sys.path.insert(0, str(HERE))
    from make_inputs import make

    need = args.train + args.heldout
    inputs = make(need, work / "inputs", args.seed)
    logs = []
    for i, inp in enumerate(inputs):
        log = work / "logs" / f"{inp.stem}.log"
        capture(binary, inp, log, work / "scratch", seed=i)
        logs.append(log)
    exploit_log = work / "logs" / "exploit.log"
    capture(binary, exploit, exploit_log, work / "scratch", seed=999)
    print(f"captured {len(logs)} normal runs and 1 exploited run in {work / 'logs'}")

    seqs, parser = load_sequences([*logs, exploit_log])
    train_ids = {p.stem for p in logs[: args.train]}
    held_ids = [p.stem for p in logs[args.train :]]
    train = seqs.for_traces(train_ids)
    test = seqs.for_traces([*held_ids, "exploit"])

    models = {"stide": Stide(k=args.k).fit(train)}
    load_all_detectors()
    try:
        models["ngram"] = make_detector("ngram").fit(train)
    except Exception as exc:  # the n-gram detector is optional here
        print(f"n-gram model not available ({exc}); continuing with stide only")

    # thresholds of score-based models: the highest window score of a calibration
    # quarter of the training runs under a model fitted on the other three quarters
    # (scores of windows a model was fitted on are optimistic)
    thresholds: dict[str, float] = {}
    train_list = [p.stem for p in logs[: args.train]]
    cut = (3 * len(train_list)) // 4
    for name, m in models.items():
        if name != "stide":
            part = type(m)(**m.get_params()).fit(seqs.for_traces(set(train_list[:cut])))
            thresholds[name] = float(np.max(part.score_windows(seqs.for_traces(set(train_list[cut:])))))

    results: dict[str, object] = {"parser": parser, "k": args.k, "train_runs": args.train,
                                  "heldout_runs": args.heldout, "models": {}}
    ok = True
    for name, m in models.items():
        table = m.score_traces(test).to_pylist()
        by_id = {r["trace_id"]: r for r in table}
        lfc = max_lfc(m, test, thresholds.get(name, 0.0))
        flagged = {t: lfc[t] >= args.min_lfc for t in by_id}
        any_anomalous = [t for t in held_ids if lfc[t] > 0]
        fp = [t for t in held_ids if flagged.get(t)]
        caught = bool(flagged.get("exploit"))
        ok &= caught and not fp
        results["models"][name] = {
            "exploit": by_id["exploit"],
            "exploit_flagged": caught,
            "exploit_max_lfc": lfc["exploit"],
            "heldout_false_positives": fp,
            "heldout_max_lfc": max(lfc[t] for t in held_ids),
            "heldout_with_any_anomalous_window": len(any_anomalous),
            "heldout_max_score": max(by_id[t]["score"] for t in held_ids),
            "threshold": thresholds.get(name, 0.0),
        }
        ex = by_id["exploit"]
        extra = (f", mismatches {ex['mismatches']}/{ex['n_windows']}, max LFC {ex['max_lfc']}, "
                 f"anomaly signal {ex['anomaly_signal']:.2f}") if name == "stide" else ""
        print(f"{name}: exploit {'FLAGGED' if caught else 'missed'} (score {ex['score']:.4g}{extra}); "
              f"held-out normal runs flagged (max LFC >= {args.min_lfc}): {len(fp)}/{len(held_ids)} "
              f"(highest normal LFC {max(lfc[t] for t in held_ids)}, exploit {lfc['exploit']}; "
              f"normal runs with at least one anomalous window: {len(any_anomalous)})")
        m.save(work / "models" / f"{name}.npz")

    # retraining as the program (or its use) changes: few runs, then partial_fit
    few = max(2, args.train // 10)
    small = Stide(k=args.k).fit(seqs.for_traces({p.stem for p in logs[:few]}))
    held = seqs.for_traces(held_ids)
    fp_before = sum(v >= args.min_lfc for v in max_lfc(small, held, 0.0).values())
    small.partial_fit(seqs.for_traces({p.stem for p in logs[few : args.train]}))
    fp_after = sum(v >= args.min_lfc for v in max_lfc(small, held, 0.0).values())
    results["retraining"] = {"initial_runs": few, "heldout_flagged_before": fp_before,
                             "added_runs": args.train - few, "heldout_flagged_after": fp_after}
    print(f"retraining: stide on {few} runs flags {fp_before}/{len(held_ids)} held-out normal runs; "
          f"after partial_fit with {args.train - few} more: {fp_after}/{len(held_ids)}")

    if not args.no_live:
        live = {}
        for label, inp in (("exploit", exploit), ("normal", inputs[args.train])):
            mon = Monitor([work / "models" / f"{n}.npz" for n in models], names=list(models), thresholds=thresholds,
                          min_lfc=args.min_lfc)
            alerts = []
            cwd = make_scratch(work / "scratch", 4242)
            try:
                summary = run_monitor(mon, command=[str(binary), str(inp)], on_batch=alerts.extend, timeout=60,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=cwd)
            finally:
                shutil.rmtree(cwd, ignore_errors=True)
            live[label] = {"alerts": len(alerts), "first_alert": alerts[0].format() if alerts else None,
                           "summary": summary.to_dict()}
            print(f"live monitor, {label} run: {len(alerts)} alerts"
                  + (f"; first: {alerts[0].format()}" if alerts else ""))
        results["live"] = live
        ok &= live["exploit"]["alerts"] > 0 and live["normal"]["alerts"] == 0

    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"results in {work / 'results.json'}: {'exploit flagged, no false alarm' if ok else 'NOT as expected'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
