"""Identity is declared and verified: run/artifact/analysis keys from field metadata (both ways),
meta.json checksums, per-process cached verification, edited or truncated files refused by name."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
from corpus_fixture import write_docs
from safetensors.numpy import save_file
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows import artifacts
from bows.analysis import analyze, report
from bows.artifacts import Artifact, ArtifactError, Files, find_artifact, open_artifact, write_checked_json
from bows.config import AnalyzeConfig, BowsConfig, CorpusConfig, ModelConfig, TrainConfig, key_dict
from bows.data import download
from bows.data.binarize import build_binarized, load_windows
from bows.data.vocab import build_vocab
from bows.errors import BowsError
from bows.training.checkpoint import load_run, run_key

# Every ModelConfig/TrainConfig field must be listed here: a new field forces a decision.
CHANGES_RESULT = {
    "model.latent_size": 7,
    "model.output": "linear",
    "model.latent_relu": True,
    "train.lr": 1e-3,
    "train.weight_decay": 1.0,
    "train.batch_size": 64,
    "train.epochs": 3,
    "train.max_steps": 100,
    "train.seed": 9,
    "train.precision": "bf16",
}
DOES_NOT = {
    "train.device": "cpu",
    "train.num_threads": 1,
    "train.log_every": 7,
    "train.checkpoint_every": 5,
    "train.resume": False,
    "train.eval_windows": 11,
    "train.gemm": "onednn",  # a backend choice: the same maths, like train.device
    "train.stream": "stream",  # how the windows reach the device (run.json records it)
    "train.device_memory": 1.0,
    "train.stream_block_windows": 1024,
    "train.allow_code_change": True,  # resuming under changed code: recorded in run.json, not a new run
}
WINDOWS = Artifact(path=Path("w"), meta={"files": {"train.offsets.npy": {"sha256": "0" * 64, "bytes": 1}}})


def changed(cfg: BowsConfig, dotted: str, value) -> BowsConfig:
    section, name = dotted.split(".")
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **{name: value})})


def test_every_training_field_is_declared_in_or_out_of_the_run_key():
    declared = {f"model.{f.name}" for f in dataclasses.fields(ModelConfig)}
    declared |= {f"train.{f.name}" for f in dataclasses.fields(TrainConfig)}
    assert declared == set(CHANGES_RESULT) | set(DOES_NOT)


@pytest.mark.parametrize("dotted", sorted(CHANGES_RESULT))
def test_a_setting_that_changes_results_changes_the_run_key(dotted):
    cfg = BowsConfig()
    assert run_key(changed(cfg, dotted, CHANGES_RESULT[dotted]), WINDOWS) != run_key(cfg, WINDOWS)


@pytest.mark.parametrize("dotted", sorted(DOES_NOT))
def test_device_threads_logging_and_eval_windows_leave_the_run_key(dotted):
    cfg = BowsConfig()
    assert run_key(changed(cfg, dotted, DOES_NOT[dotted]), WINDOWS) == run_key(cfg, WINDOWS)


def test_paths_wandb_and_analysis_targets_leave_keys():
    cfg = BowsConfig()
    moved = dataclasses.replace(cfg, paths=dataclasses.replace(cfg.paths, root="/elsewhere"))
    tracked = dataclasses.replace(cfg, wandb=dataclasses.replace(cfg.wandb, mode="online", group="g"))
    assert run_key(moved, WINDOWS) == run_key(tracked, WINDOWS) == run_key(cfg, WINDOWS)
    other = dataclasses.replace(WINDOWS, meta={"files": {"train.offsets.npy": {"sha256": "1" * 64, "bytes": 1}}})
    assert run_key(cfg, other) != run_key(cfg, WINDOWS)  # other windows content: another run
    assert key_dict(AnalyzeConfig(run="a", sweep="b")) == key_dict(AnalyzeConfig())
    assert key_dict(AnalyzeConfig(seed=1)) != key_dict(AnalyzeConfig())
    assert download.key_config(CorpusConfig(hf_cache_dir="/cache")) == download.key_config(CorpusConfig())
    assert download.key_config(CorpusConfig(encoding="latin-1")) != download.key_config(CorpusConfig())


DATA = ("vocab.size=45", "vocab.sample_fraction=1.0", "vocab.min_len=20")


def stage(cfg, docs):
    return build_binarized(cfg, docs, build_vocab(cfg, docs))


def test_edited_meta_json_is_detected_and_rebuilt(tmp_path, make_config):
    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    first = stage(cfg, docs)
    meta_path = first.path / Files.META
    meta = json.loads(meta_path.read_text())
    meta["vocab_size"] = 100  # the finding: an edited vocabulary size was trusted
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="meta.json"):
        open_artifact(first.path)
    rebuilt = stage(cfg, docs)
    assert rebuilt.path == first.path and rebuilt.meta["vocab_size"] == 45
    assert load_windows(rebuilt, "train").vocab_size == 45


def test_truncated_windows_are_refused_by_name_not_a_raw_mmap_error(tmp_path, make_config):
    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    artifact = stage(cfg, docs)  # opened before the damage, as a long-running process would hold it
    target = artifact.path / Files.indices("train")
    target.write_bytes(target.read_bytes()[:-4])
    with pytest.raises(ArtifactError, match="train.indices.npy"):
        load_windows(artifact, "train")
    assert find_artifact(cfg.paths.root_path, "binarize", artifact.key) is None  # reported and removed


def test_files_are_hashed_once_per_process_and_again_after_a_change(tmp_path, make_config, monkeypatch):
    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    path = stage(cfg, docs).path
    hashed = []
    real = artifacts.file_sha256
    monkeypatch.setattr(artifacts, "file_sha256", lambda p, *a: hashed.append(Path(p).name) or real(p, *a))
    artifacts._VERIFIED.clear()
    open_artifact(path)
    n_files = len(hashed)
    open_artifact(path)
    assert len(hashed) == n_files  # cached
    target = path / Files.offsets("train")
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, new content and mtime
    target.write_bytes(bytes(data))
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    with pytest.raises(ArtifactError, match="sha256"):
        open_artifact(path)


@pytest.fixture
def analysed(tmp_path, make_config):
    cfg = make_config(
        "analyze.umap=false",
        "analyze.figures=false",
        "analyze.heldout_windows=200",
        "stats.sample_windows=500",
        "stats.min_count=3",
        "model.latent_size=8",
    )
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab, n_train=600, n_val=200)
    W, b = linear_weights(windows, len(vocab), 8)
    run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, "tinyrun")
    cfg = dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, run=str(run_dir)))
    out = analyze.run(cfg)
    return cfg, run_dir, out


def test_analysis_is_reused_only_when_run_stats_settings_and_version_match(analysed, monkeypatch):
    cfg, run_dir, out = analysed
    assert analyze.current_analysis(run_dir, cfg) == out
    other_seed = dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, seed=7))
    assert analyze.current_analysis(run_dir, other_seed) is None
    other_stats = dataclasses.replace(cfg, stats=dataclasses.replace(cfg.stats, min_count=4))
    assert analyze.current_analysis(run_dir, other_stats) is None
    monkeypatch.setattr(analyze, "code_digest", lambda name: "other analysis code")  # the analysis code changed
    assert analyze.current_analysis(run_dir, cfg) is None
    monkeypatch.undo()
    meta = json.loads((out / "meta.json").read_text())
    write_checked_json(out / "meta.json", {**meta, "failed": ["figures/months_ring"]})
    assert analyze.current_analysis(run_dir, cfg) is None  # an analysis with failures is never reused
    write_checked_json(out / "meta.json", {**meta, "complete": False})
    assert analyze.current_analysis(run_dir, cfg) is None  # figures or W&B crashed: never reused
    write_checked_json(out / "meta.json", meta)
    assert analyze.current_analysis(run_dir, cfg) == out


def test_new_weights_invalidate_the_analysis(analysed):
    cfg, run_dir, out = analysed
    info = load_run(run_dir)
    save_file({"W": np.ascontiguousarray(info.W * 2), "b": info.b}, str(run_dir / Files.WEIGHTS))
    run_json = json.loads((run_dir / Files.RUN).read_text())
    run_json["weights"] = artifacts.file_record(run_dir / Files.WEIGHTS)
    (run_dir / Files.RUN).write_text(json.dumps(run_json))
    assert analyze.current_analysis(run_dir, cfg) is None


def test_edited_analysis_numbers_are_refused_by_the_report_and_redone(analysed):
    cfg, run_dir, out = analysed
    metrics = json.loads((out / "metrics.json").read_text())
    metrics = {k: (1.0 if isinstance(v, float) else v) for k, v in metrics.items()}
    (out / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ArtifactError, match="metrics.json"):
        report.run_page(out)
    assert analyze.current_analysis(run_dir, cfg) is None
    report.run(cfg)  # redoes the analysis, then writes the page
    assert json.loads((out / "metrics.json").read_text()) != metrics


def test_edited_weights_are_refused_by_name(analysed):
    _, run_dir, _ = analysed
    weights = run_dir / Files.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BowsError, match="model.safetensors"):
        load_run(run_dir)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_checkpoint_is_refused_by_name(tmp_path, damage):
    import torch

    from bows.training.checkpoint import load_checkpoint, save_checkpoint

    state = {"model": {"W": torch.arange(1000.0)}, "step": 3}
    save_checkpoint(tmp_path, state)
    loaded = load_checkpoint(tmp_path, torch.device("cpu"))
    assert loaded is not None and torch.equal(loaded["model"]["W"], state["model"]["W"])
    file = tmp_path / Files.CHECKPOINT
    data = bytearray(file.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01  # inside the tensor data: torch itself would load it silently
    file.write_bytes(bytes(data) if damage == "flip" else bytes(data[: len(data) // 2]))
    with pytest.raises(BowsError, match="checkpoint.pt"):
        load_checkpoint(tmp_path, torch.device("cpu"))


def test_an_older_format_is_named_as_such(tmp_path, make_config):
    cfg, docs = make_config(*DATA), write_docs(tmp_path)
    artifact = stage(cfg, docs)
    meta = json.loads((artifact.path / Files.META).read_text())
    meta.pop("meta_sha256")
    meta["format"] = 1
    (artifact.path / Files.META).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="artifact format 1"):
        open_artifact(artifact.path)


def test_a_copied_root_loads_its_own_windows(tmp_path, make_config):
    import shutil

    cfg = make_config("model.latent_size=4")
    vocab = tiny_vocab()
    windows = make_windows_artifact(tmp_path / "a", vocab, n_train=50, n_val=20)
    W, b = np.ones((4, len(vocab)), np.float32), np.zeros(len(vocab), np.float32)
    make_run(tmp_path / "a", cfg, windows, W, b, "run")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    damaged = tmp_path / "b" / "artifacts" / "binarize" / windows.path.name / Files.offsets("train")
    damaged.write_bytes(damaged.read_bytes()[:-8])  # the copy's windows, not the original's, are checked
    with pytest.raises(BowsError, match=str(damaged)):
        load_run(tmp_path / "b" / "runs" / "run")
    shutil.copy(windows.path / Files.offsets("train"), damaged)
    shutil.rmtree(tmp_path / "a")
    assert load_run(tmp_path / "b" / "runs" / "run").windows.path == damaged.parent


def test_analysis_of_a_run_trained_by_other_code_says_so_in_one_line(analysed, monkeypatch):
    import contextlib
    from unittest import mock

    from bows import stages, tracking

    cfg, run_dir, out = analysed
    meta = json.loads((out / "meta.json").read_text())
    assert "records no training code identity" in meta["training_code_note"]  # a run.json without `code`
    configs = []

    @contextlib.contextmanager
    def capture(wandb_cfg, **kwargs):
        configs.append(kwargs["config"])
        yield mock.MagicMock()

    monkeypatch.setattr(tracking, "tracking_run", capture)
    info = json.loads((run_dir / Files.RUN).read_text())
    current = stages.code_record("train")
    other = {"digest": "x", "modules": {**current["modules"], "bows.training.kernels": "edited"}}
    (run_dir / Files.RUN).write_text(json.dumps({**info, "code": other}))
    analyze.analyze_run(run_dir, cfg)
    note = json.loads((out / "meta.json").read_text())["training_code_note"]
    assert "\n" not in note and "trained by other training code" in note and "bows.training.kernels" in note
    assert report.run_page(out).count("Training code:") == 1
    # the analysis run's W&B config: the training run's sections, its own settings, no file manifest
    config = configs[-1]
    assert config["train"]["weight_decay"] == cfg.train.weight_decay and config["model"]["latent_size"] == 8
    flat = json.dumps(config)
    assert not {"files", "complete", "failed"} & (set(config) | set(config["analysis"])) and "meta_sha256" not in flat
    assert "citymap" not in config and "synthetic" not in config and "paths" not in config
    (run_dir / Files.RUN).write_text(json.dumps({**info, "code": current}))
    analyze.analyze_run(run_dir, cfg)
    assert json.loads((out / "meta.json").read_text())["training_code_note"] is None
    assert "Training code:" not in report.run_page(out)
