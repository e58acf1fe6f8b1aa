"""The trainer: batches == brute force, loss falls, determinism, bitwise resume, run dir, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from bows.artifacts import Files, build_artifact
from bows.core.geometry import ring_analysis
from bows.core.groups import DAYS, MONTHS
from bows.data.windows import Windows, heldout_rows
from bows.errors import BowsError
from bows.training import train as train_mod
from bows.training.batches import epoch_batches, gather, tensor_batches, to_device
from bows.training.checkpoint import load_checkpoint, save_checkpoint
from bows.training.model import TiedAutoencoder
from bows.training.optim import Optimisation, fit

VOCAB = 48


def _windows(n: int, seed: int) -> Windows:
    """Correlated toy windows: words come in groups of 4 that co-occur; some windows are empty."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        groups = rng.choice(VOCAB // 4, size=rng.integers(0, 4), replace=False)
        words = {int(4 * g + k) for g in groups for k in range(4) if rng.random() < 0.8}
        rows.append(sorted(words))
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.array([w for r in rows for w in r], dtype=np.uint16)
    return Windows(offsets=offsets, indices=indices, vocab_size=VOCAB)


def make_artifact(root, vocab_size: int = VOCAB, n_train: int = 600, n_val: int = 120):
    """A real binarize artifact (content-addressed) with tiny windows, and its Windows."""
    splits = {"train": _windows(n_train, 0), "validation": _windows(n_val, 1)}
    with build_artifact(root, "binarize", f"fake{vocab_size}{n_train}", {"fake": True}) as b:
        for split, w in splits.items():
            np.save(b.path(Files.offsets(split)), w.offsets)
            np.save(b.path(Files.indices(split)), w.indices)
        b.stats = {split: {"windows": len(w)} for split, w in splits.items()}
        b.extra["vocab_size"] = vocab_size
    art = b.artifact
    return art, Windows(splits["train"].offsets, splits["train"].indices, vocab_size), splits["validation"]


@pytest.fixture
def data(tmp_path, monkeypatch):
    art, tr, val = make_artifact(tmp_path)
    monkeypatch.setattr(train_mod, "load_data", lambda cfg: (art, tr, val))
    return art, tr, val


def _cfg(make_config, *extra):
    return make_config(
        "model.latent_size=6",
        "train.batch_size=32",
        "train.lr=0.02",
        "train.weight_decay=0.01",
        "train.epochs=3",
        "train.max_steps=null",
        "train.log_every=5",
        "train.eval_windows=100",
        "train.device=cpu",
        *extra,
    )


def test_batches_equal_brute_force_densification():
    w = _windows(200, 5)
    dev = to_device(w.offsets, w.indices, VOCAB, torch.device("cpu"))
    assert len(dev) == int((np.diff(w.offsets) > 0).sum())  # empty windows skipped
    rows = dev.rows[torch.tensor([5, 0, 17, 3, 99])]
    batch = gather(dev, rows, dense=True)
    dense = w.to_csr().toarray().astype(np.float32)
    np.testing.assert_array_equal(batch.dense().numpy(), dense[rows.numpy()])
    for i, r in enumerate(rows.tolist()):
        indices, offsets = batch.csr()
        got = indices[offsets[i] : offsets[i + 1]].numpy()
        np.testing.assert_array_equal(got, w.indices[w.offsets[r] : w.offsets[r + 1]])
    # an epoch visits every non-empty window exactly once; order depends on (seed, epoch) only
    seen = torch.cat([b.dense() for b in epoch_batches(dev, 64, seed=3, epoch=1, dense=True)])
    assert seen.shape[0] == len(dev) and seen.sum() == dense.sum()
    again = torch.cat([b.dense() for b in epoch_batches(dev, 64, seed=3, epoch=1, skip=2, dense=True)])
    torch.testing.assert_close(again, seen[128:])
    other = torch.cat([b.dense() for b in epoch_batches(dev, 64, seed=3, epoch=2, dense=True)])
    assert not torch.equal(other, seen)


def test_evaluation_rows_are_even_and_nonempty():
    w = _windows(300, 2)
    rows = heldout_rows(w.offsets, 50)
    assert len(rows) == 50 and np.all(np.diff(w.offsets)[rows] > 0) and np.all(np.diff(rows) > 0)


def test_fit_loss_falls_with_per_instance_decay_and_clip():
    torch.manual_seed(0)
    w = _windows(400, 3)
    x = torch.from_numpy(w.to_csr().toarray().astype(np.float32))
    model = TiedAutoencoder(VOCAB, 8, instances=2)
    opt = Optimisation(model, lr=1e-2, weight_decay=torch.tensor([0.0, 50.0]), total_steps=100, grad_clip=1.0)
    from bows.training.batches import Batch
    from bows.training.optim import batch_loss

    before = batch_loss(model, Batch(target=x)).detach()
    fit(model, lambda e, s: tensor_batches(x, 64, 0, e, s), opt, epochs=20, steps_per_epoch=7)
    after = batch_loss(model, Batch(target=x)).detach()
    assert opt.step == 100 and opt.lr < 1e-6  # cosine to zero
    assert after[0] < 0.7 * before[0]
    assert model.W[1].norm() < 0.5 * model.W[0].norm()  # the strongly decayed instance shrinks


