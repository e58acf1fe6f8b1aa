"""Training through the real data path (``load_data`` builds download -> vocab -> binarize from a
small local corpus; nothing monkeypatched but the trigger of a fault): eval loss on the validation
windows, a dense autograd reference, divergence detection, and SIGTERM -> checkpoint -> resume."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import tiny_config
from test_study import write_corpus

from bows.artifacts import Files
from bows.training import train as train_mod
from bows.training.batches import epoch_batches, to_device
from bows.training.checkpoint import load_checkpoint
from bows.training.model import TiedAutoencoder

COMMON = (
    "corpus=local",
    "vocab.size=80",
    "vocab.sample_fraction=1.0",
    "window.group_size=2",
    "model.latent_size=6",
    "train.num_threads=1",
    "train.device=cpu",
)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A small local corpus built once into artifacts (download -> vocab -> binarize) by the real stages."""
    base = tmp_path_factory.mktemp("real")
    write_corpus(base / "corpus", docs=30, lines=10)
    files = f"corpus.files=[{base / 'corpus'}/*.txt]"
    train_mod.load_data(tiny_config(base / "data", *COMMON, files))
    return base / "data" / "artifacts", files


@pytest.fixture
def cfg_of(shared, tmp_path):
    artifacts, files = shared

    def make(*overrides: str, root=None):
        root = root or tmp_path / "data"
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "artifacts").exists():
            (root / "artifacts").symlink_to(artifacts)  # runs are per test, the data is shared
        return tiny_config(root, *COMMON, files, *overrides)

    return make


def _dense(windows) -> np.ndarray:
    csr = windows.to_csr() if hasattr(windows, "to_csr") else windows
    X = sp.csr_matrix(csr).toarray().astype(np.float64)
    return X[X.sum(axis=1) > 0]  # training and evaluation skip empty windows


def _mse(W: np.ndarray, b: np.ndarray, X: np.ndarray) -> float:
    W, b = W.astype(np.float64), b.astype(np.float64)
    return float((np.maximum(X @ W.T @ W + b, 0) - X).__pow__(2).mean())


def test_eval_loss_is_the_validation_loss_not_the_train_loss(cfg_of):
    cfg = cfg_of("train.max_steps=null", "train.epochs=2", "train.batch_size=32", "train.lr=1e-2")
    path = train_mod.run(cfg)
    run = train_mod.load_run(path)
    _, train_windows, val_windows = train_mod.load_data(cfg)
    rows = [json.loads(line) for line in (path / Files.METRICS).read_text().splitlines()]
    logged = [r["eval_loss"] for r in rows if "eval_loss" in r][-1]  # after the last epoch = final weights
    direct_val = _mse(run.W, run.b, _dense(val_windows))
    direct_train = _mse(run.W, run.b, _dense(train_windows))
    assert logged == pytest.approx(direct_val, rel=1e-5)
    assert abs(direct_train - direct_val) > 1e-4 * direct_val  # the two splits really differ here
    assert logged != pytest.approx(direct_train, rel=1e-5)


