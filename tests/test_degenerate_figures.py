"""Every figure given numbers with nothing to draw (all null, empty tables, a single point) says so or
is left out; it never raises (issue 21: ``make smoke`` failed on a window scan whose scores were all null)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows.analysis import analyze
from bows.analysis.compute import Analysis
from bows.analysis.store import load_analysis
from bows.plots import diagnostics, registry
from bows.plots.registry import SWEEP_FIGURES, sweep_figures


def _nan_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The same table with every numeric value null (words, labels and sizes kept)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = np.nan
    return out


def _nan_sections(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_sections(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_sections(v) for v in value]
    if isinstance(value, float):
        return float("nan")
    return value


@pytest.fixture(scope="module")
def real_analysis(tmp_path_factory):
    from conftest import tiny_config

    root = tmp_path_factory.mktemp("degenerate")
    cfg = tiny_config(
        root,
        "analyze.umap=false",
        "analyze.heldout_windows=400",
        "stats.sample_windows=2000",
        "stats.min_count=3",
        "model.latent_size=16",
    )
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab)
    W, b = linear_weights(windows, len(vocab), 16)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "degenerate")
    out = analyze.run(dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, run=str(run_dir))))
    return load_analysis(out)


DEGRADE = {
    "all null": lambda a: Analysis(
        metrics=dict.fromkeys(a.metrics, float("nan")),
        sections=_nan_sections(a.sections),
        tables={k: _nan_frame(t) for k, t in a.tables.items()},
    ),
    "empty tables": lambda a: Analysis(
        metrics=a.metrics, sections=a.sections, tables={k: t.iloc[:0] for k, t in a.tables.items()}
    ),
    "one row": lambda a: Analysis(
        metrics=a.metrics, sections=a.sections, tables={k: t.iloc[:1] for k, t in a.tables.items()}
    ),
    "nothing": lambda a: Analysis(),
}


@pytest.mark.parametrize("case", list(DEGRADE))
def test_every_run_figure_survives_degenerate_numbers(real_analysis, case, tmp_path):
    failed: list[dict[str, str]] = []
    registry.draw(registry.RUN_FIGURES, DEGRADE[case](real_analysis), tmp_path, failed)
    assert failed == []


def _scan_table(planets_score: float) -> pd.DataFrame:
    """A window scan as ``make stats`` writes it: months measured at every G, planets never (no window
    holds a planet in a small corpus slice, as in ``make smoke``)."""
    rows = []
    for group, kind, primary, chance in (
        ("months", "ring", "adjacent_fraction", 2 / 11),
        ("planets", "line", "line_spearman", np.nan),
    ):
        for g in (1, 2, 5, 10):
            score = 0.1 * g / 10 if group == "months" else planets_score
            reason = None if group == "months" else "only 0 windows hold a group word (< 30)"
            rows.append(
                {
                    "group": group,
                    "kind": kind,
                    "sentences_per_row": 1,
                    "group_size": g,
                    "reason": reason,
                    "primary": primary,
                    "score": score,
                    "chance": chance,
                }
            )
    return pd.DataFrame(rows)


def test_window_scan_with_a_group_never_measured_says_why(tmp_path):
    assert diagnostics.window_scan_figure(_scan_table(np.nan), tmp_path / "scan.png", {"group_size": 5})
    assert (tmp_path / "scan.png").is_file()
    assert diagnostics.window_scan_figure(_scan_table(np.nan).assign(score=np.nan), tmp_path / "null.png")
    assert (tmp_path / "null.png").is_file()


def _sweep_table(tmp_path, value) -> pd.DataFrame:
    rows = [
        {
            "latent_size": L,
            "weight_decay": wd,
            "seed": s,
            "analysis_dir": str(tmp_path / "none"),
            "geometry/months/offdiag_frobenius": value,
            "geometry/roman/offdiag_frobenius": value,
            "geometry/months/ring_score": value,
        }
        for L in (50, 400)
        for wd in (1.0, 4.0)
        for s in (1, 2)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("value", [float("nan"), 0.0])
def test_sweep_figures_survive_null_and_constant_metrics(tmp_path, value):
    failed: list[dict[str, str]] = []
    sweep_figures(_sweep_table(tmp_path, value), tmp_path / "figs", failed)
    assert failed == []
    failed = []
    sweep_figures(_sweep_table(tmp_path, value).iloc[:1], tmp_path / "one", failed)
    assert failed == []
    assert SWEEP_FIGURES  # the sweep figures exist to be checked