def test_bf16_autocast_path_trains_on_cpu():
    torch.manual_seed(0)
    w = _windows(128, 4)
    dev = to_device(w.offsets, w.indices, VOCAB, torch.device("cpu"))
    model = TiedAutoencoder(VOCAB, 8)
    opt = Optimisation(model, lr=1e-2, weight_decay=0.0, total_steps=8, autocast=torch.bfloat16)
    losses = [float(opt.update(b)[0]) for e in range(4) for b in epoch_batches(dev, 64, 0, e)]
    assert all(np.isfinite(losses)) and model.W.dtype == torch.float32 and losses[-1] < losses[0]


def test_train_run_dir_loss_falls_and_skip(make_config, data, caplog):
    cfg = _cfg(make_config)
    path = train_mod.run(cfg)
    info = json.loads((path / Files.RUN).read_text())
    assert info["status"] == "finished" and info["step"] == info["total_steps"] == 3 * -(
        -info["data"]["train_windows"] // 32
    )
    rows = [json.loads(line) for line in (path / Files.METRICS).read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r]
    assert len(evals) == 3 and losses[-1] < 0.8 * losses[0] and evals[-1] < evals[0]
    weights = load_file(str(path / Files.WEIGHTS))
    assert weights["W"].shape == (6, VOCAB) and weights["b"].shape == (VOCAB,)
    ckpt = load_checkpoint(path, torch.device("cpu"))
    assert ckpt is not None and ckpt["optim"]["step"] == info["step"]
    run = train_mod.load_run(path)
    assert run.config.model.latent_size == 6 and run.windows.path == data[0].path
    np.testing.assert_array_equal(run.W, weights["W"])
    with caplog.at_level("INFO"):
        assert train_mod.run(cfg) == path
    assert "finished run, skipped" in caplog.text


def test_same_seed_same_weights_and_resume_is_bitwise(make_config, data, tmp_path, monkeypatch):
    full = train_mod.load_run(train_mod.run(_cfg(make_config, "train.checkpoint_every=7")))
    again = train_mod.load_run(train_mod.run(_cfg(make_config, f"paths.root={tmp_path / 'again'}")))
    np.testing.assert_array_equal(full.W, again.W)

    # interrupt a third copy after 23 steps (mid-epoch, after a checkpoint at step 21), then resume
    root = tmp_path / "resumed"
    cfg = _cfg(make_config, f"paths.root={root}", "train.checkpoint_every=7")
    real_update = train_mod.Optimisation.update

    def crashing_update(self, batch):
        if self.step == 23:
            raise KeyboardInterrupt
        return real_update(self, batch)

    monkeypatch.setattr(train_mod.Optimisation, "update", crashing_update)
    with pytest.raises(KeyboardInterrupt):
        train_mod.run(cfg)
    path = root / "runs" / full.path.name
    assert json.loads((path / Files.RUN).read_text())["status"] == "interrupted"
    ckpt = load_checkpoint(path, torch.device("cpu"))
    assert ckpt is not None and ckpt["optim"]["step"] == 21
    monkeypatch.setattr(train_mod.Optimisation, "update", real_update)
    resumed = train_mod.load_run(train_mod.run(cfg))
    np.testing.assert_array_equal(resumed.W, full.W)
    np.testing.assert_array_equal(resumed.b, full.b)
    assert resumed.meta["summary"]["eval_loss"] == full.meta["summary"]["eval_loss"]
    metrics = [json.loads(line) for line in (path / Files.METRICS).read_text().splitlines()]
    steps = [r["step"] for r in metrics if "loss" in r]
    assert steps == sorted(set(steps))  # no duplicated rows after the resume


def test_a_checkpoint_swapped_in_from_another_run_is_refused(make_config, data, monkeypatch):
    """Two interrupted runs of the same shape (seeds 1 and 2): their checkpoints swapped, re-running
    seed 1 stops with one line naming the checkpoint and both runs, instead of silently continuing
    seed 2's weights under seed 1's key; nothing is overwritten."""
    real_update = train_mod.Optimisation.update

    def crashing_update(self, batch):
        if self.step == 9:
            raise KeyboardInterrupt
        return real_update(self, batch)

    monkeypatch.setattr(train_mod.Optimisation, "update", crashing_update)
    paths = {}
    for seed in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            train_mod.run(_cfg(make_config, f"train.seed={seed}", "train.checkpoint_every=4"))
        [paths[seed]] = [p for p in (make_config().paths.root_path / "runs").iterdir() if p not in paths.values()]
    monkeypatch.setattr(train_mod.Optimisation, "update", real_update)
    one, two = (paths[s] / Files.CHECKPOINT for s in (1, 2))
    first, second = one.read_bytes(), two.read_bytes()
    one.write_bytes(second)
    two.write_bytes(first)
    with pytest.raises(BowsError, match=f"belongs to run {paths[2].name}, not to this run \\({paths[1].name}\\)"):
        train_mod.run(_cfg(make_config, "train.seed=1", "train.checkpoint_every=4"))
    assert one.read_bytes() == second and not (paths[1] / Files.WEIGHTS).exists()
    one.write_bytes(first)  # its own checkpoint back: the run resumes and finishes
    assert (train_mod.run(_cfg(make_config, "train.seed=1", "train.checkpoint_every=4")) / Files.WEIGHTS).is_file()


