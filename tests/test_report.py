"""The report stage builds a self-contained HTML page from a tiny hand-made run (and its sweep)."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows.analysis import analyze, report
from bows.artifacts import Files


def _cfg(make_config, **changes):
    cfg = make_config(
        "analyze.umap=false", "analyze.heldout_windows=300", "stats.sample_windows=1500", "stats.min_count=3"
    )
    return dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, **changes))


def test_report_of_a_run_runs_the_analysis_and_embeds_figures(make_config):
    cfg = _cfg(make_config)
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab, n_train=1500, n_val=300)
    W, b = linear_weights(windows, len(vocab), 12)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "tinyrun")
    page = report.run(dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, run=str(run_dir))))
    assert page == run_dir / "analysis" / "report.html"
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) >= 8 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "geometry/months/ring_score".split("/", 1)[1] in text  # key numbers table
    assert "replaced by" in text and "mbar" in text  # missing targets are reported
    assert "Angular order of months" in text
    assert not list(page.parent.glob(".*tmp*"))  # written atomically, no leftovers


def test_report_of_a_sweep_links_the_run_reports(make_config, tmp_path):
    cfg = _cfg(make_config)
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab, n_train=1500, n_val=300)
    rows = []
    for latent in (4, 12):
        W, b = linear_weights(windows, len(vocab), latent)
        rows.append(
            {
                "job": latent,
                "status": "finished",
                "run_dir": str(make_run(cfg.paths.root_path, cfg, windows, W, b, f"r{latent}")),
            }
        )
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    pd.DataFrame(rows).to_parquet(sweep / Files.SWEEP_INDEX)
    page = report.run(
        dataclasses.replace(
            cfg, analyze=dataclasses.replace(cfg.analyze, sweep=str(sweep / Files.SWEEP_INDEX), figures=False)
        )
    )
    assert page == sweep / analyze.ANALYSIS_DIR / "report.html"
    text = page.read_text()
    assert "2 runs" in text and text.count("<a href=") == 2
    assert "structure_vs_latent" in text  # the sweep figures are made even without per-run figures
    for href in re.findall(r"<a href='([^']+)'", text):
        assert (page.parent / href).resolve().is_file()
