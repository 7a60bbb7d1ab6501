"""Figures: each renders to PNG and SVG with title, labels and legend, from plain inputs."""

from __future__ import annotations

import numpy as np
import pytest

from syssense.report import figures as F


def _texts(fig) -> str:
    out = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_yticklabels()]
        leg = ax.get_legend()
        if leg:
            out += [t.get_text() for t in leg.get_texts()]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return "\n".join(out)


def _coverage_rows():
    rows = []
    for s in ("normal", "recon", "priv"):
        for m in ("single", "multi"):
            for k in range(2, 8):
                rows.append({"scenario": s, "category": s, "mode": m, "k": k, "coverage": 1 - 0.05 * k * (s != "normal")})
    return rows


def test_coverage_figure_lines_per_scenario_and_mode(tmp_path) -> None:
    fig = F.coverage_figure(_coverage_rows())
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 6
    text = _texts(fig)
    assert "window size k" in text and "priv (multi)" in text and "coverage" in text.lower()
    paths = F.save_figure(fig, tmp_path / "cov")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:500]


def test_mismatch_figure_marks_bursts() -> None:
    mm = np.zeros(300, bool)
    mm[100:130] = True
    fig = F.mismatch_figure([{"label": "normal run 0", "baseline": True, "mismatch": np.zeros(200, bool)},
                             {"label": "priv run 1", "mismatch": mm}], lfc_window=20)
    assert len(fig.axes) == 2
    text = _texts(fig)
    assert "[baseline]" in text and "max LFC 20" in text and "mismatch 10.0%" in text


def test_frequency_figure_highlights_new_calls() -> None:
    fig = F.frequency_figure({"read": 10, "write": 5}, {"priv": {"read": 3, "setuid": 2}, "recon": {"uname": 1}})
    text = _texts(fig)
    assert "setuid (new)" in text and "uname (new)" in text
    assert "read (new)" not in text
    assert "recon: 1 new call" in text and "priv: 1 new call" in text


def test_quadrant_figure_names_and_thresholds() -> None:
    rows = [{"priv_score": 0.3, "recon_score": 0.0, "category": "priv", "mode": "single"},
            {"priv_score": 0.0, "recon_score": 0.2, "category": "recon", "mode": "multi"},
            {"priv_score": None, "recon_score": None, "category": "normal", "mode": "single"}]
    fig = F.quadrant_figure(rows, 0.05, 0.1)
    text = _texts(fig)
    for q in ("stronger anomalous behaviour", "benign or low-signal behaviour",
              "controlled or expected privileged behaviour", "reconnaissance"):
        assert q in text
    ax = fig.axes[0]
    assert len(ax.collections) >= 2  # two scatter groups (plus shading)
    assert "threshold 0.1" in ax.get_xlabel() and "threshold 0.05" in ax.get_ylabel()


def test_roc_and_timing_figures() -> None:
    fig = F.roc_figure([{"label": "stide k=6", "fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1], "auc": 0.84}])
    assert "AUC 0.840" in _texts(fig)
    rng = np.random.default_rng(0)
    fig = F.timing_figure({"normal": rng.lognormal(-9, 1, 500), "cpu": rng.lognormal(-7, 1, 500)})
    assert "n=500" in _texts(fig)
    empty = F.timing_figure({"normal": [0.0, float("nan")]})
    assert "no timestamps" in _texts(empty)


def test_data_uri_is_png() -> None:
    uri = F.data_uri(F.roc_figure([]))
    assert uri.startswith("data:image/png;base64,iVBOR")


@pytest.mark.parametrize("fn", [lambda: F.coverage_figure([]), lambda: F.mismatch_figure([]),
                                lambda: F.frequency_figure({}, {}), lambda: F.quadrant_figure([], 0.1, 0.1)])
def test_empty_inputs_still_render(fn) -> None:
    assert F.figure_bytes(fn())[:4] == b"\x89PNG"