def test_diverging_loss_stops_and_keeps_checkpoint(make_config, data):
    cfg = _cfg(make_config, "train.lr=1e30", "train.log_every=1")
    with pytest.raises(train_mod.TrainingDiverged, match="loss became"):
        train_mod.run(cfg)
    path = next((cfg.paths.root_path / "runs").iterdir())
    assert json.loads((path / Files.RUN).read_text())["status"] == "failed"
    assert not (path / Files.WEIGHTS).exists()


def test_clear_errors(make_config, data, tmp_path, monkeypatch):
    with pytest.raises(BowsError, match="no CUDA GPU") if not torch.cuda.is_available() else pytest.raises(BowsError):
        train_mod.run(_cfg(make_config, "train.device=cuda:99"))
    with pytest.raises(BowsError, match="not a device"):
        train_mod.resolve_device("cpux")
    with pytest.raises(Exception, match="latent_size"):
        _cfg(make_config, "model.latent_size=0")
    # a checkpoint whose vocabulary differs from the data's is refused and left untouched
    path = train_mod.run(_cfg(make_config, "train.max_steps=4"))
    ckpt = load_checkpoint(path, torch.device("cpu"))
    assert ckpt is not None
    ckpt["vocab_size"] = VOCAB + 1
    save_checkpoint(path, ckpt)
    info = json.loads((path / Files.RUN).read_text())
    info["status"] = "running"
    (path / Files.RUN).write_text(json.dumps(info))
    before = (path / Files.CHECKPOINT).read_bytes()
    with pytest.raises(BowsError, match="vocab"):
        train_mod.run(_cfg(make_config, "train.max_steps=4"))
    assert (path / Files.CHECKPOINT).read_bytes() == before
    with pytest.raises(BowsError, match="not a training run"):
        train_mod.load_run(tmp_path)
    # a finished run whose windows artifact has gone is reported, not half-loaded
    done = train_mod.run(_cfg(make_config, "train.max_steps=3"))
    info = json.loads((done / Files.RUN).read_text())
    info["data"]["windows"] = str(tmp_path / "artifacts" / "binarize" / "gone")
    (done / Files.RUN).write_text(json.dumps(info))
    with pytest.raises(BowsError, match="missing or broken"):
        train_mod.load_run(done)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_closely(make_config, data, tmp_path):
    cpu = train_mod.load_run(train_mod.run(_cfg(make_config, "train.max_steps=20")))
    gpu = train_mod.load_run(
        train_mod.run(_cfg(make_config, f"paths.root={tmp_path / 'gpu'}", "train.device=cuda", "train.max_steps=20"))
    )
    np.testing.assert_allclose(gpu.W, cpu.W, atol=1e-4)


def test_damaged_final_weights_are_rebuilt_from_the_checkpoint(make_config, data):
    cfg = _cfg(make_config, "train.max_steps=5")
    path = train_mod.run(cfg)
    before = (path / Files.WEIGHTS).read_bytes()
    (path / Files.WEIGHTS).write_bytes(before[: len(before) // 2])  # truncated after the run finished
    assert train_mod.run(cfg) == path
    assert (path / Files.WEIGHTS).read_bytes() == before  # rebuilt, bitwise identical
    assert train_mod.load_run(path).W.shape == (6, VOCAB)


def test_calendar_rings_gathers_the_group_columns_it_scores():
    """Epoch-end ring scores: the group columns gathered on the device give the ring scores of the full matrix."""
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(40)]
    vocab[5:12], vocab[20:32] = list(DAYS), list(MONTHS)
    W = rng.normal(size=(16, 40))
    angle = 2 * np.pi * np.arange(12) / 12
    W[:2, 20:32] = 5 * np.stack([np.cos(angle), np.sin(angle)])  # a perfect month ring
    W[:, [20, 21]] = W[:, [21, 20]]  # ... with January and February swapped
    got = train_mod.calendar_rings(torch.from_numpy(W).float(), vocab)
    Wf = torch.from_numpy(W).float().numpy()
    assert got["months_ring"] == ring_analysis(Wf[:, 20:32].T, MONTHS)["adjacent_fraction"] == 10 / 12
    assert got["days_ring"] == ring_analysis(Wf[:, 5:12].T, DAYS)["adjacent_fraction"]
    partial = train_mod.calendar_rings(torch.from_numpy(W).float(), vocab[:25])
    assert partial["months_ring"] is None and "missing" in str(partial["months_ring_reason"])  # a missing month
