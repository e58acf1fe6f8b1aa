"""Stage "vocab": reads docs.parquet (download), writes vocab.parquet (index, word, count, forced).

The vocabulary is the 39 forced tokens (``bows.core.groups.FORCED_TOKENS``, in that order, kept even when
absent) followed by the most frequent other words of a seeded ``vocab.sample_fraction`` sample of
train rows, ties broken by word (Unicode code point order), so it is the same on every run.
The counts stream over the train rows in chunks of ``data.chunk_rows``; with ``data.shard`` the
stage writes one shard's counts (stage ``vocab_counts``), and ``build_vocab`` sums the shards'.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq

from bows.artifacts import Artifact, Files
from bows.cli import stage_main
from bows.config import BowsConfig, VocabConfig, key_dict
from bows.core.groups import FORCED_TOKENS
from bows.data import TRAIN
from bows.data.chunks import read_split, shard_range, split_rows
from bows.data.tokenize import tokenize, tokenizer_settings
from bows.errors import BowsError
from bows.stages import build_artifact, reuse_or_key

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

log = logging.getLogger(__name__)

VOCAB_SCHEMA = pa.schema([("index", pa.int32()), ("word", pa.string()), ("count", pa.int64()), ("forced", pa.bool_())])


def sample_rows(n_rows: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``round(fraction * n_rows)`` rows (at least one)."""
    size = min(n_rows, max(1, round(fraction * n_rows))) if n_rows else 0
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))


def count_words(texts: pa.Array | pa.ChunkedArray, min_len: int) -> pa.Table:
    """``word``, ``count`` of every kept token, sorted by count (descending) then word."""
    table = tokenize(texts, min_len=min_len).counts()
    return table.take(pc.sort_indices(table, sort_keys=[("count", "descending"), ("word", "ascending")]))


def short_rows_message(short: int, n: int, longest: int, min_len: int) -> str:
    """A hint naming ``vocab.min_len`` when most of ``n`` sampled rows (``short`` of them below
    ``min_len`` characters; the longest ``longest``) give no words (empty otherwise)."""
    if n == 0 or short < n / 2:
        return ""
    return (
        f"{short:,} of {n:,} sampled rows are shorter than vocab.min_len={min_len} characters and give "
        f"no words (longest row: {longest}): lower vocab.min_len (e.g. vocab.min_len=0)"
    )


def choose_vocab(counts: pa.Table, size: int, hint: str = "") -> pa.Table:
    """Forced tokens first (with their sample counts, 0 if absent), then the top other words."""
    forced = pa.array(FORCED_TOKENS, pa.string())
    is_forced = pc.is_in(counts["word"], value_set=forced)
    others = counts.filter(pc.invert(is_forced))
    room = size - len(FORCED_TOKENS)
    if len(others) < room:
        raise BowsError(
            f"vocab.size={size} but the train sample has only {len(others)} distinct words besides the "
            f"{len(FORCED_TOKENS)} forced tokens ({len(others) + len(FORCED_TOKENS)} in all); "
            + (
                hint
                or f"lower vocab.size to at most {len(others) + len(FORCED_TOKENS)} (or raise vocab.sample_fraction)"
            )
        )
    position = pc.index_in(forced, value_set=counts["word"].combine_chunks())
    forced_counts = pc.fill_null(pc.take(counts["count"].combine_chunks(), position), 0)
    words = pa.concat_arrays([forced, others["word"].combine_chunks()[:room]])
    counts_col = pa.concat_arrays([forced_counts.cast(pa.int64()), others["count"].combine_chunks()[:room]])
    return pa.table(
        {
            "index": pa.array(np.arange(size, dtype=np.int32)),
            "word": words,
            "count": counts_col,
            "forced": pa.array(np.arange(size) < len(FORCED_TOKENS)),
        },
        schema=VOCAB_SCHEMA,
    )


def vocab_config(vocab: VocabConfig) -> dict:
    """What the vocabulary depends on besides its docs input (hashed into the artifact key)."""
    return {"vocab": key_dict(vocab), "tokenizer": tokenizer_settings(vocab.min_len)}


COUNT_SCHEMA = pa.schema([("word", pa.string()), ("count", pa.int64())])


def sum_counts(parts: list[pa.Table]) -> pa.Table:
    """``word``, ``count`` tables added up by word (exact integer sums; unordered)."""
    if not parts:
        return COUNT_SCHEMA.empty_table()
    summed = pa.concat_tables([p.cast(COUNT_SCHEMA) for p in parts]).group_by("word").aggregate([("count", "sum")])
    return pa.table({"word": summed["word"], "count": summed["count_sum"]}).cast(COUNT_SCHEMA)


