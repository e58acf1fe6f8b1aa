"""`make all` end to end (bows.experiments.study) on a small local corpus: every stage, two models, reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bows.core.groups import DAYS, MONTHS


def write_corpus(folder, docs: int = 60, lines: int = 10, seed: int = 0) -> None:
    """Documents whose lines mention a month with its calendar neighbour, a day, and filler words."""
    rng = np.random.default_rng(seed)
    lexicon = [f"word{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(120)]
    folder.mkdir()
    for d in range(docs):
        text = []
        for _ in range(lines):
            m, day = rng.integers(12), rng.integers(7)
            words = [MONTHS[m], MONTHS[(m + 1) % 12], DAYS[day], *rng.choice(lexicon, size=8)]
            text.append("In " + " and ".join(words) + " we met again.")
        (folder / f"doc{d:03d}.txt").write_text("\n".join(text))


@pytest.mark.slow
def test_study_runs_every_stage_and_writes_reports(tmp_path):
    write_corpus(tmp_path / "corpus")
    overrides = [
        f"paths.root={tmp_path / 'data'}",
        "wandb=disabled",
        "corpus=local",
        f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
        "vocab.size=80",
        "vocab.sample_fraction=1.0",
        "model.latent_size=8",
        "train.max_steps=40",
        "train.batch_size=64",
        "train.lr=1e-2",
        "stats.min_count=1",
        "analyze.umap=false",
        "analyze.heldout_windows=200",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "bows.experiments.study", *overrides],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "seconds per stage" in done.stdout and "report:" in done.stdout

    study_dirs = list((tmp_path / "data" / "study").iterdir())
    assert len(study_dirs) == 1
    index = pd.read_parquet(study_dirs[0] / "sweep.parquet")
    assert sorted(index["train.weight_decay"]) == [1.0, 4.0]
    assert (index["status"] == "finished").all()
    for run_dir in index["run_dir"]:
        metrics = json.loads((Path(run_dir) / "analysis" / "metrics.json").read_text())
        assert any(key.endswith("ring_score") for key in _keys(metrics))
    html = (study_dirs[0] / "analysis" / "report.html").read_text()
    assert "<img" in html and "weight" in html.lower()

    again = subprocess.run(
        [sys.executable, "-m", "bows.experiments.study", *overrides],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert again.returncode == 0 and "finished run, skipped" in again.stderr + again.stdout


def _keys(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _keys(v, f"{prefix}/{k}")
    else:
        yield prefix
