"""Stage "binarize": reads docs.parquet + vocab.parquet, writes CSR windows (<split>.offsets.npy, <split>.indices.npy).

Every split's rows are tokenized (``bows.data.tokenize``), mapped to vocabulary ids, and grouped into
binary bag-of-words windows of ``window.group_size`` rows (``bows.data.windows``), crossing document
boundaries only when ``window.cross_documents`` is true. The arrays are plain ``.npy`` files that
``load_windows`` memory-maps; the statistics table of every split is printed when the stage
builds them, and by ``make binarize`` / ``make data`` also when they are up to date.

The stage streams (``bows.data.chunks``): a split is read, tokenized and windowed ``data.chunk_rows``
rows at a time and appended to its files, so memory does not grow with the corpus. With
``data.shard`` it builds one shard (stage ``binarize_shard``, a job of a multirun); with
``data.num_shards > 1`` and no shard it merges the shards. (The one-piece reference the streamed
output is tested against is in ``tests/references.py``.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from bows.artifacts import Artifact, ArtifactError, Files, verify_files
from bows.cli import stage_main
from bows.config import BowsConfig, key_dict
from bows.data import SPLITS
from bows.data.chunks import CsrAppender, size_stats, split_windows_chunked
from bows.data.tokenize import tokenizer_settings
from bows.data.vocab import build_vocab, load_vocab
from bows.data.windows import Windows
from bows.stages import build_artifact, reuse_or_key

log = logging.getLogger(__name__)


def binarize_config(cfg: BowsConfig) -> dict:
    """The resolved settings the windows depend on (hashed into the key, recorded in the metadata)."""
    return {
        "corpus": key_dict(cfg.corpus),
        "vocab": key_dict(cfg.vocab),
        "window": key_dict(cfg.window),
        "tokenizer": tokenizer_settings(cfg.vocab.min_len),
    }


def build_binarized(cfg: BowsConfig, docs: Artifact, vocab_artifact: Artifact) -> Artifact:
    """The windows artifact of ``docs`` and ``vocab_artifact`` under ``cfg`` (reused when up to date).

    Streams every split in chunks of ``data.chunk_rows`` rows (``bows.data.chunks``); with
    ``data.num_shards > 1`` it builds (or reuses) every shard's windows and concatenates them. The
    result, and its key, do not depend on either setting."""
    root, config = cfg.paths.root_path, binarize_config(cfg)
    inputs = {"docs": docs, "vocab": vocab_artifact}
    key, found = reuse_or_key(root, "binarize", config, inputs)
    if found is not None:
        return found
    vocab = pa.array(load_vocab(vocab_artifact), pa.string())
    shards = (
        [build_shard(cfg, docs, vocab_artifact, s) for s in range(cfg.data.num_shards)]
        if cfg.data.num_shards > 1
        else []
    )
    with build_artifact(root, "binarize", key, config, inputs) as builder:
        stats = {}
        for split in SPLITS:
            if shards:
                stats[split] = merge_shards(
                    shards, split, builder.path(Files.offsets(split)), builder.path(Files.indices(split)), len(vocab)
                )
            else:
                stats[split] = stream_split(
                    cfg, docs, vocab, split, builder.path(Files.offsets(split)), builder.path(Files.indices(split))
                )
            stats[split].pop("sizes", None)
            log.info(
                "binarize: %s: %d rows -> %d windows, %.1f words per window",
                split,
                stats[split]["rows"],
                stats[split]["windows"],
                stats[split]["mean_words"],
            )
        builder.stats = stats
        builder.extra = {"vocab_size": len(vocab), "splits": list(SPLITS)}
    log.info("\n%s", format_stats(builder.artifact))
    return builder.artifact


def stream_split(
    cfg: BowsConfig,
    docs: Artifact,
    vocab: pa.Array,
    split: str,
    offsets_path: Path,
    indices_path: Path,
    shard: int = 0,
    num_shards: int = 1,
) -> dict:
    """Windows of one split (or of one shard of it) streamed into two ``.npy`` files; its statistics
    (with ``sizes``, the histogram of window sizes that shards are merged with)."""
    out = CsrAppender(offsets_path, indices_path, np.uint16 if len(vocab) <= 2**16 else np.int32)
    w = cfg.window
    try:
        result = split_windows_chunked(
            docs.file(Files.DOCS),
            split,
            vocab,
            out,
            min_len=cfg.vocab.min_len,
            group_size=w.group_size,
            stride=w.stride,
            cross_documents=w.cross_documents,
            chunk_rows=cfg.data.chunk_rows,
            shard=shard,
            num_shards=num_shards,
        )
    finally:
        out.close()
    return {**result.stats(), "sizes": result.sizes.tolist()}


def build_shard(cfg: BowsConfig, docs: Artifact, vocab_artifact: Artifact, shard: int) -> Artifact:
    """Shard ``shard`` of ``data.num_shards``: the windows of the rows it owns in every split (an
    artifact of stage ``binarize_shard``; one job of a sharded build, see README "Scale")."""
    root, num_shards = cfg.paths.root_path, cfg.data.num_shards
    config = {**binarize_config(cfg), "shard": shard, "num_shards": num_shards}
    inputs = {"docs": docs, "vocab": vocab_artifact}
    key, found = reuse_or_key(root, "binarize_shard", config, inputs)
    if found is not None:
        return found
    vocab = pa.array(load_vocab(vocab_artifact), pa.string())
    with build_artifact(root, "binarize_shard", key, config, inputs) as builder:
        builder.stats = {
            split: stream_split(
                cfg,
                docs,
                vocab,
                split,
                builder.path(Files.offsets(split)),
                builder.path(Files.indices(split)),
                shard,
                num_shards,
            )
            for split in SPLITS
        }
        builder.extra = {"vocab_size": len(vocab), "splits": list(SPLITS), "shard": shard, "num_shards": num_shards}
    log.info(
        "binarize: shard %d/%d: %s windows -> %s",
        shard,
        num_shards,
        ", ".join(f"{s} {builder.stats[s]['windows']:,}" for s in SPLITS),
        builder.artifact.path,
    )
    return builder.artifact


def merge_shards(
    shards: list[Artifact], split: str, offsets_path: Path, indices_path: Path, vocab_size: int, block: int = 1 << 24
) -> dict:
    """Concatenate the shards' windows of ``split`` (offsets rebased) in blocks; statistics summed."""
    out = CsrAppender(offsets_path, indices_path, np.uint16 if vocab_size <= 2**16 else np.int32)
    seconds = {"tokenize": 0.0, "windows": 0.0}
    counts = {"rows": 0, "documents": 0, "tokens": 0}
    try:
        for shard in shards:
            part = load_windows(shard, split)  # verified against the shard's record
            offsets, indices = part.offsets, part.indices
            for start in range(1, len(offsets), block):
                out.offsets.append(np.asarray(offsets[start : start + block]) + out.nnz)
            for start in range(0, len(indices), block):
                out.indices.append(np.asarray(indices[start : start + block]))
            out.nnz += len(indices)
            stats = shard.stats[split]
            out.sizes = _add_hist(out.sizes, np.asarray(stats["sizes"], np.int64))
            for name in counts:
                counts[name] += int(stats[name])
            for name in seconds:
                seconds[name] += float(stats["seconds"][name])
    finally:
        out.close()
    return {**counts, **size_stats(out.sizes), "seconds": {k: round(v, 3) for k, v in seconds.items()}}


