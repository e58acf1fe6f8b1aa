"""The analyze stage on hand-made tiny runs: numbers, figures and a sweep index of two runs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows.analysis import analyze
from bows.artifacts import Files
from bows.data import stats


def with_analyze(cfg, **changes):
    return dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, **changes))


@pytest.fixture
def tiny(tmp_path, make_config):
    cfg = make_config(
        "analyze.umap=false",
        "analyze.heldout_windows=400",
        "stats.sample_windows=2000",
        "stats.min_count=3",
        "model.latent_size=16",
    )
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab)
    return cfg, vocab, windows


def test_stats_stage_on_tiny_windows(tiny):
    cfg, vocab, windows = tiny
    art = stats.build(cfg.paths.root_path, windows, cfg.stats)
    co = stats.load_stats(art)
    assert co.n_windows == 2000 and co.vocab == vocab
    assert "2000 evenly spaced" in art.stats["sample"]
    mats, info = co.group("months")
    assert info["words"][0] == "January" and mats["cond_corr"].shape == (12, 12)
    assert stats.build(cfg.paths.root_path, windows, cfg.stats).path == art.path  # cached


def test_analyze_run_writes_numbers_and_figures(tiny):
    cfg, vocab, windows = tiny
    W, b = linear_weights(windows, len(vocab), 16)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "tinyrun")
    out = analyze.run(with_analyze(cfg, run=str(run_dir)))
    assert out == run_dir / "analysis"
    metrics = json.loads((out / "metrics.json").read_text())
    # the tiny corpus has calendar-ordered month and day rings; a PCA-like model recovers them
    assert metrics["geometry/months/ring_score"] >= 0.8
    assert metrics["geometry/days/ring_score"] == 1.0
    assert metrics["data/months/ring_score"] >= 0.8
    assert metrics["data/months/gram_vs_cond_corr"] > 0.5
    assert metrics["coactivation/pearson_dot_corr"] > 0.5
    mech = json.loads((out / "mechanism.json").read_text())
    assert "mbar" in mech["missing"] and "mbar" in mech["substitutes"]  # reported, not dropped
    assert "Beatles" in mech["substitutes"]
    r2 = pd.read_parquet(out / "r2.parquet")
    assert len(r2) == len(vocab) and r2["gap"].dropna().is_monotonic_decreasing
    for name in (
        "months_ring",
        "days_ring",
        "months_data",
        "groups",
        "coactivation",
        "r2",
        "preactivations",
        "towers",
        "christmas_months",
        "dimensionality",
    ):
        assert (out / "figures" / f"{name}.png").stat().st_size > 5000, name
    assert not (out / "figures" / "umap.png").exists()  # analyze.umap=false


def test_analyze_sweep_of_two_runs(tiny, tmp_path):
    cfg, vocab, windows = tiny
    sweep_dir = tmp_path / "multirun"
    sweep_dir.mkdir()
    rows = []
    for k, latent in enumerate((4, 16)):
        W, b = linear_weights(windows, len(vocab), latent)
        run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, f"run{latent}")
        rows.append({"job": k, "status": "finished", "run_dir": str(run_dir), "model.latent_size": latent})
    pd.DataFrame(rows).to_parquet(sweep_dir / Files.SWEEP_INDEX)
    out = analyze.run(with_analyze(cfg, sweep=str(sweep_dir / Files.SWEEP_INDEX), figures=False))
    table = pd.read_parquet(out / analyze.SWEEP_METRICS)
    assert sorted(table["latent_size"]) == [4, 16]
    assert np.isfinite(table["geometry/months/offdiag_frobenius"]).all()
    assert (out / "figures" / "structure_vs_latent.png").is_file()
    assert (out / "figures" / "pca_snapshots.png").is_file()
    assert (out / "figures" / "metrics_vs_latent.png").is_file()


@pytest.mark.slow
def test_umap_figure(tiny):
    cfg, vocab, windows = tiny
    W, b = linear_weights(windows, len(vocab), 16)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "umaprun")
    out = analyze.run(with_analyze(cfg, run=str(run_dir), umap=True))
    assert (out / "figures" / "umap.png").is_file()
    assert len(pd.read_parquet(out / "umap.parquet")) == len(vocab)


def test_sweep_figures_from_a_metric_table(tmp_path):
    from bows.plots.registry import sweep_figures

    rng = np.random.default_rng(0)
    rows = [
        {
            "latent_size": L,
            "weight_decay": wd,
            "seed": s,
            "analysis_dir": str(tmp_path / "none"),
            "geometry/months/offdiag_frobenius": L * 0.01 + rng.random(),
            "geometry/roman/offdiag_frobenius": rng.random(),
            "geometry/months/ring_score": rng.random(),
        }
        for L in (50, 400, 4000)
        for wd in (1.0, 4.0)
        for s in (1, 2, 3)
    ]
    made = {f.name for f in sweep_figures(pd.DataFrame(rows), tmp_path / "figs")}
    assert made == {"structure_vs_latent", "metrics_vs_weight_decay", "metrics_vs_latent", "phase_diagram"}


def test_missing_and_unseen_calendar_words_give_null_with_reason_never_one(tmp_path, make_config):
    """Finding 1: months in the vocabulary (forced tokens) but in no window, and only some day
    names in the vocabulary: every ring metric is null with its reason, figures say 'not enough
    data' instead of crashing, and the analysis completes."""
    from bows.core.groups import DAYS, MONTHS

    cfg = make_config(
        "analyze.umap=false",
        "analyze.heldout_windows=300",
        "stats.sample_windows=1500",
        "stats.min_count=3",
        "model.latent_size=8",
    )
    full = tiny_vocab()
    windows = make_windows_artifact(
        cfg.paths.root_path, full, n_train=1500, n_val=300, absent=tuple(MONTHS), rename={d: f"x{d}" for d in DAYS[2:]}
    )  # only Monday and Tuesday remain
    W, b = linear_weights(windows, len(full), 8)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "nodata")
    out = analyze.run(with_analyze(cfg, run=str(run_dir)))
    metrics = json.loads((out / "metrics.json").read_text())
    unavailable = json.loads((out / "unavailable.json").read_text())
    for key in (
        "geometry/months/ring_score",
        "geometry/months/circular_rank_corr",
        "data/months/ring_score",
        "data/months/circular_rank_corr",
        "data/months/corr_ring_score",
    ):
        assert metrics[key] is None, key
        assert "no sampled train window" in unavailable[key] or "windows_with_group: 0" in unavailable[key]
    groups = json.loads((out / "groups.json").read_text())
    assert groups["months"]["data"]["windows_with_group"] == 0
    assert metrics["geometry/days/ring_score"] is None and "missing" in unavailable["geometry/days/ring_score"]
    # every group metric needs the group present and active (groups.usable_group), not only the rings
    for key, why in (
        ("geometry/months/offdiag_frobenius", "in fewer than"),
        ("geometry/days/offdiag_frobenius", "missing"),
        ("discovery/months_candidate/f1", "in fewer than"),
        ("discovery/months_ring/recall", "in fewer than"),
        ("discovery/days_candidate/f1", "missing"),
    ):
        assert metrics.get(key, "absent") is None, key
        assert why in unavailable[key], key
    meta = json.loads((out / "meta.json").read_text())
    assert meta["failed"] == []
    assert {"months_ring", "months_data", "days_ring"} <= set(meta["figures"])


