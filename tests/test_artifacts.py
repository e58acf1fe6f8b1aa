"""Data artifacts: round trip, corruption detected and rebuilt, stale configs never reused, atomic builds."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_fixture import ROWS, write_docs

from bows.artifacts import Files, open_artifact
from bows.data.binarize import build_binarized, load_windows
from bows.data.vocab import build_vocab

DATA = ("vocab.size=45", "vocab.sample_fraction=1.0", "vocab.min_len=20")


def stage(cfg, docs):
    return build_binarized(cfg, docs, build_vocab(cfg, docs))


def test_round_trip_and_reuse(tmp_path, make_config):
    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    first = stage(cfg, docs)
    reopened = open_artifact(first.path)
    assert reopened.meta == first.meta and reopened.digest == first.digest
    again = stage(cfg, docs)
    assert again.path == first.path and again.meta["created"] == first.meta["created"]  # skipped, not rebuilt
    assert np.array_equal(load_windows(again, "train").indices, load_windows(first, "train").indices)


@pytest.mark.parametrize("damage", ["truncate", "edit"])
def test_damaged_artifact_is_detected_and_rebuilt(tmp_path, make_config, damage):
    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    first = stage(cfg, docs)
    expected = np.array(load_windows(first, "train").indices)
    target = first.path / Files.indices("train")
    data = target.read_bytes()
    target.write_bytes(data[:-2] if damage == "truncate" else data[:-2] + bytes([data[-2] ^ 1, data[-1]]))
    rebuilt = stage(cfg, docs)
    assert rebuilt.path == first.path and open_artifact(rebuilt.path) is not None
    assert np.array_equal(load_windows(rebuilt, "train").indices, expected)


def test_changed_config_builds_a_new_artifact_and_leaves_the_old_one(tmp_path, make_config):
    docs = write_docs(tmp_path)
    old = stage(make_config(*DATA), docs)
    before = {p.name: p.read_bytes() for p in old.path.iterdir()}
    new = stage(make_config(*DATA, "window.group_size=2"), docs)
    bigger_vocab = stage(make_config(*DATA[1:], "vocab.size=46", "window.group_size=2"), docs)
    assert len({old.path, new.path, bigger_vocab.path}) == 3
    assert {p.name: p.read_bytes() for p in old.path.iterdir()} == before
    other_docs = write_docs(tmp_path, ROWS[:-1], name="other")  # same settings, different input content
    assert stage(make_config(*DATA), other_docs).path != old.path


def test_interrupted_build_leaves_nothing(tmp_path, make_config, monkeypatch):
    import bows.data.binarize
    import bows.data.chunks

    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    vocab = build_vocab(cfg, docs)

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bows.data.chunks, "build_windows", explode)  # the streamed build's kernel call
    with pytest.raises(KeyboardInterrupt):
        build_binarized(cfg, docs, vocab)
    stage_dir = tmp_path / "artifacts" / "binarize"
    assert not stage_dir.exists() or list(stage_dir.iterdir()) == []


def test_concurrent_builds_of_one_key_share_the_first_result(tmp_path):
    """Two parallel jobs (e.g. a joblib sweep) building the same key: the second keeps the first's
    artifact, neither deletes the other's temporary directory, nothing is left half-written."""
    from bows.artifacts import build_artifact

    with build_artifact(tmp_path, "demo", "k1", {"a": 1}) as slow:
        slow.path("x.txt").write_text("slow")
        with build_artifact(tmp_path, "demo", "k1", {"a": 1}) as fast:
            assert slow.tmp.is_dir()  # a live builder's directory survives another build's clean-up
            fast.path("x.txt").write_text("fast")
    assert slow.artifact.path == fast.artifact.path
    assert (fast.artifact.path / "x.txt").read_text() == "fast"
    assert open_artifact(slow.artifact.path).meta["files"] == fast.artifact.meta["files"]
    assert [p.name for p in (tmp_path / "artifacts" / "demo").iterdir()] == ["k1"]
