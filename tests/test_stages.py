"""Stages declared once (bows.stages): the README's table is generated, code identity enters the keys of
exactly the stages downstream of a changed module, a resumed run under changed training code stops, and
local inputs are fingerprinted by content."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readers import load_docs
from test_train import _cfg, data  # noqa: F401  (the fixture)

from bows import stages
from bows.artifacts import Files
from bows.data import download
from bows.errors import BowsError
from bows.training import train as train_mod

ROOT = Path(__file__).resolve().parent.parent
TEXT = "January and February bring snow while the long winter nights of December stay cold and dark"


def test_readme_stage_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert stages.stage_table_markdown() in readme, "README's stage table differs: paste stages.stage_table_markdown()"


def test_every_declared_stage_is_consistent():
    for spec in stages.STAGES.values():
        assert all(up in stages.STAGES for up in spec.upstream), spec.name
        for module in (spec.module, *spec.code):
            assert stages._source_path(module) is not None, module
        assert set(stages.config_sections(spec.name)) >= set(spec.reads)


def test_code_digest_ignores_formatting_comments_and_docstrings():
    base = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    same = 'def f( x ):  # a comment\n    """Another doc."""\n\n    return (x + 1)\n'
    assert stages.source_digest(base) == stages.source_digest(same)
    assert stages.source_digest(base) != stages.source_digest(base.replace("x + 1", "x + 2"))


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = ["January", "February", "March", "snow", "rain", "Monday", "Friday", "sun", "wind", "cold"]
    for d in range(10):
        lines = [" ".join(words[(d + k) % 10] for k in range(i, i + 6)) + " and the story went on" for i in range(4)]
        (corpus / f"{d:02d}.txt").write_text("\n".join(lines) + "\n")
    return corpus


def _package_copy(dest: Path, module: str | None) -> Path:
    """A copy of the bows package with one line added to ``module`` (a file path under bows/)."""
    shutil.copytree(ROOT / "bows", dest / "bows", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "conf").symlink_to(ROOT / "conf")  # bows.config finds conf/ next to the package
    if module is not None:
        path = dest / "bows" / module
        path.write_text(path.read_text() + "\n_EDITED_ON_PURPOSE = 1\n")
    return dest


def _keys_after_stats(package: Path, root: Path, corpus: Path) -> dict[str, str]:
    """Run ``python -m bows.data.stats`` from ``package`` into ``root``; the key of each stage it built,
    plus the code digests of the stages it did not run (train: recorded, analyze: its identity)."""
    env = {**os.environ, "PYTHONPATH": str(package), "WANDB_MODE": "disabled"}
    overrides = [
        f"paths.root={root}", "wandb=disabled", "corpus=local", f"corpus.files=[{corpus}/*.txt]",
        "vocab.size=40", "vocab.sample_fraction=1.0", "vocab.min_len=10", "window.group_size=2",
        "stats.scan=false", "stats.sample_windows=1000",
    ]  # fmt: skip
    root.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "bows.data.stats", *overrides], env=env, cwd=root,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    keys = {stage.name: next(stage.iterdir()).name for stage in sorted((root / "artifacts").iterdir())}
    probe = "import json; from bows import stages; print(json.dumps({s: stages.code_digest(s) for s in ('train', 'analyze')}))"
    probe += "; import bows; print(bows.__file__)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=package, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    digests, where = done.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(package))  # the copy is what ran
    return {**keys, **{f"{k}(code)": v for k, v in json.loads(digests).items()}}


def test_a_one_line_change_in_a_pure_module_changes_exactly_the_downstream_keys(tmp_path):
    corpus = _corpus(tmp_path)
    runs = {}
    for name, module in [("base", None), ("coactivation", "data/coactivation.py"), ("compute", "analysis/compute.py")]:
        package = _package_copy(tmp_path / f"pkg-{name}", module)
        runs[name] = _keys_after_stats(package, tmp_path / f"root-{name}", corpus)
    base = runs["base"]
    assert set(base) == {"download", "vocab", "binarize", "stats", "train(code)", "analyze(code)"}

    def changed(name: str) -> set[str]:
        return {stage for stage in base if runs[name][stage] != base[stage]}

    # data.coactivation decides the co-occurrence statistics: stats and what reads them, nothing upstream
    assert changed("coactivation") == {"stats", "analyze(code)"}
    # analysis.compute decides only the analysis numbers
    assert changed("compute") == {"analyze(code)"}


def test_resume_under_changed_training_code_stops_with_one_line(make_config, data, monkeypatch):  # noqa: F811
    cfg = _cfg(make_config, "train.checkpoint_every=7")
    real_update = train_mod.Optimisation.update

    def crashing_update(self, batch):
        if self.step == 10:
            raise KeyboardInterrupt
        return real_update(self, batch)

    monkeypatch.setattr(train_mod.Optimisation, "update", crashing_update)
    with pytest.raises(KeyboardInterrupt):
        train_mod.run(cfg)
    monkeypatch.setattr(train_mod.Optimisation, "update", real_update)
    path = next((cfg.paths.root_path / "runs").iterdir())
    recorded = json.loads((path / Files.RUN).read_text())["code"]
    assert recorded == stages.code_record("train") and recorded["modules"]["bows.training.optim"]

    # the training code changes (one module's digest) between the interruption and the resume
    other = {"digest": "other", "modules": {**recorded["modules"], "bows.training.optim": "edited"}}
    monkeypatch.setattr(train_mod, "code_record", lambda name: other)
    with pytest.raises(BowsError) as error:
        train_mod.run(cfg)
    message = str(error.value)
    assert "\n" not in message and "bows.training.optim" in message
    assert "train.resume=false" in message and "train.allow_code_change=true" in message
    assert json.loads((path / Files.RUN).read_text())["status"] == "interrupted"  # nothing was trained

    # continuing knowingly is recorded in run.json
    train_mod.run(_cfg(make_config, "train.checkpoint_every=7", "train.allow_code_change=true"))
    info = json.loads((path / Files.RUN).read_text())
    assert info["status"] == "finished" and info["code"] == other
    assert info["code_change"]["allowed"] and info["code_change"]["modules"] == ["bows.training.optim"]
    assert info["code_change"]["before"] == recorded


def test_finished_run_of_other_training_code_is_reused_with_one_warning(make_config, data, monkeypatch, caplog):  # noqa: F811
    cfg = _cfg(make_config, "train.max_steps=4")
    path = train_mod.run(cfg)
    recorded = json.loads((path / Files.RUN).read_text())["code"]
    other = {"digest": "other", "modules": {**recorded["modules"], "bows.training.kernels": "edited"}}
    monkeypatch.setattr(train_mod, "code_record", lambda name: other)
    assert train_mod.run(cfg) == path
    lines = [r.getMessage() for r in caplog.records if "trained by other code" in r.getMessage()]
    assert len(lines) == 1 and "bows.training.kernels" in lines[0]


def test_a_same_size_same_mtime_edit_of_a_local_file_is_rebuilt(tmp_path, make_config):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(6):
        (texts / f"doc{i}.txt").write_text(f"{TEXT} {i}.\nAnd a second line of document {i}.\n")
    cfg = make_config("corpus=local", f"corpus.files=['{texts}/*.txt']")
    first = download.run(cfg)
    target = texts / "doc0.txt"
    before = target.stat()
    target.write_text(target.read_text().replace("snow", "rain"))  # same length
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # as rsync -t or a checkout can leave it
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    second = download.run(cfg)
    assert second.path != first.path
    rows = load_docs(second).to_pydict()["text"]
    doc0 = [row for row in rows if row.startswith("January") and row.endswith(" 0.")]
    assert len(doc0) == 1 and "bring rain" in doc0[0]  # the new text, not the old


def test_content_fingerprint_is_by_content_and_logs_its_speed(tmp_path, caplog):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"x" * 100_000)
    b.write_bytes(b"x" * 99_999 + b"y")
    caplog.set_level("INFO")
    fa, fb = stages.content_fingerprint([a]), stages.content_fingerprint([b])
    assert fa[0]["content"] != fb[0]["content"] and fa[0]["bytes"] == fb[0]["bytes"]
    assert "mtime_ns" not in fa[0] and "MB/s" in caplog.text