def test_one_failing_figure_is_recorded_the_rest_completes_and_is_not_reused(tiny, monkeypatch):
    import dataclasses

    from bows.plots import registry

    cfg, vocab, windows = tiny
    W, b = linear_weights(windows, len(vocab), 16)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "figfail")
    real = registry.RUN_FIGURES
    broken = tuple(dataclasses.replace(f, draw=lambda a, p: bool(1 / 0)) if f.name == "groups" else f for f in real)
    monkeypatch.setattr(registry, "RUN_FIGURES", broken)
    cfg = with_analyze(cfg, run=str(run_dir))
    with pytest.raises(analyze.AnalysisIncomplete, match="figure:groups"):
        analyze.run(cfg)
    meta = json.loads((run_dir / "analysis" / "meta.json").read_text())
    assert [f["name"] for f in meta["failed"]] == ["figure:groups"]
    assert "ZeroDivisionError" in meta["failed"][0]["error"]
    assert {"months_ring", "coactivation", "dimensionality"} <= set(meta["figures"])
    assert (run_dir / "analysis" / "figures" / "months_ring.png").is_file()
    assert analyze.current_analysis(run_dir, cfg) is None  # incomplete: never reused as up to date
    monkeypatch.setattr(registry, "RUN_FIGURES", real)
    analyze.run(cfg)
    assert json.loads((run_dir / "analysis" / "meta.json").read_text())["failed"] == []
    assert analyze.current_analysis(run_dir, cfg) is not None


def test_data_side_needs_windows_with_every_word():
    from bows.analysis.compute import _data_shortfall

    words = ("a", "b", "c")
    assert (
        _data_shortfall(list(words), words, {"windows_with_group": 0}, np.zeros(3))
        == "windows_with_group: 0 (need >= 3)"
    )
    assert "in no sampled window: ['b']" in str(
        _data_shortfall(list(words), words, {"windows_with_group": 9}, np.array([3, 0, 2]))
    )
    assert "differ" in str(_data_shortfall(["a", "b"], words, {"windows_with_group": 9}, np.ones(2)))
    assert _data_shortfall(list(words), words, {"windows_with_group": 9}, np.ones(3)) is None


def test_analysis_wandb_run_carries_the_training_config(tiny):
    """The analysis W&B run (offline files, read back with wandb's schema) holds the training run's config
    keys -- ``train.weight_decay`` included -- next to ``analysis.*``, under the deterministic id."""
    from wandb_offline import read_runs

    cfg, vocab, windows = tiny
    W, b = linear_weights(windows, len(vocab), 16)
    run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, weight_decay=2.5, lr=7e-4))
    run_dir = make_run(cfg.paths.root_path, run_cfg, windows, W, b, "wdrun")
    offline = dataclasses.replace(cfg, wandb=dataclasses.replace(cfg.wandb, mode="offline"))
    out = analyze.run(with_analyze(offline, run=str(run_dir), figures=False))
    [wb] = read_runs(out)
    flat = wb.flat_config()
    assert wb.id == "analyze-wdrun" and wb.job_type == "analyze"
    assert flat["train.weight_decay"] == 2.5 and flat["train.lr"] == 7e-4
    assert flat["model.latent_size"] == 16 and flat["analysis.training_run"] == "train-wdrun"
