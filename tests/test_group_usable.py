"""No number from words that are not there (issue 21, finding 1): the training's per-epoch ring scores
need every word of the group in the vocabulary and in at least ``MIN_GROUP_WORD_WINDOWS`` training
windows (``groups.usable_group``, the one decision), else they are null with the reason."""

from __future__ import annotations

import json

import numpy as np
from tiny_runs import make_windows_artifact, tiny_vocab

from bows.artifacts import Files
from bows.core.groups import DAYS, MIN_GROUP_WORD_WINDOWS, MONTHS, usable_group
from bows.data.binarize import load_windows
from bows.training import train as train_mod


def test_usable_group_is_presence_and_activity():
    vocab = ["a", *MONTHS]
    counts = np.full(len(vocab), MIN_GROUP_WORD_WINDOWS)
    assert usable_group(MONTHS, vocab, counts).ok
    counts[vocab.index("May")] = MIN_GROUP_WORD_WINDOWS - 1
    check = usable_group(MONTHS, vocab, counts)
    assert not check.ok and "May" in str(check.reason) and "January" not in str(check.reason)
    assert "missing" in str(usable_group(DAYS, vocab, counts).reason)


def test_training_logs_null_rings_with_a_reason_for_a_corpus_without_months(make_config, tmp_path, monkeypatch):
    cfg = make_config(
        "model.latent_size=6",
        "train.batch_size=64",
        "train.epochs=2",
        "train.max_steps=null",
        "train.eval_windows=100",
        "train.device=cpu",
    )
    art = make_windows_artifact(cfg.paths.root_path, tiny_vocab(), n_train=800, n_val=200, absent=tuple(MONTHS))
    monkeypatch.setattr(
        train_mod, "load_data", lambda c: (art, load_windows(art, "train"), load_windows(art, "validation"))
    )
    path = train_mod.run(cfg)
    rows = [json.loads(line) for line in (path / Files.METRICS).read_text().splitlines()]
    epochs = [r for r in rows if "eval_loss" in r]
    assert len(epochs) == 2
    for row in epochs:
        assert row["months_ring"] is None and "in fewer than" in row["months_ring_reason"]
        assert isinstance(row["days_ring"], float)  # the days occur: measured
