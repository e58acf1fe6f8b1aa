"""`make status` (``bows.status``): each run's state named correctly, what `make all` would run, gc, speed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import pytest

from bows import status
from bows.artifacts import Artifact
from bows.config import BowsConfig, as_dict
from bows.stages import artifact_key, build_artifact, output_dir
from bows.training.keys import run_key
from bows.training.sweep import JOB_FILE
from tests.conftest import tiny_config
from tests.test_locks import holder


def _artifact(root: Path, stage: str, config: dict, inputs: dict[str, Artifact] | None = None) -> Artifact:
    with build_artifact(root, stage, artifact_key(stage, config, inputs), config, inputs) as b:
        b.path("data.txt").write_text(json.dumps(config))
    return b.artifact


def _windows(root: Path) -> Artifact:
    docs = _artifact(root, "download", {"corpus": "tiny"})
    vocab = _artifact(root, "vocab", {"size": 10}, {"docs": docs})
    return _artifact(root, "binarize", {"G": 5}, {"docs": docs, "vocab": vocab})


def _run(root: Path, cfg: BowsConfig, windows: Artifact, wd: float, status: str = "finished", **extra) -> Path:
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, weight_decay=wd))
    path = root / "runs" / run_key(cfg, windows)
    path.mkdir(parents=True)
    info = {
        "key": path.name,
        "status": status,
        "step": 10,
        "total_steps": 10 if status == "finished" else 40,
        "data": {"windows": str(windows.path), "digest": windows.digest},
        "config": as_dict(cfg),
        **extra,
    }
    (path / "run.json").write_text(json.dumps(info))
    return path


def _states(text: str, root: Path) -> dict[str, tuple[str, str]]:
    """PATH -> (STATE, DETAIL) from the printed table."""
    out = {}
    for line in text.split("\nmake all")[0].splitlines():
        parts = line.split()
        for i, part in enumerate(parts):
            if (root / part).exists() or part.startswith(("runs/", "artifacts/")):
                out[part] = (parts[1], " ".join(parts[i + 1 :]))
                break
    return out


def test_status_names_finished_interrupted_stale_running_and_failed_runs(tmp_path, capsys, monkeypatch):
    root = tmp_path
    cfg = tiny_config(root)
    windows = _windows(root)
    finished = _run(root, cfg, windows, 1.0)
    stale = _run(root, cfg, windows, 2.0, data={"windows": str(windows.path), "digest": "0" * 64})
    interrupted = _run(root, cfg, windows, 3.0, status="running")
    running = _run(root, cfg, windows, 4.0, status="running")
    failed = _run(root, cfg, windows, 5.0, status="failed", error="TrainingDiverged: the loss became NaN")
    old_code = _run(root, cfg, windows, 6.0, code={"digest": "old", "modules": {}})
    monkeypatch.setattr(status, "current_code_digest", lambda kind: "new" if kind == "run" else None)
    dead = holder(interrupted)  # the trainer of `interrupted` is killed with -9 mid-run
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    live = holder(running)
    sweep = root / "multirun" / "2026-12-07" / "10-00-00"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / JOB_FILE).write_text(json.dumps({"job": 0, "status": "finished", "run_dir": str(finished)}))
    (sweep / "analysis").mkdir()
    (sweep / "analysis" / "meta.json").write_text(json.dumps({"complete": True, "failed": []}))
    try:
        assert status.main([f"paths.root={root}", "--gc"]) == 0
        text = capsys.readouterr().out
        states = _states(text, root)
        rel = {p: str(p.relative_to(root)) for p in (finished, stale, interrupted, running, failed, old_code)}
        assert states[rel[finished]][0] == "complete"
        assert states[rel[stale]] == ("stale", f"its windows {windows.path.name} were rebuilt since")
        assert states[rel[interrupted]][0] == "interrupted"
        assert f"PID {dead.pid} on" in states[rel[interrupted]][1] and "is gone" in states[rel[interrupted]][1]
        assert states[rel[running]][0] == "running" and f"PID {live.pid} on" in states[rel[running]][1]
        assert states[rel[failed]][0] == "failed" and "NaN" in states[rel[failed]][1]
        assert states[rel[old_code]] == ("stale", "training code changed (code digest differs)")
        assert states["multirun/2026-12-07/10-00-00"][0] == "complete"
        assert "make all would run now:" in text and "download" in text
        gc = text.split("gc: ", 1)[1]
        for path in (stale, interrupted, failed, old_code):
            assert rel[path] in gc
        for path in (finished, running, windows.path, sweep / "analysis"):  # in a sweep, in use, input, kept sweep's
            assert str(path.relative_to(root)) not in gc
        assert status.main([f"paths.root={root}", "--gc", "--delete"]) == 0
        assert "removed 4 items" in capsys.readouterr().out
        assert sorted(p.name for p in (root / "runs").iterdir() if not p.name.startswith(".")) == sorted(
            [finished.name, running.name]
        )
        assert windows.path.is_dir()
    finally:
        live.kill()
        live.wait()


def test_a_rebuilt_input_makes_the_artifacts_after_it_stale(tmp_path):
    root = tmp_path
    windows = _windows(root)
    docs = windows.input("docs")
    stats = _artifact(root, "stats", {"n": 1}, {"windows": windows})
    meta = json.loads((docs.path / "meta.json").read_text())
    meta["files"]["data.txt"]["sha256"] = "f" * 64  # docs rebuilt with other content (meta re-checksummed)
    from bows.artifacts import write_checked_json

    write_checked_json(docs.path / "meta.json", {k: v for k, v in meta.items() if k != "meta_sha256"})
    scan = status.Scan(root)
    by_path = {e.path: e for e in scan.entries}
    assert by_path[docs.path].state == "complete"
    assert by_path[windows.path].state == "stale" and "input docs was rebuilt" in by_path[windows.path].detail
    assert by_path[stats.path].state == "stale" and "input windows is stale" in by_path[stats.path].detail


def test_status_reads_a_root_with_100_runs_in_under_2_seconds(tmp_path):
    root = tmp_path
    cfg = tiny_config(root)
    windows = _windows(root)
    for i in range(100):
        path = _run(root, cfg, windows, 0.01 * (i + 1))
        (path / "checkpoint.pt").write_bytes(os.urandom(1 << 16))  # sizes are summed, never hashed
    start = time.perf_counter()
    scan = status.Scan(root)
    steps = status.plan(cfg, scan)
    seconds = time.perf_counter() - start
    assert sum(e.kind == "run" and e.state == "complete" for e in scan.entries) == 100
    assert steps and seconds < 2.0, f"{seconds:.2f} s"


@pytest.mark.parametrize("args", [["--delete"]])
def test_delete_without_gc_is_refused(args, capsys):
    assert status.main(args) == 2
    assert "--delete goes with --gc" in capsys.readouterr().err


def test_an_experiment_output_is_complete_and_its_edited_settings_stale(tmp_path):
    from bows.artifacts import write_checked_json

    out = output_dir(tmp_path, "synthetic", "circular", {"L": 3})
    with build_artifact(out.parent, "synthetic", out.name, {"L": 3}, final=out) as b:
        b.path("metrics.parquet").write_text("numbers")
    [entry] = status.Scan(tmp_path).entries
    assert (entry.kind, entry.state) == ("synthetic", "complete")
    meta = json.loads((out / "meta.json").read_text())
    write_checked_json(out / "meta.json", {**{k: v for k, v in meta.items() if k != "meta_sha256"}, "config": {"L": 4}})
    [entry] = status.Scan(tmp_path).entries
    assert entry.state == "stale" and "settings" in entry.detail
