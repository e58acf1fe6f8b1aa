"""Bounded-memory data stages (issue 13): chunked and sharded builds equal the one-shot build byte for byte."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq
import pytest
import readers
import references

from bows.artifacts import Files, artifact_key, build_artifact
from bows.core.groups import FORCED_TOKENS
from bows.data import binarize, vocab
from bows.data.chunks import NpyAppender, read_split, size_stats
from bows.data.windows import window_stats

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

LEXICON = list(FORCED_TOKENS[:19]) + [f"w{chr(97 + i)}{chr(97 + j)}" for i in range(6) for j in range(6)]


def random_docs(tmp_path, seed: int = 0, n_docs: int = 40, row_group: int = 7):
    """A docs artifact of ``n_docs`` documents of 1..12 rows (some empty or short rows), split
    train/validation/test, written in small row groups (one mixing two splits)."""
    rng = np.random.default_rng(seed)
    ids, splits, texts = [], [], []
    for d in range(n_docs):
        split = "train" if d < int(0.7 * n_docs) else ("validation" if d < int(0.85 * n_docs) else "test")
        for _ in range(int(rng.integers(1, 13))):
            k = int(rng.integers(0, 9))
            texts.append(" ".join(rng.choice(LEXICON, size=k)) if rng.random() > 0.1 else "ab")
            ids.append(f"doc{d}")
            splits.append(split)
    table = pa.table({"doc_id": ids, "source": ["t"] * len(ids), "split": splits, "text": texts})
    config = {"fixture": "scale", "seed": seed, "rows": len(ids), "group": row_group}
    with build_artifact(tmp_path, "download", artifact_key("download", config), config) as builder:
        pq.write_table(table, builder.path(Files.DOCS), row_group_size=row_group)
    return builder.artifact


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def one_shot(cfg, docs, vocab_artifact):
    """The pre-streaming build: every split read whole and windowed in one call."""
    words = pa.array(vocab.load_vocab(vocab_artifact), pa.string())
    table = readers.read_texts(docs)
    out = {}
    for split in binarize.SPLITS:
        out[split] = references.split_windows(table.filter(pc.equal(table["split"], split)), words, cfg)
    return out


def test_npy_appender_equals_np_save(tmp_path):
    pieces = [np.arange(5, dtype=np.int64), np.zeros(0, np.int64), np.arange(10**6, 10**6 + 3, dtype=np.int64)]
    with NpyAppender(tmp_path / "a.npy", np.int64) as out:
        for piece in pieces:
            out.append(piece)
    assert (tmp_path / "a.npy").read_bytes() == npy_bytes(np.concatenate(pieces))
    with NpyAppender(tmp_path / "b.npy", np.uint16):
        pass
    assert (tmp_path / "b.npy").read_bytes() == npy_bytes(np.zeros(0, np.uint16))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 97])
def test_size_stats_equal_window_stats(n):
    lengths = np.random.default_rng(n).integers(0, 9, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    from bows.data.windows import Windows

    expected = window_stats(Windows(offsets, np.zeros(offsets[-1], np.uint16), 10))
    assert size_stats(np.bincount(lengths)) == expected


def test_read_split_skips_and_chunks(tmp_path):
    docs = random_docs(tmp_path)
    table = pq.read_table(docs.file(Files.DOCS))
    for split in binarize.SPLITS:
        rows = table.filter(pc.equal(table["split"], split))["text"].to_pylist()
        got = []
        for row0, chunk in read_split(docs.file(Files.DOCS), split, ["text"], 4, start=3):
            assert row0 == 3 + len(got) and chunk.num_rows <= 4
            got.extend(chunk["text"].to_pylist())
        assert got == rows[3:]


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("group,stride", [(3, 1), (4, 3), (2, 5)])
def test_chunked_and_sharded_windows_equal_one_shot(tmp_path, make_config, cross, group, stride):
    docs = random_docs(tmp_path)
    base = (
        "vocab.size=50",
        "vocab.sample_fraction=0.6",
        "vocab.min_len=3",
        f"window.group_size={group}",
        f"window.stride={stride}",
        f"window.cross_documents={str(cross).lower()}",
    )
    reference_cfg = make_config(*base, "data.chunk_rows=100000")
    vocab_ref = vocab.build_vocab(reference_cfg, docs)
    expected = one_shot(reference_cfg, docs, vocab_ref)
    for chunk_rows, shards in [(100000, 1), (3, 1), (5, 3), (1, 4)]:
        cfg = make_config(*base, f"data.chunk_rows={chunk_rows}", f"data.num_shards={shards}")
        sub = tmp_path / f"c{chunk_rows}s{shards}"
        windows = binarize.build_binarized(cfg, docs, vocab_ref) if chunk_rows == 100000 else None
        if windows is None:
            cfg = make_config(*base, f"paths.root={sub}", f"data.chunk_rows={chunk_rows}", f"data.num_shards={shards}")
            windows = binarize.build_binarized(cfg, docs, vocab_ref)
        for split, (ref, ref_stats) in expected.items():
            assert windows.file(Files.offsets(split)).read_bytes() == npy_bytes(ref.offsets), (split, chunk_rows)
            assert windows.file(Files.indices(split)).read_bytes() == npy_bytes(ref.indices), (split, chunk_rows)
            got = {k: v for k, v in windows.stats[split].items() if k != "seconds"}
            assert got == {k: v for k, v in ref_stats.items() if k != "seconds"}, (split, chunk_rows, shards)


def test_sharded_vocab_counts_merge_exactly(tmp_path, make_config):
    docs = random_docs(tmp_path, seed=3)
    base = ("vocab.size=50", "vocab.sample_fraction=0.5", "vocab.min_len=3")
    one = make_config(*base)
    table = readers.read_texts(docs, "train")
    sample = vocab.sample_rows(table.num_rows, 0.5, 0)
    expected = vocab.choose_vocab(vocab.count_words(table["text"].take(pa.array(sample)), 3), 50)
    assert pq.read_table(vocab.build_vocab(one, docs).file(Files.VOCAB)).equals(expected)
    sharded = make_config(*base, f"paths.root={tmp_path / 'sharded'}", "data.num_shards=5", "data.chunk_rows=2")
    shard_artifacts = [vocab.build_counts(sharded, docs, s) for s in range(5)]
    assert sum(a.stats["shard_sampled_rows"] for a in shard_artifacts) == len(sample)
    merged = vocab.build_vocab(sharded, docs)
    assert pq.read_table(merged.file(Files.VOCAB)).equals(expected)
    assert merged.key == vocab.build_vocab(one, docs).key  # the data settings do not enter the key


def test_local_download_streams_the_same_rows_and_splits(tmp_path, make_config):
    import json

    from bows.data import corpora, download

    files = tmp_path / "in"
    files.mkdir()
    rng = np.random.default_rng(1)
    for i in range(7):
        (files / f"t{i}.txt").write_text("\n".join(" ".join(rng.choice(LEXICON, 5)) for _ in range(i + 1)) + "\n\n")
    records = [{"body": "\n".join(" ".join(rng.choice(LEXICON, 4)) for _ in range(i % 3 + 1))} for i in range(23)]
    (files / "r.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    pq.write_table(
        pa.table({"body": [" ".join(rng.choice(LEXICON, 6)) for _ in range(31)] + [""]}),
        files / "p.parquet",
        row_group_size=4,
    )
    cfg = make_config(
        "corpus=local",
        f"corpus.files=['{files}/*.txt','{files}/r.jsonl','{files}/p.parquet']",
        "corpus.text_field=body",
        "data.chunk_rows=3",
    )
    streamed = readers.load_docs(download.run(cfg))
    whole = download.split_documents(corpora.local_table(cfg.corpus), validation=0.1, test=0.1, seed=0, by_source=False)
    expected = pa.concat_tables([rows.append_column("split", pa.repeat(split, rows.num_rows)) for split, rows in whole])
    assert (
        streamed.select(["doc_id", "source", "split", "text"]).to_pydict()
        == expected.select(["doc_id", "source", "split", "text"]).to_pydict()
    )
    assert set(streamed["split"].to_pylist()) == {"train", "validation", "test"}
    assert not list(tmp_path.rglob(".part-*"))  # the split parts are gone


# ------------------------------------------------------------------------------ streaming training
def _csr(n: int = 700, vocab_size: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 8, n))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(vocab_size, k, replace=False)) for k in lengths]).astype(np.uint16)
    return offsets, indices


def _ids(batch):
    return batch.indices.tolist(), batch.offsets.tolist()


def test_streamed_batches_equal_resident_with_one_block():
    import torch

    from bows.training.batches import epoch_batches, stream_batches, stream_windows, to_device

    offsets, indices = _csr()
    resident = to_device(offsets, indices, 50, torch.device("cpu"))
    streamed = stream_windows(offsets, indices, 50, torch.device("cpu"), 64, 10_000, chunk=97)
    assert streamed.n_blocks == 1 and streamed.steps_per_epoch(64) == resident.steps_per_epoch(64)
    for epoch, skip in [(0, 0), (3, 2)]:
        expected = [_ids(b) for b in epoch_batches(resident, 64, 5, epoch, skip)]
        assert [_ids(b) for b in stream_batches(streamed, 64, 5, epoch, skip)] == expected


def test_streamed_blocks_cover_every_window_once_and_resume():
    import torch

    from bows.training.batches import stream_batches, stream_windows

    offsets, indices = _csr()
    streamed = stream_windows(offsets, indices, 50, torch.device("cpu"), 32, 100, chunk=53)
    assert streamed.block == 96 and streamed.n_blocks == -(-streamed.n // 96) > 3
    epoch = [_ids(b) for b in stream_batches(streamed, 32, 1, 0)]
    assert len(epoch) == streamed.steps_per_epoch(32)
    seen = sorted(tuple(ix[a:b]) for ix, off in epoch for a, b in zip(off[:-1], off[1:]))
    lengths = np.diff(offsets)
    expected = sorted(tuple(indices[offsets[i] : offsets[i + 1]].tolist()) for i in np.flatnonzero(lengths > 0))
    assert seen == expected  # every non-empty window exactly once
    assert [_ids(b) for b in stream_batches(streamed, 32, 1, 0, skip=5)] == epoch[5:]  # mid-epoch resume
    assert [_ids(b) for b in stream_batches(streamed, 32, 1, 0)] == epoch  # deterministic
    assert [_ids(b) for b in stream_batches(streamed, 32, 1, 1)] != epoch  # reshuffled per epoch


def test_streamed_block_order_is_reshuffled_each_epoch_and_repeats_per_seed(monkeypatch):
    """The order of the blocks (not only of the windows inside them) depends on the epoch and the seed."""
    import torch

    from bows.training.batches import StreamedWindows, stream_batches, stream_windows

    offsets, indices = _csr(n=2000)
    streamed = stream_windows(offsets, indices, 50, torch.device("cpu"), 32, 64, chunk=101)
    assert streamed.n_blocks >= 10
    loaded: list[int] = []
    real_load = StreamedWindows.load
    monkeypatch.setattr(StreamedWindows, "load", lambda self, b: (loaded.append(b), real_load(self, b))[1])

    def blocks(seed: int, epoch: int) -> list[int]:
        loaded.clear()
        for _ in stream_batches(streamed, 32, seed, epoch):
            pass
        return list(loaded)

    first = blocks(1, 0)
    assert sorted(first) == list(range(streamed.n_blocks))  # each block once
    assert blocks(1, 0) == first
    assert blocks(1, 1) != first and blocks(1, 2) != first and blocks(1, 1) != blocks(1, 2)
    assert blocks(2, 0) != first
    # inside a block, too, the windows are reshuffled every epoch (and per block)
    from bows.training.batches import in_block_order

    orders = [in_block_order(96, streamed.n_blocks, 3, 1, epoch).tolist() for epoch in range(3)]
    assert orders[0] != orders[1] != orders[2] != orders[0]
    assert in_block_order(96, streamed.n_blocks, 4, 1, 0).tolist() != orders[0]


def test_streaming_training_equals_resident(tmp_path, make_config, monkeypatch):
    """One block covering the train split: the streamed run equals the resident run bitwise."""
    import json

    import bows.data.download
    from bows.training import train

    docs = random_docs(tmp_path, n_docs=120)
    monkeypatch.setattr(bows.data.download, "run", lambda cfg: docs)
    base = (
        "vocab.size=50",
        "vocab.sample_fraction=1.0",
        "vocab.min_len=3",
        "window.group_size=3",
        "model.latent_size=4",
        "train.batch_size=16",
        "train.max_steps=30",
        "train.eval_windows=0",
        "train.num_threads=1",
        "train.resume=false",
    )
    runs = {}
    for mode in ("resident", "stream"):
        path = train.run(make_config(*base, f"train.stream={mode}"))
        runs[mode] = train.load_run(path)
        assert json.loads((path / Files.RUN).read_text())["data"]["path"].startswith(mode)
    assert np.array_equal(runs["resident"].W, runs["stream"].W) and np.array_equal(runs["resident"].b, runs["stream"].b)


# ------------------------------------------------------------------------------ sharded build, end to end
@pytest.mark.slow
def test_two_shard_joblib_build_equals_one_shot(tmp_path):
    """The README's sharded recipe with the joblib launcher: shard jobs, then the merge, equal one job."""
    import subprocess
    import sys

    from bows.artifacts import open_artifact

    files = tmp_path / "in"
    files.mkdir()
    rng = np.random.default_rng(7)
    for i in range(12):
        (files / f"t{i:02d}.txt").write_text("\n".join(" ".join(rng.choice(LEXICON, 6)) for _ in range(5 + i)) + "\n")
    common = [
        "corpus=local",
        f"corpus.files=[{files}/*.txt]",
        "vocab.size=50",
        "vocab.min_len=3",
        "wandb=disabled",
        "window.group_size=3",
        "data.chunk_rows=4",
        "hydra.job.chdir=false",
    ]

    def stage(module: str, root, *extra: str) -> None:
        multirun = ["-m"] if "-m" in extra else []
        extra = tuple(e for e in extra if e != "-m")
        command = [sys.executable, "-m", f"bows.data.{module}", *multirun, f"paths.root={root}", *common, *extra]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]

    sharded, whole = tmp_path / "sharded", tmp_path / "whole"
    jobs = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "data.num_shards=2", "data.shard=0,1"]
    stage("download", sharded)
    stage("vocab", sharded, *jobs)
    stage("binarize", sharded, *jobs)
    assert len(list((sharded / "artifacts" / "binarize_shard").iterdir())) == 2
    stage("binarize", sharded, "data.num_shards=2")  # the merge (reuses the shards)
    stage("binarize", whole)
    (merged,) = [open_artifact(p) for p in (sharded / "artifacts" / "binarize").iterdir()]
    (single,) = [open_artifact(p) for p in (whole / "artifacts" / "binarize").iterdir()]
    assert merged.key == single.key and merged.meta["files"] == single.meta["files"]
    assert len(list((sharded / "artifacts" / "vocab_counts").iterdir())) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_cuda_streamed_batches_equal_resident_and_cover_all():
    """On CUDA (pinned memory, side-stream copies): one block equals resident; many blocks cover all."""
    import torch

    from bows.training.batches import epoch_batches, stream_batches, stream_windows, to_device

    cuda = torch.device("cuda")
    offsets, indices = _csr(n=5000)
    resident = to_device(offsets, indices, 50, cuda)
    one = stream_windows(offsets, indices, 50, cuda, 64, 1 << 20)
    assert [_ids(b) for b in stream_batches(one, 64, 2, 1, 3)] == [
        _ids(b) for b in epoch_batches(resident, 64, 2, 1, 3)
    ]
    many = stream_windows(offsets, indices, 50, cuda, 64, 256)
    words = sum(len(b.csr()[0]) for b in stream_batches(many, 64, 2, 1))
    assert many.n_blocks > 10 and words == int(np.diff(offsets).sum())


