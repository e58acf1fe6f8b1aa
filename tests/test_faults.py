"""Environment faults are one clear line, and the data path is exact end to end: unwritable root,
bad local corpus files, rows shorter than vocab.min_len, word ids above 32,767, binarize with stride."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as _pc
import pytest
import torch
from readers import read_texts, tokenize_text

from bows.artifacts import build_artifact
from bows.config import CorpusConfig
from bows.data import binarize, corpora
from bows.data.vocab import load_vocab
from bows.data.windows import build_windows, layout, segment_starts
from bows.errors import BowsError, ConfigError
from bows.training.batches import sequential_batches, to_device
from bows.training.model import TiedAutoencoder, densify, reconstruction_loss

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

ROOT = Path(__file__).resolve().parent.parent
TEXT = "January and February bring snow while the long winter nights of December stay cold and dark\n"


def test_unwritable_root_is_one_line_naming_the_path_and_the_fix(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = subprocess.run(
        [sys.executable, "-m", "bows.data.vocab", f"paths.root={blocker / 'data'}", "wandb=disabled"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(blocker / "data") in errors[0] and "paths.root=" in errors[0]
    assert "BOWS_DATA" in errors[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "outputs").exists()


def local(tmp_path: Path, **files: bytes) -> CorpusConfig:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return CorpusConfig(name="local", files=[str(tmp_path / "*")])


def test_an_empty_file_among_good_ones_is_skipped(tmp_path, caplog):
    table = corpora.local_table(local(tmp_path, **{"a.txt": TEXT.encode() * 3, "b.txt": b"", "c.txt": TEXT.encode()}))
    assert table.num_rows == 4 and "b.txt is empty, skipped" in caplog.text


@pytest.mark.parametrize(
    ("data", "expected"),
    [(TEXT.encode() + b"\x00\x01\x02binary", f"NUL byte at byte offset {len(TEXT)}"),
     (TEXT.encode() + "caf\u00e9".encode("latin-1") + b"\n", f"not valid utf-8 text at byte offset {len(TEXT) + 3}")],
)  # fmt: skip
def test_bad_bytes_name_the_file_offset_and_encoding_setting(tmp_path, data, expected):
    with pytest.raises(BowsError, match=expected) as info:
        corpora.local_table(local(tmp_path, **{"good.txt": TEXT.encode(), "bad.txt": data}))
    assert "bad.txt" in str(info.value) and "DatasetGenerationError" not in str(info.value)
    if "utf-8" in expected:
        assert "corpus.encoding" in str(info.value)


def test_corpus_encoding_reads_latin_1(tmp_path):
    corpus = local(tmp_path, **{"old.txt": (TEXT.strip() + " caf\u00e9\n").encode("latin-1")})
    table = corpora.local_table(CorpusConfig(name="local", files=corpus.files, encoding="latin-1"))
    assert table["text"][0].as_py().endswith("caf\u00e9")
    with pytest.raises(ConfigError, match="corpus.encoding"):
        CorpusConfig(encoding="no-such-codec")


def test_rows_shorter_than_min_len_name_vocab_min_len(tmp_path, make_config):
    from corpus_fixture import write_docs

    from bows.data.vocab import build_vocab

    docs = write_docs(tmp_path, [("d1", "train", "January snow"), ("d2", "train", "February rain")] * 5)
    with pytest.raises(BowsError, match=r"vocab\.min_len=50"):
        build_vocab(make_config("vocab.size=45"), docs)


def test_word_ids_above_32767_survive_save_memory_map_device_and_loss(tmp_path):
    vocab_size = 40_000
    rng = np.random.default_rng(0)
    ids = np.concatenate([[32_767, 32_768, 39_999, 0], rng.integers(0, vocab_size, 200)])
    rows = np.sort(rng.integers(0, 30, len(ids)))
    rows[:4] = 0
    lay = layout(segment_starts(np.zeros(30, np.int64), 30, True), 30, 3, 1)
    windows = build_windows(rows, ids, lay, vocab_size)
    with build_artifact(tmp_path, "binarize", "big", {"big": 1}) as b:
        np.save(b.path("train.offsets.npy"), windows.offsets)
        np.save(b.path("train.indices.npy"), windows.indices)
        b.extra["vocab_size"] = vocab_size
    loaded = binarize.load_windows(b.artifact, "train")
    assert isinstance(loaded.indices, np.memmap) and loaded.indices.dtype == np.uint16
    assert {32_767, 32_768, 39_999} <= set(np.asarray(loaded.indices[: loaded.offsets[1]]).tolist())
    device = to_device(loaded.offsets, loaded.indices, vocab_size, torch.device("cpu"))
    torch.manual_seed(0)
    model = TiedAutoencoder(vocab_size, 4)
    for batch in sequential_batches(device, 8):
        indices, offsets = batch.csr()
        dense = densify(indices, offsets, vocab_size)
        assert dense[0, 39_999] == 1 and dense[0, 32_768] == 1 and dense[0, 32_767] == 1
        assert int(dense.sum()) == len(indices)  # every id landed on its own column
        with torch.no_grad():
            expected = reconstruction_loss(model(dense), dense)
            assert torch.allclose(model.sparse_loss(indices, offsets), expected, rtol=1e-5)
        break
    with pytest.raises(ValueError, match="word ids"):
        to_device(loaded.offsets, np.asarray(loaded.indices), 39_999, torch.device("cpu"))


def test_binarize_stage_with_stride_equals_brute_force_windows(tmp_path, make_config):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = ["January", "February", "March", "snow", "rain", "Monday", "Friday", "sun", "wind", "cold", "Earth"]
    rng = np.random.default_rng(1)
    for d in range(12):
        lines = [" ".join(rng.choice(words, 6)) + " and so the story went on" for _ in range(int(rng.integers(1, 6)))]
        (corpus / f"{d:02d}.txt").write_text("\n".join(lines) + "\n")
    cfg = make_config(
        "corpus=local", f"corpus.files=[{corpus}/*.txt]", "vocab.size=45", "vocab.sample_fraction=1.0",
        "vocab.min_len=10", "window.group_size=2", "window.stride=2", "corpus.validation_fraction=0.2",
    )  # fmt: skip
    artifact = binarize.run(cfg)
    vocab = load_vocab(artifact.input("vocab"))
    index = {w: i for i, w in enumerate(vocab)}
    texts = read_texts(artifact.input("docs"))
    cross = cfg.window.cross_documents
    for split in ("train", "validation"):
        table = texts.filter(pc.equal(texts["split"], split))
        rows, docs = table["text"].to_pylist(), table["doc_id"].to_pylist()
        sets = [{index[t] for t in tokenize_text(r, min_len=10) if t in index} for r in rows]
        segments, first = [], 0  # brute force: windows of G=2 rows at stride 2 inside each segment
        for i in range(1, len(rows) + 1):
            if i == len(rows) or (not cross and docs[i] != docs[i - 1]):
                segments.append((first, i))
                first = i
        expected = []
        for a, b in segments:
            starts = range(a, b - 2 + 1, 2) if b - a >= 2 else [a]
            expected += [sorted(set().union(*sets[s : min(s + 2, b)])) for s in starts]
        got = binarize.load_windows(artifact, split)
        actual = [np.asarray(got.indices[a:b]).tolist() for a, b in zip(got.offsets[:-1], got.offsets[1:])]
        assert actual == expected, split
        assert len(rows) >= 4
