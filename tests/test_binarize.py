"""Binarize stage on the tiny fixture corpus: windows content, storage, metadata, statistics."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
from corpus_fixture import ROWS, write_docs

from bows.artifacts import Files
from bows.data.binarize import build_binarized, load_windows, vocab_of
from bows.data.vocab import build_vocab

DATA = ("vocab.size=48", "vocab.sample_fraction=1.0", "vocab.min_len=20")


def words_of(artifact, split):
    windows, vocab = load_windows(artifact, split), vocab_of(artifact)
    return [{vocab[i] for i in windows.indices[a:b]} for a, b in zip(windows.offsets[:-1], windows.offsets[1:])]


def build(tmp_path, make_config, *overrides):
    cfg = make_config(*DATA, *overrides)
    docs = write_docs(tmp_path)
    return build_binarized(cfg, docs, build_vocab(cfg, docs))


def test_windows_stay_inside_documents(tmp_path, make_config, caplog):
    caplog.set_level(logging.INFO, logger="bows.data.binarize")
    artifact = build(tmp_path, make_config, "window.group_size=2", "window.cross_documents=false")
    train = words_of(artifact, "train")
    # d1 has 3 rows (the middle one too short): 2 windows; d2 2 rows: 1 window; d3 3 rows: 2 windows
    assert len(train) == 5
    assert {"January", "February"} <= train[0] and "March" not in train[0]
    assert {"February", "March"} <= train[1] and "January" not in train[1]
    assert "December" in train[2] and not any("December" in w for i, w in enumerate(train) if i != 2)
    assert "July" in train[3] and "June" in train[3] and "August" in train[4] and "June" not in train[4]
    assert len(words_of(artifact, "test")) == 1  # a document shorter than G is one window
    stats = artifact.stats["train"]
    assert stats["rows"] == 8 and stats["documents"] == 3 and stats["windows"] == 5
    assert stats["p10_words"] <= stats["p50_words"] <= stats["p90_words"]
    assert "p90" in caplog.text and "train" in caplog.text  # the statistics table is logged


def test_windows_cross_documents_when_asked(tmp_path, make_config):
    artifact = build(tmp_path, make_config, "window.group_size=3", "window.cross_documents=true")
    train = words_of(artifact, "train")
    assert len(train) == 6  # 8 rows, G = 3, stride 1
    assert {"March", "December"} <= train[1]  # rows 1..3 span documents d1 and d2


def test_storage_is_compact_memory_mapped_and_self_describing(tmp_path, make_config):
    artifact = build(tmp_path, make_config, "window.group_size=2", "window.stride=2")
    windows = load_windows(artifact, "train")
    assert isinstance(windows.indices, np.memmap) and windows.indices.dtype == np.uint16
    assert windows.offsets.dtype == np.int64 and windows.offsets[-1] == len(windows.indices)
    picked = windows.subset(np.array([2, 0]))
    assert np.array_equal(picked.to_csr().toarray(), windows.to_csr().toarray()[[2, 0]])
    for a, b in zip(windows.offsets[:-1], windows.offsets[1:]):
        assert np.all(np.diff(windows.indices[a:b].astype(int)) > 0)  # sorted, no duplicates
    meta = artifact.meta
    assert meta["vocab_size"] == 48 and meta["splits"] == ["train", "validation", "test"]
    assert set(meta["config"]) >= {"corpus", "vocab", "window", "tokenizer"}
    assert meta["config"]["window"] == {"group_size": 2, "stride": 2, "cross_documents": False}
    assert set(meta["inputs"]) == {"docs", "vocab"} and "numpy" in meta["versions"]
    for split in ("train", "validation", "test"):
        assert Files.offsets(split) in meta["files"] and Files.indices(split) in meta["files"]
    assert vocab_of(artifact)[:2] == ["Monday", "Tuesday"]


def test_run_uses_the_download_stage(tmp_path, make_config, monkeypatch):
    import bows.data.binarize
    import bows.data.download

    docs = write_docs(tmp_path)
    monkeypatch.setattr(bows.data.download, "run", lambda cfg: docs)
    artifact = bows.data.binarize.run(make_config(*DATA))
    assert artifact.meta["inputs"]["docs"]["path"] == str(docs.path)
    assert artifact.stats["validation"]["windows"] == 1


@pytest.mark.slow
def test_cli_overrides_build_a_new_artifact_and_keep_the_old(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, (_doc, _split, text) in enumerate(ROWS * 3):
        (corpus / f"{n:02d}.txt").write_text("\n".join([text, "February snow and the long Christmas nights" * 2]))
    common = [
        f"paths.root={tmp_path / 'data'}",
        "wandb=disabled",
        "corpus=local",
        f"corpus.files=[{corpus}/*.txt]",
        "vocab.sample_fraction=1.0",
        "corpus.validation_fraction=0.2",
        "corpus.test_fraction=0.2",
    ]

    def binarize(*overrides: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "bows.data.binarize", *common, *overrides],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "windows" in done.stdout and "train" in done.stdout  # the statistics table
        return {p.name for p in (tmp_path / "data" / "artifacts" / "binarize").iterdir()}

    first = binarize("vocab.size=42")
    both = binarize("vocab.size=41", "window.group_size=10")
    assert len(first) == 1 and first < both and len(both) == 2
    too_big = subprocess.run(
        [sys.executable, "-m", "bows.data.binarize", *common, "vocab.size=9000"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert too_big.returncode == 2 and "lower vocab.size" in too_big.stderr