def test_stats_sample_of_nonempty_windows_in_chunks():
    from bows.data.stats import sample_nonempty
    from bows.data.windows import spread_rows

    offsets, _ = _csr(n=1000, seed=4)
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    for sample in (1, 37, 5000):
        expected = nonempty[spread_rows(len(nonempty), sample)]
        assert np.array_equal(sample_nonempty(offsets, sample, chunk=61), expected)


@pytest.mark.parametrize("cross", [False, True])
def test_window_scan_streams_equal_one_shot(tmp_path, cross):
    """The data-diagnostics scan streams the split in chunks: the moments of every group and G equal
    those of the whole split's windowed indicators (diagnostics.windowed_union), for any chunk size."""
    from bows.data import diagnostics as diag
    from bows.data.stats import group_window_moments
    from bows.data.tokenize import tokenize, word_ids
    from bows.data.windows import segment_starts

    docs = random_docs(tmp_path, seed=3)
    words = list(FORCED_TOKENS[:19]) + LEXICON[19:40]
    groups = {"a": np.array([0, 5, 21, 30]), "b": np.array([22, 19, 3])}
    sizes, stride = (1, 2, 5, 40), 2
    table = readers.read_texts(docs, "train")
    rows, ids = word_ids(tokenize(table["text"], min_len=3), pa.array(words, pa.string()))
    codes = pc.dictionary_encode(table["doc_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    seg = segment_starts(codes, table.num_rows, cross)
    for chunk_rows in (1, 4, 100_000):
        streamed = group_window_moments(
            docs.file(Files.DOCS),
            words,
            groups,
            sizes,
            stride=stride,
            cross_documents=cross,
            min_len=3,
            chunk_rows=chunk_rows,
        )
        for name, group in groups.items():
            ind = readers.row_indicators(rows, ids, table.num_rows, group, len(words))
            for g in sizes:
                whole = diag.moments_of(diag.windowed_union(ind, seg, g, stride))
                got = streamed[name][g]
                assert got.active == whole.active > 0, (name, g, chunk_rows)
                assert np.array_equal(got.gram, whole.gram) and np.array_equal(got.weighted, whole.weighted)
                assert got.squares == whole.squares
                assert diag.window_scores(got, "ring") == diag.window_scores(whole, "ring")


def test_local_parquet_batches_hold_one_row_group(tmp_path, make_config):
    """Reading a local Parquet corpus holds about one row group of Arrow memory, however long the
    file (pre-buffering the whole file made the download stage grow ~0.45 GB per GB of text)."""
    from bows.data import corpora

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz "))
    texts = ["".join(rng.choice(letters, 2000)) for _ in range(50)]  # incompressible: ~100 KB a row group
    with pq.ParquetWriter(tmp_path / "c.parquet", pa.schema([("text", pa.string())])) as writer:
        for _ in range(60):
            writer.write_table(pa.table({"text": texts}))
    cfg = make_config("corpus=local", f"corpus.files=['{tmp_path / 'c.parquet'}']", "data.chunk_rows=640")
    base, peak, rows = pa.total_allocated_bytes(), 0, 0
    for batch in corpora.local_batches(cfg.corpus, cfg.data.chunk_rows):
        peak, rows = max(peak, pa.total_allocated_bytes() - base), rows + batch.num_rows
    assert rows == 3000
    assert peak < 1_500_000, f"{peak:,} bytes of Arrow memory while reading a {60 * 100_000:,}-byte file"