def test_training_matches_a_plain_dense_autograd_reference(cfg_of):
    steps, lr, wd, batch = 14, 1e-2, 0.5, 32
    cfg = cfg_of(f"train.max_steps={steps}", f"train.lr={lr}", f"train.weight_decay={wd}", f"train.batch_size={batch}")
    run = train_mod.load_run(train_mod.run(cfg))
    _, train_windows, _ = train_mod.load_data(cfg)
    data = to_device(train_windows.offsets, train_windows.indices, train_windows.vocab_size, torch.device("cpu"))
    assert data.steps_per_epoch(batch) < steps  # the reference crosses an epoch boundary
    torch.manual_seed(cfg.train.seed)
    init = TiedAutoencoder(data.vocab_size, cfg.model.latent_size)
    W = init.W[0].detach().clone().double().requires_grad_(True)  # (latent, vocab), plain dense tensor
    b = init.b[0].detach().clone().double().requires_grad_(True)
    opt = torch.optim.AdamW([W, b], lr=lr, weight_decay=wd, foreach=False, fused=False)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    done, epoch = 0, 0
    while done < steps:
        for bt in epoch_batches(data, batch, cfg.train.seed, epoch):
            x = torch.zeros(bt.size, data.vocab_size, dtype=torch.float64)
            ids, offs = bt.csr()
            for i in range(bt.size):  # plain loop: the reference shares no code with the sparse path
                x[i, ids[offs[i] : offs[i + 1]].long()] = 1.0
            loss = ((torch.relu(x @ W.T @ W + b) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    np.testing.assert_allclose(run.W, W.detach().numpy(), rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(run.b, b.detach().numpy(), rtol=1e-4, atol=2e-5)
    assert np.abs(run.W - init.W[0].detach().numpy()).max() > 1e-3  # and training moved the weights


def _trigger(monkeypatch, at_step: int, action):
    """Run ``action(optimisation)`` right after optimizer step ``at_step`` (the fault's trigger)."""
    real = train_mod.Optimisation.update

    def update(self, batch):
        loss = real(self, batch)
        if self.step == at_step:
            action(self)
        return loss

    monkeypatch.setattr(train_mod.Optimisation, "update", update)
    return real


def test_nonfinite_weights_detected_within_a_step_before_epoch_end_and_checkpoint(cfg_of, monkeypatch):
    cfg = cfg_of(
        "train.max_steps=null",
        "train.epochs=3",
        "train.batch_size=16",
        "train.checkpoint_every=4",
        "train.log_every=1000",
    )
    _trigger(monkeypatch, 6, lambda opt: opt.model.W.data[0, 0, 0].fill_(float("nan")))
    with pytest.raises(train_mod.TrainingDiverged) as err:
        train_mod.run(cfg)
    message = str(err.value)
    assert "at step 7" in message  # the loss of the very next step raised the device-side flag
    assert "last good checkpoint (step 4)" in message
    path = next((cfg.paths.root_path / "runs").iterdir())
    state = load_checkpoint(path, torch.device("cpu"))
    assert state is not None
    assert state["optim"]["step"] == 4 and torch.isfinite(state["model"]["W"]).all()
    assert json.loads((path / Files.RUN).read_text())["status"] == "failed"
    rows = [json.loads(line) for line in (path / Files.METRICS).read_text().splitlines()]
    assert not any("months_ring" in r for r in rows)  # no epoch-end analysis ran on NaN weights


def test_huge_lr_diverges_cleanly_saying_no_checkpoint_exists(cfg_of):
    cfg = cfg_of("train.lr=1e6", "train.max_steps=30", "train.batch_size=16")
    with pytest.raises(train_mod.TrainingDiverged, match="no good checkpoint exists"):
        train_mod.run(cfg)
    path = next((cfg.paths.root_path / "runs").iterdir())
    assert not (path / Files.CHECKPOINT).exists() and not (path / Files.WEIGHTS).exists()


def test_default_config_sigterm_mid_epoch_checkpoints_and_resumes_bitwise(cfg_of, tmp_path, monkeypatch):
    """Default training settings (checkpoint once per epoch, log every 50 steps) on small batches:
    SIGTERM mid-epoch checkpoints at the current step, marks the run interrupted, exits 143, and the
    same command resumes to bitwise the weights and history of an uninterrupted run."""
    common = ("train.max_steps=null", "train.epochs=2", "train.batch_size=8", "train.log_every=5")
    full_path = train_mod.run(cfg_of(*common, root=tmp_path / "full"))
    full = train_mod.load_run(full_path)
    cfg = cfg_of(*common, "wandb.group=first", root=tmp_path / "cut")
    spe = json.loads((full_path / Files.RUN).read_text())["steps_per_epoch"]
    cut = spe + spe // 2 + 2  # in the middle of the second epoch, not on a log step
    real = _trigger(monkeypatch, cut, lambda opt: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(train_mod.TrainingInterrupted) as err:
        train_mod.run(cfg)
    assert err.value.exit_code == 143 and "SIGTERM" in str(err.value)
    path = tmp_path / "cut" / "runs" / full_path.name
    info = json.loads((path / Files.RUN).read_text())
    assert info["status"] == "interrupted" and info["step"] == cut
    state = load_checkpoint(path, torch.device("cpu"))
    assert state is not None and state["optim"]["step"] == cut
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored
    monkeypatch.setattr(train_mod.Optimisation, "update", real)
    resumed_path = train_mod.run(cfg_of(*common, "wandb.group=second", root=tmp_path / "cut"))
    resumed = train_mod.load_run(resumed_path)
    np.testing.assert_array_equal(resumed.W, full.W)
    np.testing.assert_array_equal(resumed.b, full.b)
    assert resumed.meta["wandb_group"] == "first"  # the resumed segment stays in its group

    def history(p):
        rows = [json.loads(line) for line in (p / Files.METRICS).read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "windows_per_s"} for r in rows]

    assert history(resumed_path) == history(full_path)  # nothing lost, nothing duplicated


@pytest.mark.slow
def test_sigterm_to_the_train_command_exits_143_with_one_line_and_resumes(shared, tmp_path):
    import subprocess
    import sys
    import time

    artifacts, files = shared
    root = tmp_path / "data"
    root.mkdir()
    (root / "artifacts").symlink_to(artifacts)
    args = [
        sys.executable,
        "-m",
        "bows.training.train",
        f"paths.root={root}",
        *COMMON,
        files,
        "wandb=offline",
        "train.max_steps=3000",
        "train.batch_size=8",
        "train.log_every=10",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(root.glob("runs/*/metrics.jsonl")):
        time.sleep(0.5)
    while time.time() < deadline and not list(root.glob("runs/*/metrics.jsonl"))[0].read_text():
        time.sleep(0.5)  # training has logged: the signal lands mid-run
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    last = [line for line in err.splitlines() if line.strip() and "%|" not in line][-1]
    assert last.startswith("error: interrupted by SIGTERM at step ") and "re-run the same command" in last
    [run] = list(root.glob("runs/*"))
    info = json.loads((run / Files.RUN).read_text())
    assert info["status"] == "interrupted"
    state = load_checkpoint(run, torch.device("cpu"))
    assert state is not None and state["optim"]["step"] == info["step"]
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)  # the same command resumes
    assert again.returncode == 0, again.stderr[-2000:]
    assert [p.name for p in root.glob("runs/*")] == [run.name]
    done = json.loads((run / Files.RUN).read_text())
    assert done["status"] == "finished" and done["step"] == 3000
    rows = [json.loads(line) for line in (run / Files.METRICS).read_text().splitlines() if "loss" in line]
    assert [r["step"] for r in rows if "loss" in r] == list(range(10, 3001, 10))  # no row lost or repeated
