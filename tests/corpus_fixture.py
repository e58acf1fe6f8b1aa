"""A tiny docs artifact with known co-occurrences, built without the download stage."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bows.artifacts import Artifact, Files, artifact_key, build_artifact

PAD = " and so the story went on for a while"  # stopwords only: lengthens a row past vocab.min_len

# (doc_id, split, text): January and February share rows, December sits alone in its own document
ROWS = [
    ("d1", "train", "January February snow Christmas alpha beta" + PAD),
    ("d1", "train", "short row"),
    ("d1", "train", "February March spring gamma alpha" + PAD),
    ("d2", "train", "December Christmas snow delta alpha beta" + PAD),
    ("d2", "train", "Monday Tuesday delta epsilon beta" + PAD),
    ("d3", "train", "June July summer gamma zeta alpha" + PAD),
    ("d3", "train", ""),
    ("d3", "train", "July August summer gamma eta alpha" + PAD),
    ("d4", "validation", "January snow Christmas alpha gamma" + PAD),
    ("d4", "validation", "March spring beta theta" + PAD),
    ("d5", "test", "July summer alpha iota" + PAD),
]


def write_docs(root: Path, rows: list[tuple[str, str, str]] = ROWS, name: str = "fixture") -> Artifact:
    """A docs artifact under ``root`` holding ``rows`` (key derived from ``name`` and the rows)."""
    table = pa.table(
        {
            "doc_id": [r[0] for r in rows],
            "source": ["fixture"] * len(rows),
            "split": [r[1] for r in rows],
            "text": [r[2] for r in rows],
        }
    )
    config = {"fixture": name, "rows": len(rows), "first": rows[0][2] if rows else ""}
    with build_artifact(root, "download", artifact_key("download", config), config) as builder:
        pq.write_table(table, builder.path(Files.DOCS))
    return builder.artifact
