"""The self-contained HTML report: ``write_report(dataset, path)``.

One file, figures embedded as ``data:`` URIs, no script and no network access (a
Content-Security-Policy forbids both). Rendered with jinja2 with autoescaping on, so
every string that comes from a trace (call names, arguments, paths, scenario names) is
HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .. import __version__
from .._atomic import atomic_path
from ..dataset import Dataset
from ..errors import SyssenseError
from ..features import GroupBy, Sequences
from ..interpret import (
    BENIGN,
    CONTROLLED,
    DEFAULT_K,
    DEFAULT_PRIV_THRESHOLD,
    DEFAULT_RECON_THRESHOLD,
    QUADRANTS,
    RECON,
    STRONGER,
    _category_mask,
    interpret,
    metadata,
    window_index,
)
from . import analysis as A
from . import figures as F

DEFAULT_KS = tuple(range(2, 11))
#: above this many events the report reads coverage from its own window sets instead of
#: also running syssense.compare (the same definitions, computed once)
COMPARE_MAX_EVENTS = 1_000_000
#: above this many events the ROC leaves out the slowest detectors (hmm, ensemble)
EVALUATE_ALL_MAX_EVENTS = 1_000_000

_QUADRANT_CSS = {STRONGER: "q-stronger", BENIGN: "q-benign", CONTROLLED: "q-controlled", RECON: "q-recon"}

Progress = Callable[[str], None]


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("syssense.report", "templates"),
        autoescape=select_autoescape(["html", "j2", "html.j2"], default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else v


def _compare_rows(dataset: Dataset, baseline: str, ks: Sequence[int], by: GroupBy) -> list[dict[str, Any]] | None:
    """Rows of :func:`syssense.compare.compare` when that module is available and works."""
    try:
        from ..compare import compare  # noqa: PLC0415 - optional, written by another stage
    except ImportError:
        return None
    table = compare(dataset, baseline=baseline, ks=ks, by=by)
    rows = table.to_pylist()
    if not rows or "coverage" not in rows[0] or "k" not in rows[0]:
        return None
    return rows


def _evaluate(dataset: Dataset, k: int, by: GroupBy) -> Any:
    """:func:`syssense.evaluate.evaluate` of every detector at k, when labels allow it (else None)."""
    labels = set(dataset.traces.column("label").to_pylist())
    if not {"normal", "anomalous"} <= labels:
        return None
    try:
        from ..evaluate import evaluate  # noqa: PLC0415 - optional, written by another stage
    except ImportError:
        return None
    detectors: str | list[str] = "all"
    if dataset.events.num_rows > EVALUATE_ALL_MAX_EVENTS:
        detectors = ["stide", "tstide", "lookahead", "ngram", "frequency", "timing"]
    return evaluate(dataset, detectors=detectors, ks=[k], n_bootstrap=200, recording=False, by=by)


def build_context(
    dataset: Dataset,
    baseline: str = "normal",
    ks: Sequence[int] = DEFAULT_KS,
    k: int = DEFAULT_K,
    priv_threshold: float = DEFAULT_PRIV_THRESHOLD,
    recon_threshold: float = DEFAULT_RECON_THRESHOLD,
    top_windows: int = 15,
    by: GroupBy = "process",
    title: str | None = None,
    progress: Progress | None = None,
    figure_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Compute everything the report shows; with ``figure_dir`` also save each figure as PNG and SVG."""
    step = progress or (lambda _s: None)
    if len(dataset) == 0:
        raise SyssenseError("the dataset has no traces: capture some first (syssense run behaviour -o DIR)")
    if not _category_mask(dataset.traces, baseline).any():
        raise SyssenseError(
            f"no baseline traces: no trace has category or scenario '{baseline}'; name one with --baseline"
        )
    ks = sorted({int(x) for x in ks} | {int(k)})
    warnings: list[str] = []
    figures: dict[str, Any] = {}

    def embed(name: str, fig) -> str:
        figures[name] = fig
        if figure_dir is not None:
            F.save_figure(fig, Path(figure_dir) / name)
        return F.data_uri(fig)

    step("summary")
    summary = A.summary_rows(dataset)
    totals = {
        "traces": len(dataset), "calls": sum(r["calls"] for r in summary),
        "scenarios": len({r["scenario"] for r in summary}), "unparsed": sum(r["unparsed_lines"] for r in summary),
    }
    tv = sorted({f"{a} {b}".strip() for a, b in zip(dataset.traces.column("tracer").to_pylist(),
                                                   dataset.traces.column("tracer_version").to_pylist(), strict=True) if a})
    step("frequency")
    normal_counts = A.baseline_counts(dataset, baseline)
    counts = A.call_counts(dataset, "scenario")
    pairs = A.paired_baselines(dataset, baseline)
    others = {s: counts[s] for s in pairs if s in counts}
    panel_base: dict[str, tuple[str, dict[str, int]]] = {}
    for s, bases in pairs.items():
        merged: dict[str, int] = {}
        for b in bases:
            for c, n in counts.get(b, {}).items():
                merged[c] = merged.get(c, 0) + n
        panel_base[s] = (" + ".join(bases), merged)
    freq_img = embed("frequency", F.frequency_figure(normal_counts, others, baseline_label=baseline,
                                                     baselines=panel_base)) if others else None
    new = {s: A.new_calls(panel_base[s][1], {s: c})[s] for s, c in others.items()}
    new_pooled = A.new_calls(normal_counts, others)
    new_rows = [(s, panel_base[s][0], new[s][:12], new_pooled[s][:12]) for s in sorted(others)]

    step("windows")
    views: dict[int, A.StideView] = {}
    indexes = {}
    seqs = Sequences.from_events(dataset.events, by=by)
    for kk in ks:
        indexes[kk] = window_index(dataset.events, kk, by, seqs=seqs)
        views[kk] = A.stide_view(dataset, kk, baseline, by, index=indexes[kk])
    step("coverage")
    cov_rows = None
    coverage_source = "computed by the report from the stide window sets"
    try:
        if dataset.events.num_rows <= COMPARE_MAX_EVENTS:
            cov_rows = _compare_rows(dataset, baseline, ks, by)
        else:
            coverage_source += f" (more than {COMPARE_MAX_EVENTS:,} events: syssense.compare not run twice over them)"
        if cov_rows is not None:
            coverage_source = "from syssense.compare"
    except Exception as exc:  # noqa: BLE001 - another stage's code: report it, fall back to our own reading
        warnings.append(f"syssense.compare failed ({type(exc).__name__}: {exc}); coverage computed by the report instead")
    if cov_rows is None:
        cov_rows = A.coverage_rows(dataset, ks, baseline, by, views=views)
    coverage_img = embed("coverage", F.coverage_figure(cov_rows, baseline=baseline))
    cov_cols = [c for c in ("scenario", "category", "mode", "k", "windows", "coverage", "mismatch_rate",
                            "mean_hamming", "max_hamming", "max_lfc", "new_syscalls") if c in cov_rows[0]] if cov_rows else []
    coverage_table = [{c: _fmt(r.get(c)) for c in cov_cols} for r in cov_rows]

    step("mismatch")
    view = views[k]
    tracks = A.mismatch_tracks(dataset, view)
    mismatch_img = embed("mismatch", F.mismatch_figure(tracks, lfc_window=A.LFC_FRAME))

    step("quadrants")
    quad_rows: list[dict[str, Any]] = []
    quadrant_counts: list[tuple[str, dict[str, int]]] = []
    sig_sizes = {"priv": 0, "recon": 0, "baseline": len(view.normal_ids)}
    holdout_text = "not computed"
    priv_ids = recon_ids = None
    try:
        q = interpret(dataset, baseline=baseline, k=k, priv_threshold=priv_threshold,
                      recon_threshold=recon_threshold, by=by, index=indexes[k])
        meta = metadata(q)
        sig_sizes = {"priv": meta["priv_signature"], "recon": meta["recon_signature"], "baseline": meta["baseline_windows"]}
        holdout_text = {"run": "each trace is scored against signatures built from the other runs (leave-one-run-out)",
                        "trace": "each trace is scored against signatures built from the other traces (leave-one-trace-out; the dataset has one run)",
                        "none": "in sample (signatures include the scored trace)"}[meta["holdout"]]
        labels = A.trace_labels(dataset.traces)
        qd = q.to_pylist()
        counts_by_cat: dict[str, dict[str, int]] = {}
        for lab, r in zip(labels, qd, strict=True):
            quad_rows.append({"label": lab, "trace_id": r["trace_id"], "category": r["category"] or "",
                              "n_windows": r["n_windows"], "priv": _fmt(r["priv_score"]), "recon": _fmt(r["recon_score"]),
                              "quadrant": r["quadrant"] or "no system calls", "css": _QUADRANT_CSS.get(r["quadrant"], "")})
            if r["quadrant"]:
                d = counts_by_cat.setdefault(r["category"] or "?", {})
                d[r["quadrant"]] = d.get(r["quadrant"], 0) + 1
        quadrant_counts = sorted(counts_by_cat.items())
        quad_rows.sort(key=lambda r: (r["category"], r["label"]))
        quadrant_img = embed("quadrants", F.quadrant_figure(q, priv_threshold, recon_threshold))
        # in-sample signatures, to mark anomalous windows
        idx = indexes[k]
        pos = {t: i for i, t in enumerate(dataset.traces.column("trace_id").to_pylist())}
        trow = np.array([pos.get(str(t), -1) for t in idx.trace_ids], np.int64)[idx.trace] if len(idx.ids) else np.zeros(0, np.int64)
        good = trow >= 0
        ids, trow = idx.ids[good], trow[good]
        normal = np.unique(ids[_category_mask(dataset.traces, baseline)[trow]])
        priv_ids = np.setdiff1d(np.unique(ids[_category_mask(dataset.traces, "priv")[trow]]), normal)
        recon_ids = np.setdiff1d(np.unique(ids[_category_mask(dataset.traces, "recon")[trow]]), normal)
    except SyssenseError as exc:
        warnings.append(f"priv/recon quadrants not computed: {exc}")
        quadrant_img = embed("quadrants", F.quadrant_figure([], priv_threshold, recon_threshold,
                                                            title=f"Priv/recon quadrants: not computed ({exc})"))

    step("anomalous windows")
    windows = A.anomalous_windows(dataset, view, top=top_windows, priv_ids=priv_ids, recon_ids=recon_ids)

    step("ROC and timing")
    roc_img = None
    roc_caption = ""
    leaderboard: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    try:
        ev = _evaluate(dataset, k, by)
    except Exception as exc:  # noqa: BLE001 - another stage's code: report it, fall back to our own ROC
        ev = None
        warnings.append(f"syssense.evaluate failed ({type(exc).__name__}: {exc}); ROC computed by the report instead")
    if ev is not None and ev.curves:
        for r in sorted((r for r in ev.rows if not r.get("skipped")), key=lambda r: -(r.get("auc") or 0)):
            key = (r["detector"], r["k"])
            c = ev.curves.get(key)
            if c is None:
                continue
            label = r["detector"] + (f" k={r['k']}" if r["k"] is not None else "")
            curves.append({"label": label, "fpr": c["fpr"], "tpr": c["tpr"], "auc": r["auc"]})
            leaderboard.append({"detector": label, "auc": _fmt(r.get("auc")),
                                "ci": f"{r.get('auc_lo', float('nan')):.3f}–{r.get('auc_hi', float('nan')):.3f}",
                                "dr1": _fmt(r.get("dr_at_far_1")), "dr5": _fmt(r.get("dr_at_far_5"))})
        skipped = [f"{r['detector']} ({r['skipped']})" for r in ev.rows if r.get("skipped")]
        info = ev.info
        roc_img = embed("roc", F.roc_figure(curves, title=f"ROC of every detector (k={k}), from syssense.evaluate"))
        roc_caption = (f"Trained on {info.get('n_train')} normal traces ({info.get('split')} split), tested on "
                       f"{info.get('n_test_normal')} normal and {info.get('n_test_anomalous')} anomalous traces "
                       "(trace labels); AUC with a bootstrap 95 % interval, detection rate at 1 % and 5 % false alarms."
                       + (f" Skipped: {', '.join(skipped)}." if skipped else ""))
    else:
        roc_ks = [x for x in (3, 6, 10) if x in views] or [k]
        curves = A.roc_rows(dataset, {x: views[x] for x in roc_ks}, baseline)
        if curves:
            roc_img = embed("roc", F.roc_figure(curves, title="ROC of stide's per-trace mismatch rate"))
            roc_caption = (f"{curves[0]['negatives']} held-out baseline traces (negative) against {curves[0]['positives']} "
                           "traces of the other scenarios (positive); AUC: " + ", ".join(f"k={c['k']} {c['auc']:.3f}" for c in curves))
    timing_imgs = []
    samples = A.timing_samples(dataset, "scenario")
    # one panel per baseline scenario, with the scenarios compared with it (as for frequencies)
    panels: dict[str, list[str]] = {}
    for s, bases in pairs.items():
        key = " + ".join(bases)
        panels.setdefault(key, list(bases))
        panels[key].append(s)
    panels = {f"{', '.join(v[len(k.split(' + ')):])} against {k}": v for k, v in panels.items()}
    for qname in ("inter-arrival time", "duration"):
        per = {g: d[qname] for g, d in samples.items() if qname in d}
        if per:
            timing_imgs.append((f"Distribution of per-process system-call {qname}s",
                                embed(f"timing-{qname.split()[0]}", F.timing_figure(
                                    per, quantity=qname, baseline=sorted({b for v in pairs.values() for b in v}), panels=panels or None))))
    if not timing_imgs:
        warnings.append("no timestamps or durations in these traces: capture with strace -ttt -T for timing figures")

    src = str(dataset.path) if dataset.path is not None else "(in memory)"
    return {
        "title": title or "syssense report",
        "version": __version__,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "source": src,
        "baseline": baseline,
        "k": k,
        "lfc_frame": A.LFC_FRAME,
        "summary": summary,
        "totals": totals,
        "tracers": ", ".join(tv),
        "freq_img": freq_img,
        "new_calls": new_rows,
        "coverage_img": coverage_img,
        "coverage_source": coverage_source,
        "coverage_cols": cov_cols,
        "coverage_table": coverage_table,
        "mismatch_img": mismatch_img,
        "quadrant_img": quadrant_img,
        "quadrant_names": list(QUADRANTS),
        "quadrant_counts": quadrant_counts,
        "quadrant_rows": quad_rows,
        "priv_threshold": priv_threshold,
        "recon_threshold": recon_threshold,
        "holdout_text": holdout_text,
        "base_holdout": "leave-one-run-out" if view.holdout == "run" else "leave-one-trace-out, the baseline has one run",
        "sig_sizes": sig_sizes,
        "windows": windows,
        "roc_img": roc_img,
        "roc_caption": roc_caption,
        "leaderboard": leaderboard,
        "timing_imgs": timing_imgs,
        "warnings": warnings,
        "_figures": figures,
        "_coverage_rows": cov_rows,
        "_curves": curves,
    }


