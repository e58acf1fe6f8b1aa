"""Sweep and experiment configs compose; the sweep index; real multiruns through Hydra launchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from bows.artifacts import Files, atomic_write_json
from bows.config import CONF_DIR, compose
from bows.training.sweep import JOB_FILE, build_index

REPO = Path(__file__).resolve().parent.parent


def _hydra_cfg(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=True)


def test_sweep_and_experiment_configs_compose():
    cfg = _hydra_cfg("+sweep=weight_decay")
    assert cfg.hydra.sweeper.params["train.weight_decay"] == "0.0,0.5,1.0,2.0,4.0"
    assert cfg.hydra.callbacks.sweep_index._target_ == "bows.training.sweep.SweepIndex"
    assert compose(["+sweep=weight_decay"]).wandb.group is None  # derived per multirun (bows_sweep.json)
    paper = _hydra_cfg("+experiment=paper_structure_sweep")
    sizes = [int(v) for v in paper.hydra.sweeper.params["model.latent_size"].split(",")]
    assert sizes == [50, 75, 100, 125, 150, 200, 250, 300, 400, 600, 800, 1000, 2000, 4000, 6000, 10000]
    assert paper.hydra.sweeper.params["train.seed"] == "1,2,3"
    for name, wd in [("paper_wd4", 4.0), ("paper_wd1", 1.0), ("paper_structure_sweep", 1.0)]:
        c = compose([f"+experiment={name}"])
        assert (c.corpus.name, c.model.latent_size, c.train.weight_decay, c.train.seed) == ("wikitext103", 1000, wd, 1)
        assert c.window.group_size == 20


def test_build_index_from_job_records(tmp_path):
    sweep = tmp_path / "multirun"
    for job, (wd, status) in enumerate([(0.0, "finished"), (4.0, "failed")]):
        run = tmp_path / "runs" / f"key{job}"
        run.mkdir(parents=True)
        atomic_write_json(
            run / Files.RUN,
            {
                "key": f"key{job}",
                "status": status,
                "step": 10,
                "data": {"windows": "w"},
                "config": {
                    "model": {"latent_size": 8},
                    "train": {"weight_decay": wd, "seed": 1},
                    "wandb": {"group": "g"},
                },
                "summary": {"train_loss": 0.1 + job, "eval_loss": 0.2 + job},
            },
        )
        atomic_write_json(
            sweep / str(job) / JOB_FILE,
            {
                "job": job,
                "overrides": [f"train.weight_decay={wd}"],
                "status": "finished",
                "run_dir": str(run),
                "error": None,
            },
        )
    frame = build_index(sweep)
    assert list(frame["train.weight_decay"]) == [0.0, 4.0] and list(frame["status"]) == ["finished", "failed"]
    assert list(frame["eval_loss"]) == [0.2, 1.2] and list(frame["wandb.group"]) == ["g", "g"]
    pd.testing.assert_frame_equal(pd.read_parquet(sweep / Files.SWEEP_INDEX), frame)
    assert (sweep / "sweep.csv").is_file()


def _corpus(path: Path) -> Path:
    months = ["January", "February", "March", "April", "May", "June", "July", "August"]
    lines = [
        f"In {months[i % 8]} the {['river', 'market', 'army', 'harbor'][i % 4]} grew near {months[(i + 1) % 8]} "
        f"while farmers counted {['wheat', 'cattle', 'ships', 'horses'][(i // 4) % 4]} every week"
        for i in range(160)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_multirun_two_jobs_two_runs_two_wandb_runs_and_index(tmp_path, launcher):
    corpus = _corpus(tmp_path / "corpus.txt")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "BOWS_DATA": str(tmp_path / "data")}
    data = [
        f"paths.root={tmp_path / 'data'}",
        "corpus=local",
        f"corpus.files=[{corpus}]",
        "vocab.size=40",
        "vocab.min_len=0",
    ]
    # build the data once first (as on a cluster), so parallel jobs only read it
    subprocess.run(
        [sys.executable, "-m", "bows.data.binarize", *data],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    args = [
        sys.executable,
        "-m",
        "bows.training.train",
        "-m",
        "+sweep=weight_decay",
        "train.weight_decay=0.0,1.0",
        *data,
        "model.latent_size=4",
        "train.batch_size=16",
        "train.max_steps=6",
        "train.log_every=2",
        "wandb=offline",
        f"hydra/launcher={launcher}",
    ]
    if launcher == "submitit_local":
        args += ["hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [index] = list((tmp_path / "data" / "multirun").glob(f"*/*/{Files.SWEEP_INDEX}"))
    frame = pd.read_parquet(index)
    assert len(frame) == 2 and sorted(frame["train.weight_decay"]) == [0.0, 1.0]
    assert set(frame["status"]) == {"finished"} and frame["wandb.group"].nunique() == 1
    assert frame["run_dir"].nunique() == 2
    for run_dir in frame["run_dir"]:
        run = Path(run_dir)
        assert (run / Files.WEIGHTS).is_file()
        assert json.loads((run / Files.RUN).read_text())["step"] == 6
        assert len(list((run / "wandb").glob("offline-run-*"))) == 1


def test_index_is_written_as_each_job_ends_and_keeps_failed_members(tmp_path):
    """Finding 5: the index exists after every job (Hydra may re-raise before on_multirun_end);
    a failed member has status=failed and its error; a started job shows as running."""
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from bows.training.sweep import SweepIndex

    sweep = tmp_path / "multirun"
    run = tmp_path / "runs" / "good"
    run.mkdir(parents=True)
    atomic_write_json(
        run / Files.RUN,
        {"key": "good", "status": "finished", "config": {"train": {"lr": 5e-4}}, "summary": {"train_loss": 0.1}},
    )

    def config(job: int, lr: str):
        return OmegaConf.create(
            {
                "hydra": {
                    "mode": RunMode.MULTIRUN,
                    "sweep": {"dir": str(sweep)},
                    "runtime": {"output_dir": str(sweep / str(job))},
                    "job": {"num": job},
                    "overrides": {"task": [f"train.lr={lr}"]},
                }
            }
        )

    callback = SweepIndex()
    callback.on_job_start(config(0, "5e-4"))
    assert list(pd.read_parquet(sweep / Files.SWEEP_INDEX)["status"]) == ["running"]
    good = JobReturn(status=JobStatus.COMPLETED, _return_value=run)
    callback.on_job_end(config(0, "5e-4"), good)
    callback.on_job_start(config(1, "1e9"))
    bad = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("loss became NaN at step 3"))
    callback.on_job_end(config(1, "1e9"), bad)  # no on_multirun_end: Hydra re-raised the failure
    frame = pd.read_parquet(sweep / Files.SWEEP_INDEX)
    assert list(frame["status"]) == ["finished", "failed"]
    assert frame["error"].iloc[1] == "RuntimeError: loss became NaN at step 3"
    assert frame["run_dir"].iloc[0] == str(run) and frame["train.lr"].iloc[0] == 5e-4
    assert pd.read_csv(sweep / "sweep.csv")["status"].tolist() == ["finished", "failed"]
    assert not list(sweep.glob(".*.tmp-*"))  # atomic rewrites leave no temporary files


@pytest.mark.slow
def test_multirun_with_a_failing_member_writes_the_index_exits_nonzero_and_analyses_the_rest(tmp_path):
    from test_study import write_corpus

    write_corpus(tmp_path / "corpus", docs=40, lines=10)
    env = {**os.environ, "WANDB_MODE": "disabled"}
    data = [
        f"paths.root={tmp_path / 'data'}",
        "corpus=local",
        f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
        "vocab.size=80",
        "window.group_size=2",
        "wandb=disabled",
    ]
    args = [
        sys.executable,
        "-m",
        "bows.training.train",
        "-m",
        "train.lr=5e-4,1e9",
        *data,
        "model.latent_size=4",
        "train.batch_size=16",
        "train.max_steps=6",
        "train.num_threads=1",
    ]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0, done.stderr[-2000:]
    [index] = list((tmp_path / "data" / "multirun").glob(f"*/*/{Files.SWEEP_INDEX}"))
    frame = pd.read_parquet(index).sort_values("job")
    assert list(frame["status"]) == ["finished", "failed"], frame
    assert "TrainingDiverged" in frame["error"].iloc[1]
    analysed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bows.analysis.analyze",
            f"analyze.sweep={index}",
            *data,
            "analyze.umap=false",
            "analyze.heldout_windows=50",
            "stats.min_count=1",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert (index.parent / "analysis" / "meta.json").is_file(), analysed.stderr[-3000:]
    meta = json.loads((index.parent / "analysis" / "meta.json").read_text())
    assert meta["runs"] == 1 and [s["status"] for s in meta["skipped"]] == ["failed"], analysed.stderr[-2000:]
    assert meta["figures"], meta  # every sweep figure the one finished run allows
