"""Readers the tests use to look inside artifacts and tokenize one string (not needed by the
pipeline, so not shipped in the library)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import ArrayLike

from bows.artifacts import Artifact, Files, open_artifact
from bows.data import SPLITS
from bows.data.tokenize import tokenize


def tokenize_text(text: str, *, min_len: int = 0) -> list[str]:
    """Kept tokens of one string."""
    return tokenize([text], min_len=min_len).per_row()[0]


def load_docs(artifact: Artifact | Path, split: str | None = None) -> pa.Table:
    """The rows of a download artifact (all splits, or one), memory-mapped, in stored order."""
    if not isinstance(artifact, Artifact):
        artifact = open_artifact(Path(artifact))
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    filters = None if split is None else pc.field("split") == split
    return pq.read_table(artifact.file(Files.DOCS), filters=filters, memory_map=True)


def read_texts(docs: Artifact, split: str | None = None) -> pa.Table:
    """The ``doc_id``, ``split`` and ``text`` columns of a docs artifact (one split, or all), in reading order."""
    return load_docs(docs, split).select(["doc_id", "split", "text"])


def row_indicators(rows: np.ndarray, ids: np.ndarray, n_rows: int, group_ids: ArrayLike, vocab_size: int) -> np.ndarray:
    """(n_rows x k) bool: row r holds group word j (token occurrences ``(rows[i], ids[i])``)."""
    column = np.full(vocab_size, -1, dtype=np.int64)
    group = np.asarray(group_ids, dtype=np.int64)
    column[group] = np.arange(len(group))
    mapped = column[np.asarray(ids, dtype=np.int64)]
    hit = mapped >= 0
    out = np.zeros((n_rows, len(group)), dtype=bool)
    out[np.asarray(rows, dtype=np.int64)[hit], mapped[hit]] = True
    return out
