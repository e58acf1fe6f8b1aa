"""Issue 21, findings 3-7: bounded memory inside one document, one-line faults (disk full, wrong
types, impossible sizes) and the smaller ones, each through the real entry points where it can be."""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq
import pytest
import readers
import references
import torch

from bows.artifacts import Files, artifact_key, build_artifact
from bows.data import binarize, vocab
from bows.data.chunks import ChunkedWindows
from bows.errors import ArtifactError, BowsError, FailedJob, with_path

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types
REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": ""}
LEXICON = ["alpha", "beta", "gamma", "delta", "omega", "January", "February", "Monday", "Tuesday", "river"]


def bows(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m bows.<module> args`` from the repository, W&B off."""
    return subprocess.run(
        [sys.executable, "-m", f"bows.{module}", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a failed command (and no traceback)."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    noise = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("error:", "["))]
    assert not noise, done.stderr[-3000:]  # only log lines and the error
    return errors[0]


def long_document_docs(root: Path, rows: int = 400, seed: int = 0):
    """A docs artifact: one long train document between short ones, plus validation and test."""
    rng = np.random.default_rng(seed)
    ids, splits, texts = [], [], []
    for doc, (split, n) in enumerate([("train", 3), ("train", rows), ("train", 2), ("validation", 9), ("test", 7)]):
        for _ in range(n):
            texts.append(" ".join(rng.choice(LEXICON, size=int(rng.integers(0, 7)))))
            ids.append(f"doc{doc}")
            splits.append(split)
    table = pa.table({"doc_id": ids, "source": ["t"] * len(ids), "split": splits, "text": texts})
    config = {"fixture": "long document", "seed": seed, "rows": rows}
    with build_artifact(root, "download", artifact_key("download", config), config) as builder:
        pq.write_table(table, builder.path(Files.DOCS), row_group_size=50)
    return builder.artifact


# ------------------------------------------------------------------------- 3. memory in one document
@pytest.mark.parametrize("group,stride", [(5, 1), (4, 3), (2, 7)])
def test_one_long_document_carries_fewer_than_G_rows_and_equals_one_shot(
    tmp_path, make_config, monkeypatch, group, stride
):
    """Within documents the streamed build used to carry the whole unfinished document into every
    next chunk (memory grew with the document); it carries fewer than G rows, output unchanged."""
    docs = long_document_docs(tmp_path / "docs")
    base = ("vocab.size=40", "vocab.min_len=0", f"window.group_size={group}", f"window.stride={stride}")
    base += ("window.cross_documents=false",)
    one = make_config(*base, "data.chunk_rows=100000")
    words = vocab.build_vocab(one, docs)
    table = readers.read_texts(docs)
    carried: list[int] = []
    original = ChunkedWindows._carry

    def spy(self, rows, ids, first_row, n, flags):
        carried.append(n - first_row)
        return original(self, rows, ids, first_row, n, flags)

    monkeypatch.setattr(ChunkedWindows, "_carry", spy)
    cfg = make_config(*base, f"paths.root={tmp_path / 'chunked'}", "data.chunk_rows=7")
    streamed = binarize.build_binarized(cfg, docs, words)
    assert max(carried) < group, max(carried)
    vocab_words = pa.array(vocab.load_vocab(words), pa.string())
    for split in binarize.SPLITS:
        part = table.filter(pc.equal(table["split"], split))
        ref, _ = references.split_windows(part, vocab_words, one)
        got = binarize.load_windows(streamed, split)
        assert np.array_equal(got.offsets, ref.offsets) and np.array_equal(got.indices, ref.indices), split


class _Sink:
    """A ``WindowSink`` keeping the CSR pieces in memory."""

    def __init__(self):
        self.offsets, self.indices, self.nnz = [np.zeros(1, np.int64)], [np.zeros(0, np.uint16)], 0

    def append(self, offsets, indices):
        offsets = np.asarray(offsets, np.int64)
        if len(offsets) > 1:
            self.offsets.append(offsets[1:] + self.nnz)
            self.indices.append(np.asarray(indices, np.uint16))
            self.nnz += int(offsets[-1])


def test_chunked_windows_equal_one_shot_for_random_documents_strides_and_chunks():
    """Documents shorter and longer than G, strides below and above G, chunks of 1-8 rows: the
    windows fed chunk by chunk equal the one-shot layout, and never more than G-1 rows are carried."""
    from bows.data.windows import build_windows, layout, segment_starts

    rng = np.random.default_rng(0)
    for trial in range(400):
        g, s, cross = int(rng.integers(1, 6)), int(rng.integers(1, 8)), bool(trial % 2)
        k = int(rng.integers(1, 7))
        doc = np.repeat(np.arange(k), rng.integers(1, 16, size=k))
        n = len(doc)
        rows, ids = [], []
        for r in range(n):
            words = np.unique(rng.integers(0, 8, int(rng.integers(0, 3))))
            rows += [r] * len(words)
            ids += words.tolist()
        rows_a, ids_a = np.array(rows, np.int64), np.array(ids, np.uint16)
        ref = build_windows(rows_a, ids_a, layout(segment_starts(doc, n, cross), n, g, s), 8)
        sink, chunk = _Sink(), int(rng.integers(1, 9))
        builder = ChunkedWindows(sink, 8, g, s, cross)
        changes = np.ones(n, bool)
        changes[1:] = doc[1:] != doc[:-1]
        for a in range(0, n, chunk):
            e = min(a + chunk, n)
            keep = (rows_a >= a) & (rows_a < e)
            builder.feed(rows_a[keep] - a, ids_a[keep], e - a, changes[a:e])
            assert builder.pending.n_rows < max(g, 1) or cross, (trial, builder.pending.n_rows)
        builder.finish()
        assert np.array_equal(np.concatenate(sink.offsets), ref.offsets), (trial, g, s, chunk, doc)
        assert np.array_equal(np.concatenate(sink.indices), ref.indices), (trial, g, s, chunk, doc)


def test_progress_lines_when_not_on_a_terminal(caplog, monkeypatch):
    from bows import progress

    monkeypatch.setattr(progress, "QUIET_SECONDS", 0.0)
    monkeypatch.setattr(progress, "LOG_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="bows.progress"), progress.Progress("binarize train", 10) as p:
        p.update(4)
        p.update(6)
    lines = [r.getMessage() for r in caplog.records if r.name == "bows.progress"]
    assert lines[-1].startswith("binarize train: 10/10 rows (100%)"), lines


# ------------------------------------------------------------------------------------- 4. disk full
def test_disk_full_names_the_file_and_free_space(tmp_path):
    """numpy's short write ("N requested and M written", no errno, no file) becomes ENOSPC naming the file."""
    named = with_path(OSError("42594 requested and 34752 written"), tmp_path / "train.indices.npy")
    assert named.errno == errno.ENOSPC and named.filename == str(tmp_path / "train.indices.npy")
    from bows.cli import disk_error_message

    message = disk_error_message(named, tmp_path)
    assert "train.indices.npy" in message and "free there now" in message and "paths.root" in message


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0


@pytest.mark.parametrize("fill_kib", [0, 2000, 2900])
def test_disk_full_on_a_tiny_root_is_one_line_at_every_fill_level(tmp_path, fill_kib):
    """A 3 MB root (tmpfs, needs root): whichever file the disk fills on -- Hydra's own run
    directory, docs.parquet, the windows -- the command ends with one line naming it, exit 2."""
    root = tmp_path / "tiny"
    if not _tmpfs(root, "3m"):
        pytest.skip("needs root to mount a tmpfs")
    try:
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        rng = np.random.default_rng(0)
        lexicon = LEXICON + [f"word{i}" for i in range(200)]
        lines = [" ".join(rng.choice(lexicon, size=14)) for _ in range(60000)]
        (corpus / "one.txt").write_text("\n".join(lines))  # ~5 MB: the windows alone need more than 3 MB
        if fill_kib:
            (root / "filler").write_bytes(bytes(fill_kib * 1024))
        done = bows(
            "data.binarize",
            f"paths.root={root}",
            "corpus=local",
            f"corpus.files=[{corpus}/*.txt]",
            "vocab.size=80",
            "vocab.min_len=0",
            "wandb=disabled",
        )
        assert done.returncode == 2, done.stderr[-3000:]
        line = one_line_error(done)
        assert "no space left" in line and "free" in line and str(root) in line, line
        assert not list(root.glob("artifacts/*/.tmp-*")), "a partial build was left behind"
    finally:
        subprocess.run(["umount", str(root)])


# ------------------------------------------------------------------------------------ 5. wrong types
@pytest.mark.parametrize(
    "override,expected",
    [
        ("train.lr=abc", "train.lr=abc: expected a number, got 'abc'"),
        ("model.latent_size=1.5", "model.latent_size=1.5: expected an integer, got 1.5"),
        ("train.batch_size=true", "train.batch_size=true: expected an integer, got True"),
        ("train.lr=1e-3,abc", "train.lr=1e-3,abc: expected a number, got 'abc'"),
        ("window.cross_documents=maybe", "window.cross_documents=maybe: expected true or false, got 'maybe'"),
    ],
)
def test_wrong_type_is_one_line_naming_field_value_and_type_exit_2(tmp_path, override, expected):
    done = bows("data.vocab", f"paths.root={tmp_path}", override, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert one_line_error(done) == f"error: {expected}"
    assert not (tmp_path / "artifacts").exists()  # nothing ran


@pytest.mark.parametrize(
    "override,field", [("train.lr=inf", "train.lr"), ("train.weight_decay=nan", "train.weight_decay")]
)
def test_non_finite_numbers_fail_validation(tmp_path, override, field):
    done = bows("data.vocab", f"paths.root={tmp_path}", override, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert one_line_error(done).startswith(f"error: {field}: must be a finite number"), done.stderr


def test_every_float_field_of_every_section_must_be_finite(make_config):
    from bows.config import ConfigError

    for override in ("synthetic.weight_decays=[1.0,inf]", "citymap.lr=inf", "wandb.init_timeout=nan"):
        with pytest.raises(ConfigError, match="must be a finite number"):
            make_config(override)


# --------------------------------------------------------------------------------- 6. impossible sizes
def test_impossible_model_size_is_one_line_before_any_allocation(tmp_path):
    from test_study import write_corpus

    write_corpus(tmp_path / "corpus", docs=20, lines=5)
    done = bows(
        "training.train",
        f"paths.root={tmp_path / 'data'}",
        "corpus=local",
        f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
        "vocab.size=60",
        "model.latent_size=100000000",
        "train.device=cpu",
        "train.max_steps=2",
    )
    assert done.returncode == 2, done.stderr[-3000:]
    line = one_line_error(done)
    assert "model.latent_size=100000000 and train.batch_size=512 need about" in line and "free" in line, line
    assert not (tmp_path / "data" / "runs").exists() or not any((tmp_path / "data" / "runs").iterdir())


def test_footprint_counts_parameters_gradients_adam_and_batches():
    from bows.training.footprint import check_fits, training_bytes

    model, buffers = training_bytes(vocab=1000, latent=10, batch=8)
    assert model == (1000 * 10 + 1000) * 4 * 4 and buffers == 8 * 1010 * 4 * 4
    with pytest.raises(BowsError, match=r"train.batch_size=10000000000 need about .* free; lower train.batch_size$"):
        check_fits(torch.device("cpu"), 1000, 10, 10**10)


# ------------------------------------------------------------------------------------ 7. smaller ones
def test_sync_command_survives_spaces_and_quotes(tmp_path):
    from bows.tracking import sync_command

    root = tmp_path / "my data's $HOME root"
    (root / "runs" / "a" / "wandb" / "offline-run-1").mkdir(parents=True)
    command = sync_command([f"{root}/runs/*/wandb/offline-run-*"])
    echoed = subprocess.run(["bash", "-c", command.replace("wandb sync", "printf '%s\\n'", 1)], capture_output=True)
    assert echoed.stdout.decode().splitlines() == [f"{root}/runs/a/wandb/offline-run-1"]


def test_analyze_sweep_on_a_run_json_is_one_line(tmp_path):
    not_an_index = tmp_path / "run.json"
    not_an_index.write_text(json.dumps({"status": "finished"}))
    done = bows("analysis.analyze", f"paths.root={tmp_path}", f"analyze.sweep={not_an_index}", timeout=120)
    assert done.returncode == 2 and "is not a sweep index" in one_line_error(done), done.stderr[-2000:]


def test_empty_analyze_run_fails_before_building_data(tmp_path):
    done = bows("analysis.analyze", f"paths.root={tmp_path}", "analyze.run=", timeout=120)
    assert done.returncode == 2 and "analyze.run: is empty" in one_line_error(done), done.stderr[-2000:]
    done = bows("analysis.analyze", f"paths.root={tmp_path}", timeout=120)  # nothing trained here
    assert done.returncode == 2 and "no trained run under" in one_line_error(done), done.stderr[-2000:]
    assert not (tmp_path / "artifacts").exists()  # no download, no windows


def test_failed_sweep_member_keeps_its_config_and_ends_with_one_line(tmp_path, capsys):
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from bows.training.sweep import SweepIndex

    sweep = tmp_path / "multirun"

    def config(job: int, lr: float):
        return OmegaConf.create(
            {
                "train": {"lr": lr, "weight_decay": 4.0},
                "model": {"latent_size": 8},
                "hydra": {
                    "mode": RunMode.MULTIRUN,
                    "sweep": {"dir": str(sweep)},
                    "runtime": {"output_dir": str(sweep / str(job))},
                    "job": {"num": job},
                    "overrides": {"task": [f"train.lr={lr}"]},
                },
            }
        )

    callback = SweepIndex()
    callback.on_job_start(config(0, 1e9))
    failed = JobReturn(status=JobStatus.COMPLETED, _return_value=FailedJob("TrainingDiverged: loss became NaN"))
    callback.on_job_end(config(0, 1e9), failed)
    frame = pd.read_parquet(sweep / Files.SWEEP_INDEX)
    assert list(frame["status"]) == ["failed"] and frame["train.lr"].iloc[0] == 1e9
    assert frame["error"].iloc[0] == "TrainingDiverged: loss became NaN"
    with pytest.raises(SystemExit) as stop:
        callback.on_multirun_end(config(0, 1e9))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: sweep job 0 (train.lr=1000000000.0) failed: TrainingDiverged: loss became NaN"]


def test_coactivation_and_r2_give_true_reasons_when_every_window_is_alike():
    """G larger than every document: each held-out window holds all its words, every pair has the
    same correlation -- the metrics are null with that reason and the figure says it has nothing."""
    from bows.analysis import compute
    from bows.plots.figures import coactivation_figure

    a = compute.Analysis()

    class Stats:
        pairs = pd.DataFrame(
            {"i": [0, 0, 1], "j": [1, 2, 2], "count": [5, 5, 5], "corr": [1.0] * 3, "pmi": [np.nan] * 3}
        )

    W = np.random.default_rng(0).normal(size=(4, 3))
    compute.coactivation(W, cast(Any, Stats()), a, seed=0)
    reasons = a.sections[compute.UNAVAILABLE]
    assert "is the same for all 3 pairs" in reasons["coactivation/pearson_dot_corr"]
    assert "0 of 3 frequent word pairs have a finite PMI" in reasons["coactivation/spearman_dot_pmi"]
    a.tables["coactivation"]["corr"] = np.nan
    assert coactivation_figure(a, Path("/nonexistent/never-written.png")) is False


def test_duplicate_words_in_a_vocabulary_are_rejected(tmp_path):
    table = pa.table(
        {
            "index": pa.array([0, 1, 2], pa.int32()),
            "word": ["May", "June", "May"],
            "count": [3, 2, 1],
            "forced": [True] * 3,
        },
        schema=vocab.VOCAB_SCHEMA,
    )
    with build_artifact(tmp_path, "vocab", "dup", {"dup": True}) as builder:
        pq.write_table(table, builder.path(Files.VOCAB))
    with pytest.raises(ArtifactError, match=r"vocab.parquet holds the words 'May' more than once"):
        vocab.load_vocab(builder.artifact)
    counts = pa.table({"word": ["a", "a", "b"], "count": [3, 2, 1]})
    with pytest.raises(BowsError, match="more than once"):
        vocab.choose_vocab(counts, len(vocab.FORCED_TOKENS) + 2)


def test_other_hosts_temporary_build_is_kept_with_a_warning(tmp_path, caplog):
    stale = tmp_path / "artifacts" / "vocab" / f".tmp-k1-otherhost-4242-{uuid.uuid4().hex[:8]}"
    stale.mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="bows.artifacts"):
        with build_artifact(tmp_path, "vocab", "k1", {"x": 1}) as builder:
            builder.path("a.txt").write_text("x")
    assert stale.is_dir()
    [warning] = [r.getMessage() for r in caplog.records if "temporary build directory" in r.getMessage()]
    assert "otherhost" in warning and "4242" in warning and f"rm -rf {stale}" in warning


def test_optimizer_state_with_inf_is_a_divergence_not_a_checkpoint():
    from bows.training.model import TiedAutoencoder
    from bows.training.optim import Optimisation

    model = TiedAutoencoder(6, 2)
    opt = Optimisation(model, lr=1e-3, weight_decay=0.0, total_steps=4)
    model.zero_grad()
    W = model.get_parameter("W")
    (W.sum() + W[0, 0, 0] * 1e30).backward()  # one gradient overflows AdamW's exp_avg_sq, the rest stay finite
    for p, (alias, perm) in zip(opt.params, opt.aliases):
        alias.grad = None if p.grad is None else (p.grad if perm is None else p.grad.permute(perm))
    opt.optimizer.step()
    assert opt.weights_finite() and not opt.state_finite()
    assert all(math.isfinite(v) for v in model.get_parameter("W").detach().flatten().tolist())


def test_r2_reason_says_every_word_is_in_every_window_not_that_none_occurs():
    """G larger than every document: one held-out window per document, each word in all of them."""
    import scipy.sparse as sp

    from bows.analysis import compute

    a = compute.Analysis()
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 5)).astype(np.float32), np.zeros(5, np.float32)
    X = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0]], np.float32))
    compute.mechanism(W, b, ["a", "b", "c", "d", "e"], X, "relu", None, a)
    reason = a.sections[compute.UNAVAILABLE]["mechanism/r2_median"]
    assert reason.startswith("each of the 2 words that occur is in all 2 held-out windows"), reason
