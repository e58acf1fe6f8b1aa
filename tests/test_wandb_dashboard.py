"""The W&B dashboard (issue 10): a real 3-member weight-decay sweep offline, read back with wandb's own
record schema; sweep groups derived from what a sweep is; W&B Sweeps' agent command line; the
geometry dynamics probe; console lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from test_study import write_corpus
from wandb_offline import read_runs

from bows.artifacts import Files
from bows.config import CONF_DIR, compose
from bows.training.dynamics import KEYS, GeometryProbe, sample_words
from bows.training.sweep import sweep_definition
from bows.training.train import epoch_line, progress_line

REPO = Path(__file__).resolve().parent.parent
DYNAMICS = {"weights/frobenius", "weights/norm_mean", "weights/represented", "bias/min", "grad/norm"}
GEOMETRY = (
    "geometry/months/ring_score",
    "coactivation/pearson_dot_corr",
    "clusters/knn_purity",
    "dimensionality/mean",
)


# ----------------------------------------------------------------------------- fast
def _driver_config(*overrides: str):
    """The multirun driver's config, composed as Hydra's sweep driver composes it."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        return loader.load_configuration("config", list(overrides), run_mode=RunMode.MULTIRUN)


def test_sweep_group_is_what_the_sweep_is():
    base = _driver_config("+sweep=weight_decay", "model.latent_size=16")
    group = sweep_definition(base)["group"]
    assert group.startswith("wd-sweep-embedded-L16-") and "20" not in group.split("-")[0]
    # bookkeeping (threads, data root, launcher, W&B mode) does not change what the sweep is
    same = _driver_config(
        "+sweep=weight_decay", "model.latent_size=16", "train.num_threads=1", "paths.root=/elsewhere", "wandb=disabled"
    )
    assert sweep_definition(same)["group"] == group
    # a fixed setting or the swept values do
    assert sweep_definition(_driver_config("+sweep=weight_decay", "model.latent_size=32"))["group"] != group
    cli = _driver_config("+sweep=weight_decay", "model.latent_size=16", "train.weight_decay=0,1")
    assert sweep_definition(cli)["axes"] == {"train.weight_decay": ["0", "1"]}
    assert sweep_definition(cli)["group"] != group
    grid = sweep_definition(_driver_config("train.weight_decay=0,1", "model.latent_size=8,16"))
    assert list(grid["axes"]) == ["model.latent_size", "train.weight_decay"] and "L-x-wd-sweep" in grid["group"]


def test_geometry_probe_matches_a_direct_computation():
    torch.manual_seed(0)
    V, L = 300, 6
    W, b = torch.randn(L, V) * 0.4, torch.randn(V) * 0.1
    W.requires_grad_(True)
    (W.square().sum() + b.sum()).backward()
    probe = GeometryProbe(V, torch.device("cpu"))
    values = GeometryProbe.as_dict(probe.measure(W, b, [W]).tolist())
    assert list(values) == list(KEYS)
    Wn = W.detach().numpy()
    norms = np.linalg.norm(Wn, axis=0)
    assert values["weights/frobenius"] == pytest.approx(np.linalg.norm(Wn), rel=1e-5)
    assert values["weights/norm_q50"] == pytest.approx(np.quantile(norms, 0.5), rel=1e-5)
    assert values["weights/represented"] == int((norms > 0.5).sum())
    assert values["grad/norm"] == pytest.approx(2 * np.linalg.norm(Wn), rel=1e-5)
    assert values["bias/min"] == pytest.approx(float(b.min()), rel=1e-6)
    sample = sample_words(V).numpy()
    assert len(sample) == len(set(sample)) and sample[:39].tolist() == list(range(39))
    unit = Wn[:, sample] / norms[sample]
    D = norms[sample] ** 2 / ((unit.T @ Wn) ** 2).sum(1)
    assert values["weights/dimensionality_mean"] == pytest.approx(D.mean(), rel=1e-4)