def _add_hist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(max(len(a), len(b)), np.int64)
    out[: len(a)] += a
    out[: len(b)] += b
    return out


def format_stats(artifact: Artifact) -> str:
    """The per-split statistics table of a windows artifact."""
    window = artifact.config["window"]
    lines = [
        f"windows {artifact.path}  (V={artifact.meta['vocab_size']}, G={window['group_size']}, "
        f"stride={window['stride']}, cross_documents={window['cross_documents']})",
        f"{'split':<11}{'rows':>11}{'docs':>9}{'windows':>11}{'empty':>8}{'mean':>8}{'p10':>6}{'p50':>6}{'p90':>6}",
    ]
    for split in artifact.meta["splits"]:
        s = artifact.stats[split]
        lines.append(
            f"{split:<11}{s['rows']:>11,}{s['documents']:>9,}{s['windows']:>11,}"
            f"{s['empty_fraction']:>8.3f}{s['mean_words']:>8.1f}{s['p10_words']:>6.0f}{s['p50_words']:>6.0f}{s['p90_words']:>6.0f}"
        )
    return "\n".join(lines)


def load_windows(artifact: Artifact, split: str) -> Windows:
    """The memory-mapped windows of one split of a binarize artifact. The two files are verified
    against the artifact's record first (size always, sha256 once per process, see
    ``verify_files``) and their dtypes and shapes against each other and the vocabulary size, so a
    damaged file is an ``ArtifactError`` naming it, never a wrong number or a raw mmap error."""
    names = [Files.offsets(split), Files.indices(split)]
    paths = [artifact.file(name) for name in names]
    verify_files(artifact.path, {name: artifact.meta["files"][name] for name in names})
    try:
        offsets, indices = (np.load(path, mmap_mode="r") for path in paths)
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"{artifact.path}: cannot memory-map the {split} windows ({exc})") from exc
    vocab_size = int(artifact.meta["vocab_size"])
    expected = np.uint16 if vocab_size <= 2**16 else np.int32
    if (
        offsets.dtype != np.int64
        or offsets.ndim != 1
        or len(offsets) < 1
        or indices.dtype != expected
        or indices.ndim != 1
        or int(offsets[0]) != 0
        or int(offsets[-1]) != len(indices)
    ):
        raise ArtifactError(
            f"{paths[0]} / {paths[1]} are inconsistent (offsets {offsets.dtype} {offsets.shape}, "
            f"indices {indices.dtype} {indices.shape}, vocab_size {vocab_size}); rebuild them"
        )
    return Windows(offsets=offsets, indices=indices, vocab_size=vocab_size)


def vocab_of(artifact: Artifact) -> list[str]:
    """The vocabulary (index order) a windows artifact was built with."""
    return load_vocab(artifact.input("vocab"))


def run(cfg: BowsConfig) -> Artifact:
    """The windows artifact; with ``data.shard`` set, only that shard's (a job of a sharded build)."""
    from bows.data import download  # the upstream stage (a cheap skip when its artifact is up to date)

    docs = download.run(cfg)
    vocab = build_vocab(cfg, docs)
    if cfg.data.shard is not None:
        return build_shard(cfg, docs, vocab, cfg.data.shard)
    return build_binarized(cfg, docs, vocab)


def run_and_report(cfg: BowsConfig) -> Artifact:
    """``make binarize`` / ``make data``: the stage, then its statistics table (also when skipped)."""
    artifact = run(cfg)
    log.info("\n%s", format_stats(artifact))
    return artifact


main = stage_main(run_and_report)

if __name__ == "__main__":
    main()
