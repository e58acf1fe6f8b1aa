"""The W&B seam: disabled is a no-op, offline writes under dir/wandb, runs always finish (failed = exit 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bows import tracking
from bows.config import WandbConfig
from bows.errors import BowsError


class FakeRun:
    def __init__(self, **kwargs):
        self.kwargs, self.logged, self.exit_code = kwargs, [], None
        self.summary = {}

    def log(self, metrics, step=None):
        self.logged.append((metrics, step))

    def finish(self, exit_code=0):
        self.exit_code = exit_code


@pytest.fixture
def fake_wandb(monkeypatch):
    import wandb

    runs = []

    def init(**kwargs):
        runs.append(FakeRun(**kwargs))
        return runs[-1]

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb, "init", init)
    return runs


def test_disabled_is_a_noop(tmp_path):
    with tracking.tracking_run(WandbConfig(mode="disabled"), name="x", job_type="t", config={}, dir=tmp_path) as tr:
        assert not tr.enabled
        tr.log({"a": 1.0}, step=1)
        tr.summary({"b": 2})
        tr.heatmap("h", np.eye(2), ["a", "b"])
        tr.table("t", pd.DataFrame({"a": [1]}))
        tr.artifact(tmp_path, "x", "y")
    assert not (tmp_path / "wandb").exists()


def test_environment_mode_is_honoured_unless_given_explicitly(monkeypatch):
    monkeypatch.delenv("WANDB_DISABLED", raising=False)
    monkeypatch.setenv("WANDB_MODE", "online")
    assert tracking.resolve_mode(WandbConfig()) == "online"  # the default config: no explicit wandb=
    assert tracking.resolve_mode(WandbConfig(mode="offline")) == "offline"  # explicit wandb=offline wins
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.resolve_mode(WandbConfig()) == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    assert tracking.resolve_mode(WandbConfig()) == "offline"
    monkeypatch.setenv("WANDB_DISABLED", "true")  # the CI kill switch wins over everything
    assert tracking.resolve_mode(WandbConfig(mode="online")) == "disabled"


def test_composed_default_leaves_the_mode_to_the_environment():
    from bows.config import compose

    assert compose([]).wandb.mode is None
    assert compose(["wandb=offline"]).wandb.mode == "offline"


def test_online_without_network_fails_fast_with_the_fix(tmp_path, monkeypatch, fake_wandb):
    import time

    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # discard port: connection refused
    start = time.monotonic()
    with pytest.raises(BowsError, match="wandb=offline"):
        with tracking.tracking_run(WandbConfig(mode="online"), name="x", job_type="t", config={}, dir=tmp_path):
            pass
    assert time.monotonic() - start < 30 and fake_wandb == []


def test_runs_finish_and_failures_are_marked(tmp_path, fake_wandb):
    cfg = WandbConfig(mode="offline", group="sweep-1")
    with tracking.tracking_run(cfg, name="ok", job_type="train", config={"a": 1}, dir=tmp_path / "ok") as tr:
        tr.log({"train/loss": 0.5}, step=3)
    with pytest.raises(RuntimeError):
        with tracking.tracking_run(
            cfg, name="bad", job_type="train", config={}, dir=tmp_path / "bad", run_id="abc", resume=True
        ):
            raise RuntimeError("boom")
    ok, bad = fake_wandb
    assert ok.exit_code == 0 and ok.logged == [({"train/loss": 0.5}, 3)] and ok.kwargs["group"] == "sweep-1"
    assert ok.kwargs["dir"] == str(tmp_path / "ok") and ok.kwargs["mode"] == "offline"
    assert bad.exit_code == 1 and bad.kwargs["id"] == "abc" and bad.kwargs["resume"] == "allow"


def test_online_without_key_is_a_clear_error(tmp_path, monkeypatch, fake_wandb):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with pytest.raises(BowsError, match="wandb login"):
        with tracking.tracking_run(WandbConfig(mode="online"), name="x", job_type="t", config={}, dir=tmp_path):
            pass
    assert fake_wandb == []


def test_offline_run_writes_files_under_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with tracking.tracking_run(
        WandbConfig(mode="offline"), name="real", job_type="test", config={"x": 1}, dir=tmp_path
    ) as tr:
        tr.log({"loss": 1.0}, step=1)
        tr.heatmap("gram", np.array([[1.0, 0.5], [0.5, 1.0]]), ["May", "June"])
        tr.summary({"final/loss": 1.0})
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