def render_report(context: dict[str, Any]) -> str:
    """The HTML text of a report context (autoescaped)."""
    template = _environment().get_template("report.html.j2")
    return template.render(**{k: v for k, v in context.items() if not k.startswith("_")})


def write_report(
    dataset: Dataset,
    path: str | os.PathLike[str],
    baseline: str = "normal",
    ks: Sequence[int] = DEFAULT_KS,
    k: int = DEFAULT_K,
    priv_threshold: float = DEFAULT_PRIV_THRESHOLD,
    recon_threshold: float = DEFAULT_RECON_THRESHOLD,
    top_windows: int = 15,
    by: GroupBy = "process",
    title: str | None = None,
    progress: Progress | None = None,
    figure_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the self-contained HTML report of ``dataset`` to ``path`` (atomically) and return it.

    Sections: dataset summary, call frequencies, coverage against k, where mismatches fall,
    the priv/recon quadrants, the most anomalous windows decoded back to the log, ROC and
    timing where available, and method notes with citations.
    """
    ctx = build_context(dataset, baseline=baseline, ks=ks, k=k, priv_threshold=priv_threshold,
                        recon_threshold=recon_threshold, top_windows=top_windows, by=by, title=title,
                        progress=progress, figure_dir=figure_dir)
    if progress:
        progress("writing")
    html = render_report(ctx)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
        os.chmod(tmp, 0o644)
    return path