def test_console_lines_are_short_and_readable():
    row = {
        "step": 200,
        "epoch": 0,
        "loss": 0.0123456789,
        "lr": 4.9e-4,
        "windows_per_s": 12345.6,
        "weights/frobenius": 12.3456789,
        "weights/represented": 17,
    }
    line = progress_line("L50-wd0.5-s1", row, 4000, 192.0)
    assert line.startswith("L50-wd0.5-s1 step 200/4,000 (5%)") and "loss 0.012346" in line
    assert "12,346 windows/s" in line and "ETA 3m12s" in line and "0.0123456789" not in line
    epoch = epoch_line("L50-wd0.5-s1", {"step": 400, "epoch": 1, "eval_loss": 0.01, "months_ring": 0.5}, 10)
    assert "eval loss 0.01" in epoch and "months ring 0.5" in epoch and "days ring n/a" in epoch


# ----------------------------------------------------------------------------- W&B Sweeps
def agent_command(sweep_yaml: Path, params: dict, interpreter: str) -> list[str]:
    """The command line ``wandb agent`` runs for one parameter set, built with wandb's own helpers
    (the loop of ``wandb.wandb_agent.Agent._command_run``; only ``python`` -> ``interpreter``)."""
    from wandb.sdk.launch.sweeps import utils as sweep_utils

    definition = yaml.safe_load(sweep_yaml.read_text())
    command = {"args": {k: {"value": v} for k, v in params.items()}, "program": definition.get("program")}
    sweep_vars = sweep_utils.create_sweep_command_args(command)
    sweep_vars.update(interpreter=[interpreter], program=[command["program"]], env=["/usr/bin/env"])
    out = []
    for c in sweep_utils.create_sweep_command(list(definition["command"])):
        c = str(c)
        out += (sweep_vars.get(c[2:-1]) or []) if c.startswith("${") and c.endswith("}") else [c]
    return out


def test_wandb_sweep_definitions_are_valid():
    sweeps = sorted((REPO / "conf" / "wandb_sweeps").glob("*.yaml"))
    assert {p.stem for p in sweeps} >= {"weight_decay", "wd_latent_grid", "bayes_lr_wd"}
    for path in sweeps:
        d = yaml.safe_load(path.read_text())
        assert d["method"] in ("grid", "random", "bayes") and d["metric"]["name"] == "eval/loss"
        assert "${args_no_hyphens}" in d["command"] and "bows.training.train" in d["command"]
        cmd = agent_command(path, {k: 1 for k in d["parameters"]}, "python")
        assert cmd[:4] == ["/usr/bin/env", "python", "-m", "bows.training.train"]
        assert all("=" in a and not a.startswith("-") for a in cmd[4:])
        for key, spec in d["parameters"].items():  # every grid value is a valid Hydra override
            for value in spec.get("values", [spec.get("min"), spec.get("max")]):
                cfg = compose([f"{key}={value}"])
                section, field = key.split(".")
                assert getattr(getattr(cfg, section), field) == pytest.approx(value)


