"""Vocabulary stage: forced tokens first, deterministic frequency order, clear errors."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_fixture import write_docs

from bows.artifacts import Files
from bows.config import compose
from bows.core.groups import FORCED_TOKENS
from bows.data.vocab import build_vocab, choose_vocab, count_words, load_vocab, sample_rows
from bows.errors import BowsError


def test_forced_tokens_first_then_frequency_then_word(tmp_path, make_config):
    cfg = make_config("vocab.size=44", "vocab.sample_fraction=1.0")
    artifact = build_vocab(cfg, write_docs(tmp_path))
    words = load_vocab(artifact)
    assert tuple(words[:39]) == FORCED_TOKENS and len(words) == 44
    # story/went pad 6 of the 8 train rows, alpha 5, beta and gamma 3 each: ties go by word
    assert words[39:] == ["story", "went", "alpha", "beta", "gamma"]
    table = pq.read_table(artifact.file(Files.VOCAB))
    assert table.schema.field("index").type == pa.int32() and table["forced"].to_pylist()[38:40] == [True, False]
    assert table["count"].to_pylist()[39:] == [6, 6, 5, 3, 3]
    assert table["count"].to_pylist()[FORCED_TOKENS.index("July")] == 2
    stats = artifact.stats
    assert "Friday" in stats["absent_forced"] and "January" not in stats["absent_forced"]
    assert stats["sampled_rows"] == 8 and stats["train_rows"] == 8 and 0 < stats["coverage"] < 1


def test_vocabulary_is_deterministic_and_seeded(tmp_path, make_config):
    docs = write_docs(tmp_path)
    first = build_vocab(make_config("vocab.size=45", "vocab.sample_fraction=0.5"), docs)
    # an independent rebuild in another data root gives byte-identical words and counts
    elsewhere = compose(
        [f"paths.root={tmp_path / 'elsewhere'}", "wandb=disabled", "vocab.size=45", "vocab.sample_fraction=0.5"]
    )
    again = build_vocab(elsewhere, write_docs(tmp_path / "elsewhere"))
    assert again.path != first.path and again.key == first.key
    assert pq.read_table(again.file(Files.VOCAB)).equals(pq.read_table(first.file(Files.VOCAB)))
    other = build_vocab(make_config("vocab.size=45", "vocab.sample_fraction=0.5", "vocab.seed=1"), docs)
    assert other.path != first.path
    assert sample_rows(1000, 0.2, 0).tolist() == sample_rows(1000, 0.2, 0).tolist()
    assert len(sample_rows(1000, 0.2, 0)) == 200
    assert sample_rows(1000, 0.2, 0).tolist() != sample_rows(1000, 0.2, 1).tolist()


def test_ties_are_broken_by_word_not_by_input_order():
    a = count_words(pa.array(["zeta alpha mid", "mid"]), min_len=0)
    b = count_words(pa.array(["mid", "alpha zeta mid"]), min_len=0)
    assert (
        a.to_pylist()
        == b.to_pylist()
        == [{"word": "mid", "count": 2}, {"word": "alpha", "count": 1}, {"word": "zeta", "count": 1}]
    )


def test_too_large_vocabulary_says_how_many_words_exist(tmp_path, make_config):
    with pytest.raises(BowsError, match=r"only \d+ distinct words.*lower vocab.size"):
        build_vocab(make_config("vocab.size=1000"), write_docs(tmp_path))
    counts = count_words(pa.array(["January snow"]), min_len=0)
    with pytest.raises(BowsError, match="at most 40"):
        choose_vocab(counts, 41)
