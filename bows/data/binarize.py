"""Stage "binarize": reads docs.parquet + vocab.parquet, writes CSR windows (<split>.offsets.npy, <split>.indices.npy).

Every split's rows are tokenized (``bows.data.tokenize``), mapped to vocabulary ids, and grouped into
binary bag-of-words windows of ``window.group_size`` rows (``bows.data.windows``), crossing document
boundaries only when ``window.cross_documents`` is true. The arrays are plain ``.npy`` files that
``load_windows`` memory-maps; the statistics table of every split is printed when the stage
builds them, and by ``make binarize`` / ``make data`` also when they are up to date.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from bows.artifacts import Artifact, ArtifactError, Files, build_artifact, reuse_or_key, verify_files
from bows.cli import stage_main
from bows.config import BowsConfig, key_dict
from bows.data import SPLITS
from bows.data.tokenize import tokenize, tokenizer_settings, word_ids
from bows.data.vocab import build_vocab, load_vocab, read_texts
from bows.data.windows import Windows, build_windows, layout, segment_starts, window_stats

log = logging.getLogger(__name__)

TOKENIZE_ROWS = 100_000  # rows tokenized per Arrow batch (bounds memory, drives the progress bar)


def binarize_config(cfg: BowsConfig) -> dict:
    """The resolved settings the windows depend on (hashed into the key, recorded in the metadata)."""
    return {"corpus": key_dict(cfg.corpus), "vocab": key_dict(cfg.vocab), "window": key_dict(cfg.window),
            "tokenizer": tokenizer_settings(cfg.vocab.min_len)}


def split_windows(table: pa.Table, vocab: pa.Array, cfg: BowsConfig) -> tuple[Windows, dict]:
    """Windows of one split (``doc_id``, ``text`` rows in reading order) and their statistics."""
    n_rows = table.num_rows
    rows, ids = [np.zeros(0, np.int64)], [np.zeros(0, np.uint16 if len(vocab) <= 2**16 else np.int32)]
    seconds = {"tokenize": 0.0, "windows": 0.0}
    start = time.perf_counter()
    for first in tqdm(range(0, n_rows, TOKENIZE_ROWS), desc="tokenize", unit="batch", leave=False,
                      disable=n_rows <= TOKENIZE_ROWS):
        tokens = tokenize(table["text"].slice(first, TOKENIZE_ROWS), min_len=cfg.vocab.min_len)
        batch_rows, batch_ids = word_ids(tokens, vocab)
        rows.append(batch_rows + first)
        ids.append(batch_ids)
    seconds["tokenize"] = time.perf_counter() - start
    start = time.perf_counter()
    doc_codes = pc.dictionary_encode(table["doc_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)  # pyright: ignore[reportAttributeAccessIssue]
    seg = segment_starts(doc_codes, n_rows, cfg.window.cross_documents)
    lay = layout(seg, n_rows, cfg.window.group_size, cfg.window.stride)
    windows = build_windows(np.concatenate(rows), np.concatenate(ids), lay, len(vocab))
    seconds["windows"] = time.perf_counter() - start
    n_docs = len(segment_starts(doc_codes, n_rows, False))
    stats = {"rows": n_rows, "documents": n_docs, "tokens": int(sum(len(r) for r in rows)),
             **window_stats(windows), "seconds": {k: round(v, 3) for k, v in seconds.items()}}
    return windows, stats


def build_binarized(cfg: BowsConfig, docs: Artifact, vocab_artifact: Artifact) -> Artifact:
    """The windows artifact of ``docs`` and ``vocab_artifact`` under ``cfg`` (reused when up to date)."""
    root, config = cfg.paths.root_path, binarize_config(cfg)
    inputs = {"docs": docs, "vocab": vocab_artifact}
    key, found = reuse_or_key(root, "binarize", config, inputs)
    if found is not None:
        return found
    vocab = pa.array(load_vocab(vocab_artifact), pa.string())
    with build_artifact(root, "binarize", key, config, inputs) as builder:
        stats, table = {}, read_texts(docs)
        for split in SPLITS:
            rows = table.filter(pc.equal(table["split"], split))  # pyright: ignore[reportAttributeAccessIssue]
            windows, stats[split] = split_windows(rows, vocab, cfg)
            np.save(builder.path(Files.offsets(split)), windows.offsets)
            np.save(builder.path(Files.indices(split)), windows.indices)
            log.info("binarize: %s: %d rows -> %d windows, %.1f words per window", split, stats[split]["rows"],
                     stats[split]["windows"], stats[split]["mean_words"])
        builder.stats = stats
        builder.extra = {"vocab_size": len(vocab), "splits": list(SPLITS)}
    log.info("\n%s", format_stats(builder.artifact))
    return builder.artifact


def format_stats(artifact: Artifact) -> str:
    """The per-split statistics table of a windows artifact."""
    window = artifact.config["window"]
    lines = [f"windows {artifact.path}  (V={artifact.meta['vocab_size']}, G={window['group_size']}, "
             f"stride={window['stride']}, cross_documents={window['cross_documents']})",
             f"{'split':<11}{'rows':>11}{'docs':>9}{'windows':>11}{'empty':>8}{'mean':>8}{'p10':>6}{'p50':>6}{'p90':>6}"]
    for split in artifact.meta["splits"]:
        s = artifact.stats[split]
        lines.append(f"{split:<11}{s['rows']:>11,}{s['documents']:>9,}{s['windows']:>11,}"
                     f"{s['empty_fraction']:>8.3f}{s['mean_words']:>8.1f}{s['p10_words']:>6.0f}{s['p50_words']:>6.0f}{s['p90_words']:>6.0f}")
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
    if (offsets.dtype != np.int64 or offsets.ndim != 1 or len(offsets) < 1 or indices.dtype != expected
            or indices.ndim != 1 or int(offsets[0]) != 0 or int(offsets[-1]) != len(indices)):
        raise ArtifactError(f"{paths[0]} / {paths[1]} are inconsistent (offsets {offsets.dtype} {offsets.shape}, "
                            f"indices {indices.dtype} {indices.shape}, vocab_size {vocab_size}); rebuild them")
    return Windows(offsets=offsets, indices=indices, vocab_size=vocab_size)


def vocab_of(artifact: Artifact) -> list[str]:
    """The vocabulary (index order) a windows artifact was built with."""
    return load_vocab(artifact.input("vocab"))


def run(cfg: BowsConfig) -> Artifact:
    from bows.data import download  # the upstream stage (a cheap skip when its artifact is up to date)

    docs = download.run(cfg)
    return build_binarized(cfg, docs, build_vocab(cfg, docs))


def run_and_report(cfg: BowsConfig) -> Artifact:
    """``make binarize`` / ``make data``: the stage, then its statistics table (also when skipped)."""
    artifact = run(cfg)
    log.info("\n%s", format_stats(artifact))
    return artifact


main = stage_main(run_and_report)

if __name__ == "__main__":
    main()
