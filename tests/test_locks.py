"""One writer per run, artifact and analysis (``bows.locks``): a second process waits or stops with one
line naming the owner, a dead owner's lock is taken over, and every multirun gets its own directory."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bows import locks
from bows.artifacts import artifact_key, build_artifact, reuse_or_key
from bows.locks import LockHeld, hold, lock_files, owner_of, read_owner

REPO = Path(__file__).resolve().parent.parent

HOLDER = textwrap.dedent(
    """
    import sys, time
    from bows.locks import hold
    with hold(sys.argv[1], "test holder"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def holder(target: Path, seconds: float = 120.0) -> subprocess.Popen:
    """Another process holding ``target``'s lock for ``seconds`` (returned once it holds it)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_stops_with_one_line_naming_the_owner(tmp_path):
    target = tmp_path / "runs" / "abc"
    proc = holder(target)
    try:
        owner = owner_of(target)
        assert owner is not None and owner.pid == proc.pid and owner.host == socket.gethostname()
        with pytest.raises(LockHeld) as err, hold(target, "train", wait=0):
            pytest.fail("took a lock another process holds")
        message = str(err.value)
        assert f"PID {proc.pid} on {socket.gethostname()}" in message and "since" in message
        assert "paths.lock_wait" in message and "\n" not in message
    finally:
        proc.kill()
        proc.wait()


def test_a_waiting_writer_gets_the_lock_when_the_owner_is_done(tmp_path):
    target = tmp_path / "runs" / "abc"
    proc = holder(target, seconds=1.5)
    start = time.monotonic()
    with hold(target, "train", wait=60) as me:
        assert time.monotonic() - start > 0.5  # it waited for the owner
        assert read_owner(target) == me and me.pid == os.getpid()
    proc.wait()
    assert not any(p.exists() for p in lock_files(target))  # released: nothing left beside the run


def test_a_dead_owners_lock_is_taken_over(tmp_path, caplog):
    target = tmp_path / "runs" / "abc"
    proc = holder(target)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9: no cleanup runs, the owner file stays
    proc.wait()
    assert read_owner(target) is not None and read_owner(target).pid == proc.pid  # type: ignore[union-attr]
    assert owner_of(target) is None  # the kernel released the flock: nobody holds it
    with caplog.at_level("INFO", logger="bows.locks"), hold(target, "train", wait=0) as me:
        assert read_owner(target) == me
    assert f"took over {target} from PID {proc.pid}" in caplog.text


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_without_flock_the_owner_file_is_the_lock(tmp_path, monkeypatch):
    """A network file system without flock: the owner file, created atomically, is the lock; same host
    and a dead PID is stale and taken over; a live PID or another host's owner is respected."""

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_flock)
    target = tmp_path / "runs" / "abc"
    target.mkdir(parents=True)
    owner_file = lock_files(target)[1]

    def record(pid: int, host: str) -> None:
        owner_file.write_text(json.dumps({"pid": pid, "host": host, "since": "2026-01-01T00:00:00Z", "what": "train"}))

    record(_dead_pid(), socket.gethostname())  # stale: taken over
    with hold(target, "train", wait=0) as me:
        assert read_owner(target) == me
        with hold(target, "train", wait=0):  # re-entrant in its own process
            pass
    assert not owner_file.exists()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record(sleeper.pid, socket.gethostname())  # alive: respected
        with pytest.raises(LockHeld, match=f"PID {sleeper.pid}"), hold(target, "train", wait=0):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    record(12345, "some-other-host")  # cannot be checked from here: respected, the message says how to clear it
    with pytest.raises(LockHeld, match=f"delete {owner_file}"), hold(target, "train", wait=0):
        pass


ARTIFACT_BUILDER = textwrap.dedent(
    """
    import sys, time
    from bows.artifacts import artifact_key, build_artifact
    root = sys.argv[1]
    with build_artifact(root, "demo", artifact_key("demo", {"a": 1}), {"a": 1}) as b:
        b.path("x.txt").write_text("first")
        print("held", flush=True)
        time.sleep(1.5)
    """
)


def test_an_artifact_being_built_elsewhere_is_waited_for_and_reused(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", ARTIFACT_BUILDER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    start = time.monotonic()
    key, found = reuse_or_key(tmp_path, "demo", {"a": 1})
    assert time.monotonic() - start > 0.5 and proc.wait() == 0
    assert found is not None and found.file("x.txt").read_text() == "first"  # theirs: not built twice
    assert key == artifact_key("demo", {"a": 1})
    with build_artifact(tmp_path, "demo", "k2", {"a": 2}) as b:  # an ordinary build leaves only its artifact
        b.path("y.txt").write_text("y")
    assert sorted(p.name for p in (tmp_path / "artifacts" / "demo").iterdir()) == sorted([key, "k2"])


def test_two_multiruns_in_the_same_second_get_their_own_directories(tmp_path, monkeypatch):
    """Both launches resolve ``hydra.sweep.dir`` to the same second: the second gets ``<time>-2``; the
    pickled config a joblib/submitit worker receives keeps its launch's directory."""
    import hydra.core.utils

    from tests.test_sweep import _hydra_cfg

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 12, 7, 10, 11, 12)

    monkeypatch.setattr(hydra.core.utils, "datetime", Frozen)
    first = _hydra_cfg(f"paths.root={tmp_path}")
    second = _hydra_cfg(f"paths.root={tmp_path}")
    a, b = Path(first.hydra.sweep.dir), Path(second.hydra.sweep.dir)
    assert a == tmp_path / "multirun" / "2026-12-07" / "10-11-12"
    assert b == a.with_name("10-11-12-2") and a.is_dir() and b.is_dir()
    assert Path(pickle.loads(pickle.dumps(second)).hydra.sweep.dir) == b  # a worker's copy: no third dir
    assert Path(second.hydra.sweep.dir) == b  # resolved again: cached
    assert sorted(p.name for p in a.parent.iterdir()) == ["10-11-12", "10-11-12-2"]