def sampled_counts(docs: Artifact, cfg: BowsConfig, shard: int = 0, num_shards: int = 1) -> tuple[pa.Table, dict]:
    """Word counts of the sampled train rows that shard ``shard`` of ``num_shards`` owns, read in
    chunks of ``data.chunk_rows`` rows (unordered), and the numbers behind them. The sample is the
    same for every shard count; drawing it takes up to 8 bytes per train row."""
    path, v = docs.file(Files.DOCS), cfg.vocab
    n_rows = split_rows(path, TRAIN)
    sample = sample_rows(n_rows, v.sample_fraction, v.seed)
    a, b = shard_range(n_rows, shard, num_shards)
    mine = sample[np.searchsorted(sample, a) : np.searchsorted(sample, b)]
    parts: list[pa.Table] = []
    short, longest = 0, 0
    if len(mine):
        for row0, table in read_split(path, TRAIN, ["text"], cfg.data.chunk_rows, a):
            if row0 >= b:
                break
            pick = mine[np.searchsorted(mine, row0) : np.searchsorted(mine, row0 + table.num_rows)] - row0
            if len(pick):
                texts = table["text"].take(pa.array(pick))
                parts.append(tokenize(texts, min_len=v.min_len).counts())
                lengths = pc.fill_null(pc.utf8_length(texts), 0).to_numpy()
                short, longest = short + int((lengths < v.min_len).sum()), max(longest, int(lengths.max(initial=0)))
            if len(parts) >= 8:
                parts = [sum_counts(parts)]
    info = {
        "train_rows": n_rows,
        "sampled_rows": len(sample),
        "shard_sampled_rows": len(mine),
        "short_rows": short,
        "longest_row": longest,
    }
    return sum_counts(parts), info


def build_counts(cfg: BowsConfig, docs: Artifact, shard: int) -> Artifact:
    """Shard ``shard`` of ``data.num_shards`` of the vocabulary's word counts (stage ``vocab_counts``;
    one job of a sharded build, merged exactly by ``build_vocab``)."""
    root = cfg.paths.root_path
    config = {**vocab_config(cfg.vocab), "shard": shard, "num_shards": cfg.data.num_shards}
    key, found = reuse_or_key(root, "vocab_counts", config, {"docs": docs})
    if found is not None:
        return found
    with build_artifact(root, "vocab_counts", key, config, {"docs": docs}) as builder:
        counts, builder.stats = sampled_counts(docs, cfg, shard, cfg.data.num_shards)
        pq.write_table(counts, builder.path(Files.COUNTS))
    log.info(
        "vocab: counts of shard %d/%d (%d sampled rows) -> %s",
        shard,
        cfg.data.num_shards,
        builder.stats["shard_sampled_rows"],
        builder.artifact.path,
    )
    return builder.artifact


def build_vocab(cfg: BowsConfig, docs: Artifact) -> Artifact:
    """The vocab artifact of ``docs`` under ``cfg.vocab`` (reused when up to date). Counts stream
    over the train rows in chunks; with ``data.num_shards > 1`` they are the sum of the shards'
    counts (built here when missing). Neither setting changes the result or its key."""
    root, config = cfg.paths.root_path, vocab_config(cfg.vocab)
    key, found = reuse_or_key(root, "vocab", config, {"docs": docs})
    if found is not None:
        return found
    shards = [build_counts(cfg, docs, s) for s in range(cfg.data.num_shards)] if cfg.data.num_shards > 1 else []
    with build_artifact(root, "vocab", key, config, {"docs": docs}) as builder:
        if shards:
            raw = sum_counts([pq.read_table(s.file(Files.COUNTS)) for s in shards])
            info = {
                **shards[0].stats,
                "short_rows": sum(s.stats["short_rows"] for s in shards),
                "longest_row": max(s.stats["longest_row"] for s in shards),
            }
        else:
            raw, info = sampled_counts(docs, cfg)
        counts = raw.take(pc.sort_indices(raw, sort_keys=[("count", "descending"), ("word", "ascending")]))
        if info["train_rows"] == 0:
            raise BowsError(f"{docs.path} has no train rows; the vocabulary is built from the train split")
        hint = short_rows_message(info["short_rows"], info["sampled_rows"], info["longest_row"], cfg.vocab.min_len)
        if len(counts) == 0:
            raise BowsError(f"the train sample of {docs.path} has no words: " + (hint or "check the corpus"))
        table = choose_vocab(counts, cfg.vocab.size, hint)
        pq.write_table(table, builder.path(Files.VOCAB))
        total = int(pc.sum(counts["count"]).as_py() or 0)
        covered = int(pc.sum(table["count"]).as_py() or 0)
        absent = [word for word, count in zip(FORCED_TOKENS, table["count"].to_pylist()) if count == 0]
        builder.stats = {
            "train_rows": info["train_rows"],
            "sampled_rows": info["sampled_rows"],
            "tokens": total,
            "distinct_words": len(counts),
            "vocab_size": cfg.vocab.size,
            "coverage": covered / total if total else 0.0,
            "absent_forced": absent,
        }
    if absent:
        log.warning("vocab: forced tokens absent from the train sample (kept anyway): %s", ", ".join(absent))
    log.info(
        "vocab: %d words, coverage %.3f of %d sampled tokens (%d distinct) -> %s",
        cfg.vocab.size,
        builder.stats["coverage"],
        total,
        len(counts),
        builder.artifact.path,
    )
    return builder.artifact


def load_vocab(artifact: Artifact) -> list[str]:
    """The words of a vocab artifact in index order (forced tokens first)."""
    return pq.read_table(artifact.file(Files.VOCAB), columns=["word"])["word"].to_pylist()


def run(cfg: BowsConfig) -> Artifact:
    from bows.data import download  # the upstream stage (a cheap skip when its artifact is up to date)

    docs = download.run(cfg)
    if cfg.data.shard is not None:  # one job of a sharded build: this shard's counts only
        return build_counts(cfg, docs, cfg.data.shard)
    return build_vocab(cfg, docs)


main = stage_main(run)

if __name__ == "__main__":
    main()