# ----------------------------------------------------------------------------- end to end
def _data(tmp_path: Path) -> list[str]:
    write_corpus(tmp_path / "corpus", docs=40, lines=8)
    return [
        f"paths.root={tmp_path / 'data'}",
        "corpus=local",
        f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
        "vocab.size=80",
        "vocab.sample_fraction=1.0",
    ]


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return {**env, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_wandb_agent_command_runs_offline(tmp_path):
    data = _data(tmp_path)
    params = {
        "train.weight_decay": 0.5,
        "model.latent_size": 8,
        "train.max_steps": 10,
        "train.batch_size": 32,
        "train.num_threads": 1,
        "train.eval_windows": 100,
        **dict(a.split("=", 1) for a in data),
    }
    cmd = agent_command(REPO / "conf" / "wandb_sweeps" / "weight_decay.yaml", params, sys.executable)
    done = subprocess.run(cmd, cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = read_runs(*(tmp_path / "data" / "runs").iterdir())
    assert run.flat_config()["train.weight_decay"] == 0.5 and run.name == "L8-wd0.5-s1"
    assert "eval/loss" in run.summary and run.exit_code == 0


@pytest.mark.slow
def test_weight_decay_sweep_dashboard(tmp_path):
    data = _data(tmp_path)
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "bows.data.binarize", *data], cwd=REPO, env=env, check=True, timeout=300)
    sweep = [
        sys.executable,
        "-m",
        "bows.training.train",
        "-m",
        "+sweep=weight_decay",
        "train.weight_decay=0,1,4",
        *data,
        "model.latent_size=8",
        "train.batch_size=32",
        "train.max_steps=20",
        "train.log_every=5",
        "train.num_threads=1",
        "train.eval_windows=100",
    ]
    first = subprocess.run(sweep, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    log = first.stdout + first.stderr
    assert "step 5/20" in log and "windows/s" in log and "ETA" in log  # one line per interval, no bars
    assert "wandb sync" in log and "epoch 1/" in log
    # a relaunch (new sweep dir, finished members skipped) derives the same group
    second = subprocess.run(sweep, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    indexes = sorted((tmp_path / "data" / "multirun").glob(f"*/*/{Files.SWEEP_INDEX}"))
    assert len(indexes) == 2
    groups = {g for index in indexes for g in pd.read_parquet(index)["wandb.group"]}
    assert len(groups) == 1
    [group] = groups
    assert group.startswith("wd-sweep-local-L8-")

    index = indexes[-1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bows.analysis.analyze",
            f"analyze.sweep={index}",
            *data,
            "stats.min_count=1",
            "analyze.umap=false",
            "analyze.heldout_windows=200",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dirs = sorted((tmp_path / "data" / "runs").iterdir())
    assert len(run_dirs) == 3
    train = [r for d in run_dirs for r in read_runs(d)]
    analysis = [r for d in run_dirs for r in read_runs(d / "analysis")]
    assert len(train) == 3 and len(analysis) == 3  # the relaunch skipped finished members: no new segments
    for run in train + analysis:
        assert run.group == group and "corpus:local" in run.tags and run.exit_code == 0
    for run in train:
        assert run.job_type == "train" and run.id.startswith("train-") and "job:train" in run.tags
        assert DYNAMICS <= run.history_keys() and {"train/loss", "train/lr", "eval/loss"} <= run.history_keys()
        assert "geometry/months/ring_score" in run.history_keys()
        [model] = [a for a in run.artifacts if a["type"] == "model"]
        assert set(model["aliases"]) >= {"latest", "final"}
        assert model["files"] == sorted([Files.CONFIG, Files.WEIGHTS])
        meta = model["metadata"]
        assert meta["config"]["train"]["weight_decay"] == run.flat_config()["train.weight_decay"]
        assert meta["data"]["digest"] and meta["metrics"]["eval_loss"] is not None
    # one comparable record per model: config keys, eval loss and geometry side by side
    records = pd.DataFrame(
        [
            {
                **{k: r.flat_config()[k] for k in ("train.weight_decay", "model.latent_size")},
                **{k: r.summary.get(k) for k in ("eval/loss", *GEOMETRY)},
                "name": r.name,
            }
            for r in analysis
        ]
    )
    assert sorted(records["train.weight_decay"]) == [0, 1, 4] and set(records["model.latent_size"]) == {8}
    assert records[["eval/loss", *GEOMETRY]].notna().all().all(), records.T
    assert set(records["name"]) == {"L8-wd0-s1-analysis", "L8-wd1-s1-analysis", "L8-wd4-s1-analysis"}
    for run in analysis:
        assert run.id.startswith("analyze-") and run.job_type == "analyze"
        # lineage: wandb refuses use_artifact offline, so the reference travels in the config
        key = run.id.removeprefix("analyze-")
        assert run.flat_config()["analysis.model_artifact"] == f"model-{key}:final"
        assert run.flat_config()["analysis.training_run"] == f"train-{key}" in {t.id for t in train}
    # one sweep-summary run, with a deterministic id
    summary_dir = index.parent / "analysis"
    [summary] = read_runs(summary_dir)
    assert summary.job_type == "sweep-summary" and summary.group == group
    figs = {p.stem for p in (summary_dir / "figures").glob("*.png")}
    assert {"metrics_vs_weight_decay", "pca_snapshots"} <= figs and "phase_diagram" not in figs
    assert "structure_vs_latent" not in figs