def test_a_second_trainer_on_a_held_run_stops_and_writes_nothing(make_config, tmp_path, monkeypatch):
    """The trainer takes its run's lock before it reads or writes anything there."""
    from bows.training import train as train_mod
    from bows.training.keys import run_key
    from tests.test_train import _cfg, make_artifact

    art, tr, val = make_artifact(tmp_path)
    monkeypatch.setattr(train_mod, "load_data", lambda cfg: (art, tr, val))
    cfg = _cfg(make_config)
    path = tmp_path / "runs" / run_key(cfg, art)
    proc = holder(path)
    try:
        with pytest.raises(LockHeld, match=f"is in use by PID {proc.pid} on "):
            train_mod.run(cfg)
        assert not path.exists()
    finally:
        proc.kill()
        proc.wait()
    assert train_mod.run(cfg) == path  # the owner is gone: trains
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    info = json.loads((path / "run.json").read_text())
    assert len([r for r in rows if "loss" in r]) == -(-info["total_steps"] // 5)  # log_every=5, nothing twice


@pytest.mark.slow
def test_two_trainers_on_one_run_and_a_killed_one_real_processes(tmp_path):
    """Real entry points: a trainer runs; the same run launched again as a sweep stops with one line
    naming it (its index row `failed`, not `running`); the first is killed with -9; `bows.status`
    calls the run interrupted; the same command takes the dead owner's lock over and resumes; the
    metrics hold each logged step once and W&B one segment per trainer that ran."""
    import pandas as pd

    from bows.status import Scan
    from tests.test_sweep import _corpus

    corpus = _corpus(tmp_path / "corpus.txt")
    root = tmp_path / "data"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "BOWS_DATA": str(root)}
    data = [f"paths.root={root}", "corpus=local", f"corpus.files=[{corpus}]", "vocab.size=40", "vocab.min_len=0"]
    steps, log_every = 600, 10  # a tiny corpus: ~9 steps per epoch, a checkpoint each
    train = [
        *data,
        "model.latent_size=4",
        "train.batch_size=16",
        f"train.max_steps={steps}",
        f"train.log_every={log_every}",
        "train.checkpoint_every=50",
        "wandb=offline",
    ]
    python = [sys.executable, "-m"]
    subprocess.run([*python, "bows.data.binarize", *data], cwd=REPO, env=env, check=True, capture_output=True)
    first = subprocess.Popen(
        [*python, "bows.training.train", *train], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not list((root / "runs").glob(".*.lock.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [owner_file] = list((root / "runs").glob(".*.lock.json"))
    run = root / "runs" / owner_file.name[1 : -len(".lock.json")]

    def step() -> int:
        return json.loads((run / "run.json").read_text()).get("step", 0) if (run / "run.json").is_file() else 0

    while step() < 20 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGSTOP)  # held mid-run, alive: however fast this machine, it cannot finish first
    try:
        second = subprocess.run(
            [*python, "bows.training.train", "-m", *train], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert second.returncode != 0 and first.poll() is None, "the first trainer must still be running"
        [index] = list((root / "multirun").glob("*/*/sweep.parquet"))
        row = pd.read_parquet(index).iloc[0]
        assert row["status"] == "failed" and f"in use by PID {first.pid} on {socket.gethostname()}" in row["error"]
        assert len(list((run / "wandb").glob("offline-run-*"))) <= 1  # the second opened no W&B run
    finally:
        os.kill(first.pid, signal.SIGKILL)  # killed mid-run
        first.wait()
    [entry] = [e for e in Scan(root).entries if e.path == run]
    assert entry.state == "interrupted" and f"PID {first.pid}" in entry.detail, entry
    third = subprocess.run([*python, "bows.training.train", *train], cwd=REPO, env=env, capture_output=True, text=True)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"took over {run} from PID {first.pid}" in third.stderr + third.stdout
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in rows if "loss" in r]
    assert logged == list(range(log_every, steps + 1, log_every))  # each step once, in order
    assert len(list((run / "wandb").glob("offline-run-*"))) == 2  # the killed segment and the resumed one
    [entry] = [e for e in Scan(root).entries if e.path == run]
    assert entry.state == "complete", entry


def test_an_analysis_being_written_elsewhere_stops_a_second_one(make_config, tmp_path):
    from bows.analysis import analyze

    run = tmp_path / "runs" / "abc"
    run.mkdir(parents=True)
    proc = holder(run / "analysis")
    try:
        with pytest.raises(LockHeld, match=f"analysis is in use by PID {proc.pid} on .*; analyze stopped"):
            analyze.analyze_run(run, make_config())
    finally:
        proc.kill()
        proc.wait()
