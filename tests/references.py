"""One-piece, in-memory references the tests compare the streamed, chunked pipeline with (not needed by
the pipeline, so not shipped in the library)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _pc
import scipy.sparse as sp
from tqdm import tqdm

from bows.config import BowsConfig
from bows.data.coactivation import GroupMoments, pair_blocks
from bows.data.tokenize import tokenize, word_ids
from bows.data.windows import Windows, build_windows, layout, segment_starts, window_stats

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types
TOKENIZE_ROWS = 100_000  # rows tokenized per Arrow batch


def split_windows(table: pa.Table, vocab: pa.Array, cfg: BowsConfig) -> tuple[Windows, dict]:
    """(One piece, in memory: the reference for the streamed build.) Windows of one split (``doc_id``, ``text`` rows in reading order) and their statistics."""
    n_rows = table.num_rows
    rows, ids = [np.zeros(0, np.int64)], [np.zeros(0, np.uint16 if len(vocab) <= 2**16 else np.int32)]
    seconds = {"tokenize": 0.0, "windows": 0.0}
    start = time.perf_counter()
    for first in tqdm(
        range(0, n_rows, TOKENIZE_ROWS), desc="tokenize", unit="batch", leave=False, disable=n_rows <= TOKENIZE_ROWS
    ):
        tokens = tokenize(table["text"].slice(first, TOKENIZE_ROWS), min_len=cfg.vocab.min_len)
        batch_rows, batch_ids = word_ids(tokens, vocab)
        rows.append(batch_rows + first)
        ids.append(batch_ids)
    seconds["tokenize"] = time.perf_counter() - start
    start = time.perf_counter()
    doc_codes = pc.dictionary_encode(table["doc_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    seg = segment_starts(doc_codes, n_rows, cfg.window.cross_documents)
    lay = layout(seg, n_rows, cfg.window.group_size, cfg.window.stride)
    windows = build_windows(np.concatenate(rows), np.concatenate(ids), lay, len(vocab))
    seconds["windows"] = time.perf_counter() - start
    n_docs = len(segment_starts(doc_codes, n_rows, False))
    stats = {
        "rows": n_rows,
        "documents": n_docs,
        "tokens": int(sum(len(r) for r in rows)),
        **window_stats(windows),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    return windows, stats


def group_statistics(X_group: sp.csr_matrix | np.ndarray) -> dict[str, np.ndarray]:
    """Dense statistics of a word group's indicator columns (windows x k), all held in memory
    (``GroupMoments`` gives the same numbers chunk by chunk).

    count: co-occurrence counts; corr: phi over all windows; pmi: PMI over all windows;
    cond_corr: Pearson correlation over windows containing at least one group word;
    centred_gram: M^T M of the row-centred indicators of those windows (its eigenvectors give
    the data's own PCA of the group words -- the months ring in the data).
    """
    X = sp.coo_matrix(sp.csr_matrix(X_group, dtype=np.int8))
    moments = GroupMoments(X.shape[1], windows=X.shape[0])
    keep = X.data != 0
    moments.add(X.row[keep], X.col[keep])
    return moments.statistics()


def pair_table(cooc: sp.csr_matrix, n: int, min_count: int) -> pd.DataFrame:
    """Frequent pairs (i < j, count >= min_count) with their count, phi correlation and PMI."""
    return pd.concat(list(pair_blocks(cooc, n, min_count)), ignore_index=True)
