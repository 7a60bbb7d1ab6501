"""Matplotlib figures of syssense results, built from plain inputs (arrays, tables, dicts).

Every function returns a :class:`matplotlib.figure.Figure` (no pyplot state, Agg
rendering, safe in threads and headless), with a title, axis labels and a legend, in the
colour-blind-safe Okabe–Ito palette (Okabe & Ito, 2008, "Color Universal Design").
:func:`save_figure` writes PNG and SVG atomically; :func:`data_uri` embeds a figure in
HTML.

Inputs are deliberately plain so that figures do not depend on how they were computed:

* coverage: rows with ``scenario, mode, k, coverage`` (``syssense.compare`` output);
* mismatch: tracks of per-window mismatch flags and locality frame counts (stide);
* frequency: call-name -> count mappings, normal against each scenario;
* quadrants: rows with ``priv_score, recon_score, category`` (``syssense.interpret``);
* ROC: curves with ``fpr, tpr, auc`` (``syssense.evaluate``);
* timing: samples of inter-arrival times or durations in seconds per label.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .._atomic import atomic_path  # noqa: E402

#: Okabe–Ito colour-blind-safe palette (black last: used for the baseline).
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000")
BASELINE_COLOUR = "#000000"
#: colours for scenarios: the palette without black (baseline) and vermillion (highlight)
SCENARIO_PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#CC79A7", "#F0E442", "#882255", "#44AA99")
HIGHLIGHT = "#D55E00"  # vermillion: calls never seen in normal, mismatches
NEUTRAL = "#999999"
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

#: fixed colours for the usual categories, so every figure of a report agrees.
CATEGORY_COLOURS = {
    "normal": "#000000",
    "recon": "#0072B2",
    "priv": "#D55E00",
    "cpu": "#E69F00",
    "mem": "#009E73",
    "io": "#CC79A7",
    "attack": "#D55E00",
}

_RC = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "syssense",  # deterministic SVG ids
}


def _rows(data: pa.Table | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return data.to_pylist() if isinstance(data, pa.Table) else [dict(r) for r in data]


class _Colours:
    """Stable colour per label: category colours first, then the palette in order."""

    def __init__(self) -> None:
        self._map: dict[str, str] = {}

    def __call__(self, label: str, category: str | None = None) -> str:
        if label not in self._map:
            cat = category or label
            if cat in CATEGORY_COLOURS and CATEGORY_COLOURS[cat] not in self._map.values():
                self._map[label] = CATEGORY_COLOURS[cat]
            else:
                used = set(self._map.values())
                free = [c for c in SCENARIO_PALETTE if c not in used]
                self._map[label] = free[0] if free else SCENARIO_PALETTE[len(self._map) % len(SCENARIO_PALETTE)]
        return self._map[label]


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _empty(fig: Figure, title: str, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=NEUTRAL)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


# --------------------------------------------------------------------------- coverage


def coverage_figure(rows: pa.Table | Sequence[Mapping[str, Any]], value: str = "coverage",
                    baseline: str | None = "normal", title: str | None = None) -> Figure:
    """Coverage (or another column, e.g. ``mismatch_rate``) against window size k,
    one line per scenario and mode (colour = scenario, line style = mode)."""
    data = _rows(rows)
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 4.2)
        title = title or f"{value.replace('_', ' ').capitalize()} of each scenario by the {baseline or 'normal'} baseline, against window size k"
        data = [r for r in data if r.get(value) is not None and r.get("k") is not None]
        if not data:
            return _empty(fig, title, "no coverage rows to plot")
        ax = fig.add_subplot()
        colours = _Colours()
        modes = sorted({str(r.get("mode") or "-") for r in data})
        groups: dict[tuple[str, str], list[tuple[int, float]]] = {}
        cats: dict[str, str] = {}
        for r in data:
            key = (str(r.get("scenario")), str(r.get("mode") or "-"))
            groups.setdefault(key, []).append((int(r["k"]), float(r[value])))
            cats[key[0]] = str(r.get("category") or key[0])
        for i, ((scen, mode), pts) in enumerate(sorted(groups.items())):
            pts.sort()
            ks, vs = zip(*pts, strict=True)
            ax.plot(ks, vs, color=colours(scen, cats.get(scen)), linestyle=LINESTYLES[modes.index(mode) % 4],
                    marker=MARKERS[i % len(MARKERS)], markersize=4, linewidth=1.6,
                    label=scen if mode == "-" else f"{scen} ({mode})")
        ax.set_xlabel("window size k (system calls)")
        ax.set_ylabel(value.replace("_", " "))
        if value in ("coverage", "mismatch_rate"):
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", ncol=2 if len(groups) > 6 else 1, frameon=False)
        return fig


# --------------------------------------------------------------------------- mismatch


def mismatch_figure(tracks: Sequence[Mapping[str, Any]], lfc_window: int = 20, title: str | None = None,
                    max_tracks: int = 10) -> Figure:
    """Per-window mismatches and the locality frame count along traces, one strip each.

    ``tracks``: dicts with ``label``, ``mismatch`` (per-window 0/1 or bool array), optional
    ``lfc`` (per-window locality frame count; computed over ``lfc_window`` windows when
    absent) and ``baseline`` (bool; drawn first, in black). Mismatch bursts show as dense
    vertical ticks and a rising LFC (Hofmeyr et al., 1998).
    """
    tracks = sorted(tracks, key=lambda t: not t.get("baseline", False))[:max_tracks]
    with matplotlib.rc_context(_RC):
        title = title or "Where mismatches fall: per-window mismatch (ticks) and locality frame count (line)"
        if not tracks:
            return _empty(_figure(8, 3), title, "no traces to plot")
        fig = _figure(8.5, 0.95 * len(tracks) + 1.3)
        axes = fig.subplots(len(tracks), 1, sharex=True, squeeze=False)[:, 0]
        ymax = 1
        lfcs = []
        for t in tracks:
            mm = np.asarray(t.get("mismatch", []), dtype=float)
            lfc = t.get("lfc")
            if lfc is None:
                lfc = np.convolve(mm, np.ones(lfc_window), mode="full")[: len(mm)] if len(mm) else mm
            lfcs.append(np.asarray(lfc, dtype=float))
            if len(lfcs[-1]):
                ymax = max(ymax, float(np.max(lfcs[-1])))
        for ax, t, lfc in zip(axes, tracks, lfcs, strict=True):
            mm = np.asarray(t.get("mismatch", []), dtype=float)
            colour = BASELINE_COLOUR if t.get("baseline") else "#0072B2"
            x = np.arange(len(mm))
            hits = x[mm > 0]
            if len(hits):
                ax.vlines(hits, 0, ymax * 0.25, color=HIGHLIGHT, linewidth=0.8, alpha=0.8)
            ax.plot(x, lfc, color=colour, linewidth=1.2)
            rate = float(mm.mean()) if len(mm) else 0.0
            ax.set_ylim(0, ymax * 1.1)
            ax.set_ylabel("LFC", rotation=0, ha="right", va="center")
            label = str(t.get("label"))
            if t.get("baseline"):
                label += " [baseline]"
            ax.text(0.995, 0.92, f"{label} — mismatch {rate:.1%}, max LFC {int(lfc.max()) if len(lfc) else 0}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8)
            ax.grid(True, axis="x", alpha=0.3)
        axes[-1].set_xlabel("window index along the trace (per-process sequences concatenated)")
        fig.suptitle(title, fontsize=11)
        fig.legend(handles=[Line2D([], [], color=HIGHLIGHT, linewidth=1, label="mismatch (window not in normal database)"),
                            Line2D([], [], color=NEUTRAL, linewidth=1.2, label=f"locality frame count (last {lfc_window} windows)")],
                   loc="outside lower center", ncol=2, frameon=False)
        return fig


# --------------------------------------------------------------------------- frequency


def frequency_figure(normal: Mapping[str, float], scenarios: Mapping[str, Mapping[str, float]], top: int = 12,
                     baseline_label: str = "normal", title: str | None = None, max_panels: int = 9,
                     baselines: Mapping[str, tuple[str, Mapping[str, float]]] | None = None) -> Figure:
    """Normalised call distributions, the baseline against each scenario (one panel each).

    Each panel shows the ``top`` calls with the largest share in either distribution;
    calls never seen in the baseline are listed first, drawn in vermillion with hatching
    and marked ``(new)``. ``baselines`` optionally gives a scenario its own baseline
    ``(label, counts)`` instead of ``normal``.
    """
    items = list(scenarios.items())[:max_panels]
    with matplotlib.rc_context(_RC):
        title = title or f"System-call distributions: {baseline_label} baseline against each scenario (share of calls)"
        if not items:
            return _empty(_figure(7, 3), title, "no scenarios to plot")
        ncols = min(3, len(items))
        nrows = (len(items) + ncols - 1) // ncols
        fig = _figure(3.6 * ncols + 0.6, 0.22 * top * nrows + 1.2 * nrows + 0.8)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        colours = _Colours()
        for ax, (name, counts) in zip(axes, items, strict=False):
            b_label, b_counts = (baselines or {}).get(name, (baseline_label, normal))
            n_total = float(sum(b_counts.values())) or 1.0
            base_share = {k: v / n_total for k, v in b_counts.items()}
            total = float(sum(counts.values())) or 1.0
            share = {k: v / total for k, v in counts.items()}
            new = [c for c in share if base_share.get(c, 0.0) == 0.0 and share[c] > 0]
            new.sort(key=lambda c: -share[c])
            rest = sorted(set(share) | set(base_share), key=lambda c: -max(share.get(c, 0), base_share.get(c, 0)))
            rest = [c for c in rest if c not in new]
            # new calls first, but at most half the panel, so the calls that dominate stay visible
            n_new = min(len(new), max(top // 2, top - len(rest)))
            calls = (new[:n_new] + rest)[:top]
            y = np.arange(len(calls))
            s_vals = [share.get(c, 0.0) for c in calls]
            b_vals = [base_share.get(c, 0.0) for c in calls]
            col = colours(name)
            ax.barh(y - 0.2, b_vals, height=0.4, color=BASELINE_COLOUR, alpha=0.55, label=b_label)
            bars = ax.barh(y + 0.2, s_vals, height=0.4, color=col, label=name)
            for c, bar in zip(calls, bars, strict=True):
                if c in new:
                    bar.set_color(HIGHLIGHT)
                    bar.set_hatch("///")
                    bar.set_edgecolor("white")
            ax.set_yticks(y, [f"{c} (new)" if c in new else c for c in calls])
            for lab, c in zip(ax.get_yticklabels(), calls, strict=True):
                if c in new:
                    lab.set_color(HIGHLIGHT)
                    lab.set_fontweight("bold")
            ax.invert_yaxis()
            ax.set_title(f"{name}: {len(new)} new call{'s' if len(new) != 1 else ''}"
                         + (f" ({n_new} shown)" if n_new < len(new) else ""), fontsize=9)
            ax.set_xlabel(f"share of calls (grey: {b_label})")
            ax.grid(True, axis="x", alpha=0.3)
        for ax in axes[len(items):]:
            ax.set_visible(False)
        fig.suptitle(title, fontsize=11)
        fig.legend(handles=[Patch(color=BASELINE_COLOUR, alpha=0.55, label="baseline (named under each panel)"),
                            Patch(color=OKABE_ITO[1], label="scenario (colour per scenario)"),
                            Patch(facecolor=HIGHLIGHT, hatch="///", edgecolor="white", label="call never seen in the baseline")],
                   loc="outside lower center", ncol=3, frameon=False)
        return fig


# --------------------------------------------------------------------------- quadrants


def quadrant_figure(rows: pa.Table | Sequence[Mapping[str, Any]], priv_threshold: float, recon_threshold: float,
                    title: str | None = None) -> Figure:
    """The priv/recon quadrant scatter: every trace, threshold lines and quadrant names.

    ``rows`` need ``priv_score`` and ``recon_score``; ``category`` (colour) and ``mode``
    (marker) are used when present. Rows with null scores are skipped.
    """
    from ..interpret import BENIGN, CONTROLLED, RECON, STRONGER

    data = [r for r in _rows(rows) if r.get("priv_score") is not None and r.get("recon_score") is not None]
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 6.0)
        title = title or "Priv/recon quadrants: every trace's priv and recon signature scores"
        ax = fig.add_subplot()
        ax.set_title(title)
        xs = np.array([r["recon_score"] for r in data], dtype=float)
        ys = np.array([r["priv_score"] for r in data], dtype=float)
        hi_x = max(recon_threshold * 2.5, float(xs.max()) * 1.08 if len(xs) else 0.0, 0.05)
        hi_y = max(priv_threshold * 2.5, float(ys.max()) * 1.08 if len(ys) else 0.0, 0.05)
        hi_x, hi_y = min(hi_x, 1.02), min(hi_y, 1.02)
        # quadrant backgrounds
        shade = {"alpha": 0.06, "linewidth": 0}
        ax.fill_between([recon_threshold * 0 - 1, recon_threshold], priv_threshold, 2, color=HIGHLIGHT, **shade)
        ax.fill_between([recon_threshold, 2], priv_threshold, 2, color="#E69F00", **shade)
        ax.fill_between([recon_threshold, 2], -1, priv_threshold, color="#0072B2", **shade)
        ax.axvline(recon_threshold, color=NEUTRAL, linestyle="--", linewidth=1)
        ax.axhline(priv_threshold, color=NEUTRAL, linestyle="--", linewidth=1)
        pad = 0.015
        txt = {"fontsize": 8, "fontweight": "bold", "color": "#444444"}
        ax.text(pad * hi_x, hi_y * 0.985, STRONGER, ha="left", va="top", **txt)
        ax.text(hi_x * 0.985, hi_y * 0.985, CONTROLLED, ha="right", va="top", **txt)
        ax.text(pad * hi_x, -hi_y * 0.02, BENIGN, ha="left", va="top", **txt)
        ax.text(hi_x * 0.985, -hi_y * 0.02, RECON, ha="right", va="top", **txt)
        colours = _Colours()
        modes = sorted({str(r.get("mode") or "-") for r in data})
        groups: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(data):
            groups.setdefault((str(r.get("category") or r.get("scenario") or "?"), str(r.get("mode") or "-")), []).append(i)
        rng = np.random.default_rng(0)
        jitter = 0.006
        for (cat, mode), idx in sorted(groups.items()):
            idx_a = np.array(idx)
            jx = xs[idx_a] + rng.uniform(-jitter, jitter, len(idx_a)) * hi_x
            jy = ys[idx_a] + rng.uniform(-jitter, jitter, len(idx_a)) * hi_y
            ax.scatter(jx, jy, s=28, color=colours(cat), marker=MARKERS[modes.index(mode) % len(MARKERS)],
                       alpha=0.75, edgecolors="white", linewidths=0.5,
                       label=f"{cat}, {len(idx)}" if mode == "-" else f"{cat} ({mode}), {len(idx)}")
        ax.set_xlim(-hi_x * 0.08, hi_x)
        ax.set_ylim(-hi_y * 0.08, hi_y)
        ax.set_xlabel(f"recon score (fraction of windows in the recon signature); threshold {recon_threshold:g}")
        ax.set_ylabel(f"priv score (fraction of windows in the priv signature); threshold {priv_threshold:g}")
        if data:
            ax.legend(loc="center right", frameon=True, framealpha=0.85, title="category (mode), traces", fontsize=7)
        else:
            ax.text(0.5, 0.5, "no scored traces", transform=ax.transAxes, ha="center", color=NEUTRAL)
        return fig


# --------------------------------------------------------------------------- ROC


def roc_figure(curves: Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """ROC curves: dicts with ``label``, ``fpr``, ``tpr`` and optional ``auc``."""
    with matplotlib.rc_context(_RC):
        fig = _figure(6, 5.2)
        ax = fig.add_subplot()
        ax.set_title(title or "ROC curves (detection rate against false-alarm rate)", wrap=True)
        ax.plot([0, 1], [0, 1], color=NEUTRAL, linestyle=":", linewidth=1, label="chance")
        for i, c in enumerate(curves):
            lab = str(c.get("label"))
            if c.get("auc") is not None:
                lab += f" (AUC {float(c['auc']):.3f})"
            ax.step(np.asarray(c["fpr"], float), np.asarray(c["tpr"], float), where="post",
                    color=SCENARIO_PALETTE[i % len(SCENARIO_PALETTE)], linestyle=LINESTYLES[i % 4],
                    linewidth=1.6, label=lab)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_xlabel("false-alarm rate (normal traces flagged)")
        ax.set_ylabel("detection rate (anomalous traces flagged)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", frameon=False)
        return fig


# --------------------------------------------------------------------------- timing


def timing_figure(samples: Mapping[str, Iterable[float]], quantity: str = "inter-arrival time",
                  baseline: str | Sequence[str] | None = "normal", title: str | None = None, bins: int = 50,
                  panels: Mapping[str, Sequence[str]] | None = None) -> Figure:
    """Distributions of per-process inter-arrival times (or call durations), log scale.

    ``samples``: label -> seconds. Non-positive and missing values are dropped (a log
    has no timing when strace ran without -t/-T). Each distribution is a density-normalised
    step histogram over log10 seconds; baseline labels are drawn in black. ``panels``
    (panel title -> labels) splits the labels over several axes, e.g. one panel per
    baseline with the scenarios compared with it.
    """
    base = {baseline} if isinstance(baseline, str) else set(baseline or ())
    with matplotlib.rc_context(_RC):
        title = title or f"Distribution of per-process {quantity}s (log scale)"
        clean = {}
        for k, v in samples.items():
            a = np.asarray(list(v) if not isinstance(v, np.ndarray) else v, dtype=float)
            a = a[np.isfinite(a) & (a > 0)]
            if len(a):
                clean[k] = np.log10(a)
        if not clean:
            return _empty(_figure(7.5, 4.2), title, "no timestamps in these traces (capture with strace -ttt or -T)")
        groups = {t: [x for x in labels if x in clean] for t, labels in (panels or {"": list(clean)}).items()}
        groups = {t: g for t, g in groups.items() if g}
        if not groups:
            groups = {"": list(clean)}
        n = len(groups)
        fig = _figure(7.5 if n == 1 else 4.4 * min(n, 3), 4.2 * ((n + 2) // 3))
        axes = np.atleast_1d(fig.subplots((n + 2) // 3, min(n, 3), squeeze=False)).ravel()
        lo = min(float(a.min()) for a in clean.values())
        hi = max(float(a.max()) for a in clean.values())
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        colours = _Colours()
        for ax, (ptitle, labels) in zip(axes, groups.items(), strict=False):
            for label in labels:
                a = clean[label]
                is_base = label in base
                ax.hist(a, bins=edges, density=True, histtype="step", linewidth=2.0 if is_base else 1.4,
                        color=BASELINE_COLOUR if is_base else colours(label),
                        label=f"{label} (n={len(a):,}, median {10 ** np.median(a) * 1e6:.3g} µs, "
                              f"mean {np.mean(10 ** a) * 1e6:.3g} µs)")
            ax.set_xlabel(f"log10 {quantity} (seconds)")
            ax.set_ylabel("density")
            if ptitle:
                ax.set_title(ptitle, fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="upper right", frameon=False, fontsize=7)
        for ax in axes[n:]:
            ax.set_visible(False)
        if n == 1 and not next(iter(groups)):
            axes[0].set_title(title)
        else:
            fig.suptitle(title, fontsize=11)
        return fig


# --------------------------------------------------------------------------- output


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 110) -> bytes:
    """The figure rendered to PNG or SVG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Software": "syssense"} if fmt == "png" else {"Date": None})
    return buf.getvalue()


def data_uri(fig: Figure, fmt: str = "png", dpi: int = 110) -> str:
    """A ``data:`` URI of the figure, for self-contained HTML."""
    mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return f"data:{mime};base64," + base64.b64encode(figure_bytes(fig, fmt, dpi)).decode("ascii")


def save_figure(fig: Figure, stem: str | os.PathLike[str], formats: Sequence[str] = ("png", "svg"),
                dpi: int = 110) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` (atomically); returns the paths."""
    out = []
    stem = Path(stem)
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(path) as tmp:
            tmp.write_bytes(figure_bytes(fig, fmt, dpi))
            os.chmod(tmp, 0o644)
        out.append(path)
    return out
