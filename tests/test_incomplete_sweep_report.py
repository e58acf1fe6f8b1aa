"""A sweep analysis interrupted during its figures is never rendered half-done: the report entry point
redoes it (issue 21, finding 2), and the page writer refuses it with one line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows.analysis import analyze, report
from bows.artifacts import Files
from bows.errors import BowsError
from bows.plots import registry

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = (
    "analyze.umap=false",
    "analyze.heldout_windows=400",
    "stats.sample_windows=2000",
    "stats.min_count=3",
    "model.latent_size=16",
)


def test_report_redoes_a_sweep_analysis_stopped_in_its_figures(make_config, tmp_path, monkeypatch):
    cfg = make_config(*OVERRIDES)
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab)
    sweep_dir = tmp_path / "multirun"
    sweep_dir.mkdir()
    rows = []
    for k, latent in enumerate((4, 16)):
        W, b = linear_weights(windows, len(vocab), latent)
        run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, f"run{latent}")
        rows.append({"job": k, "status": "finished", "run_dir": str(run_dir), "model.latent_size": latent})
    index = sweep_dir / Files.SWEEP_INDEX
    pd.DataFrame(rows).to_parquet(index)

    def stopped(*args, **kwargs):  # what SIGTERM does in the middle of the sweep figures
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "sweep_figures", stopped)
    sweep_cfg = dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, sweep=str(index)))
    with pytest.raises(KeyboardInterrupt):
        analyze.run(sweep_cfg)
    out = sweep_dir / analyze.ANALYSIS_DIR
    assert json.loads((out / analyze.META).read_text())["complete"] is False
    with pytest.raises(BowsError, match="incomplete"):  # the page writer alone refuses it
        report.write_report(out, sweep=True)
    assert not (out / report.REPORT).exists()

    done = subprocess.run(
        [sys.executable, "-m", "bows.analysis.report", f"paths.root={cfg.paths.root}", "wandb=disabled",
         *OVERRIDES, f"analyze.sweep={index}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((out / analyze.META).read_text())
    assert meta["complete"] is True and meta["failed"] == []
    page = (out / report.REPORT).read_text()
    assert {"structure_vs_latent", "metrics_vs_latent"} <= set(meta["figures"])
    for name in meta["figures"]:
        assert (out / analyze.FIGURE_DIR / f"{name}.png").is_file()
    assert "<figure id='structure_vs_latent'" in page
