"""What exists under the data root, in which state, and what `make all` would run now (`make status`).

Reads only small metadata (``meta.json``, ``run.json``, sweep job files, lock files) -- never hashes
a data file -- and writes nothing, except ``--gc --delete``, which removes what ``--gc`` lists.

    python -m bows.status [hydra overrides ...] [--gc [--delete]]

Every artifact, run, analysis, sweep, study and experiment output is listed with its state:

- ``complete``: finished and current: rebuilding it from its own recorded settings with this code
  and its recorded inputs gives the same key;
- ``running``: another live process holds its lock (``bows.locks``: owner PID, host, since);
- ``interrupted``: stopped before the end (a run's checkpoint resumes; a build's temporary
  directory whose builder is gone; a run marked ``running`` whose process is gone);
- ``failed``: a run that diverged or raised, an analysis with failed parts;
- ``stale``: its code, inputs or settings changed: the key rule or a recorded format/version differs,
  an input artifact is missing or was rebuilt (its digest differs), or
  its recorded code digest differs from that of the code that makes it now (``bows.stages``).

Then the steps ``make all`` would run for the current config (the default one plus the overrides
given), and with ``--gc`` what no current key reaches: not built by the current config, not a member
of a sweep or study, not an input of anything kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bows import stages
from bows.artifacts import FORMAT_VERSION, META_CHECKSUM, Artifact, Files, stable_hash
from bows.config import BowsConfig
from bows.locks import Owner, lock_files, owner_of, pid_alive, read_owner

log = logging.getLogger(__name__)

ANALYSIS = "analysis"
JOB_FILE = "bows_job.json"  # bows.training.sweep.JOB_FILE (not imported: that module needs Hydra's callback API)
EXPERIMENT_KINDS = ("structure", "synthetic", "citymap")

_KIND_STAGE = {"run": "train", "analysis": "analyze"}


def current_code_digest(kind: str) -> str | None:
    """The digest of the code that makes results of ``kind`` now (``bows.stages``), None for an unknown kind.
    A recorded digest that differs from it makes the result stale."""
    name = _KIND_STAGE.get(kind, kind)
    return stages.code_digest(name) if name in stages.STAGES else None


def recorded_code_digest(record: dict[str, Any]) -> str | None:
    """The code digest a ``meta.json`` / ``run.json`` recorded (``code.digest``), None before code identities."""
    code = record.get("code")
    return code.get("digest") if isinstance(code, dict) else None


@dataclass
class Entry:
    """One thing under the data root."""

    kind: str  # the artifact's stage, "run", "analysis", "sweep", "study", "structure", ...
    path: Path
    state: str  # complete | running | interrupted | failed | stale
    detail: str = ""
    bytes: int = 0
    age_s: float = 0.0
    key: str = ""
    inputs: list[Path] = field(default_factory=list)  # what it was built from (kept when it is kept)
    members: list[Path] = field(default_factory=list)  # a sweep's or study's runs


# ------------------------------------------------------------------------------------------ reading
def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _checked(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A checked JSON file (``meta_sha256``) and what is wrong with it ("" when intact)."""
    data = _json(path)
    if data is None:
        return None, f"{path.name} missing or unreadable"
    if data.get(META_CHECKSUM) != stable_hash({k: v for k, v in data.items() if k != META_CHECKSUM}):
        return data, f"{path.name} edited or corrupt"
    return data, ""


def _du(path: Path) -> int:
    total = 0
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    total += _du(Path(e.path))
                else:
                    total += e.stat(follow_symlinks=False).st_size
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return total


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def _running(path: Path) -> Owner | None:
    owner = owner_of(path)
    return owner if owner is not None and owner.pid != os.getpid() else None


def _digest(meta: dict[str, Any]) -> str:
    return Artifact(Path("."), meta).digest


def _artifact_path(root: Path, recorded: str) -> Path:
    """An input recorded by path, looked up under this root first (a moved or copied root)."""
    p = Path(recorded)
    sibling = root / "artifacts" / p.parent.name / p.name
    return sibling if sibling.is_dir() else p


# ----------------------------------------------------------------------------------------- scanning
class Scan:
    """Everything under one data root (``entries``), with the artifacts' metadata by path."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.now = time.time()
        self.entries: list[Entry] = []
        self.metas: dict[Path, dict[str, Any]] = {}
        self._stale_cache: dict[Path, str] = {}
        self._scan_artifacts()
        self._scan_runs()
        for kind in EXPERIMENT_KINDS:
            self._scan_outputs(kind)
        self._scan_indexes(self.root / "multirun", "sweep", depth=2)
        self._scan_indexes(self.root / "study", "study", depth=1)

    # --- artifacts ---------------------------------------------------------------------------
    def _artifact_entry(self, kind: str, path: Path, key_of: Callable[[dict[str, Any]], str]) -> Entry:
        entry = Entry(kind, path, "complete", bytes=_du(path), age_s=_age(path, self.now), key=path.name)
        owner = _running(path)
        meta, problem = _checked(path / Files.META)
        if meta is not None:
            self.metas[path] = meta
            entry.inputs = [_artifact_path(self.root, i["path"]) for i in meta.get("inputs", {}).values()]
        if owner is not None:
            entry.state, entry.detail = "running", owner.describe()
        elif problem:
            entry.state, entry.detail = "interrupted", f"{problem}; rebuilt on next use"
        else:
            assert meta is not None
            reason = self.artifact_stale(path, key_of)
            if reason:
                entry.state, entry.detail = "stale", reason
        return entry

    def artifact_stale(self, path: Path, key_of: Callable[[dict[str, Any]], str] | None = None) -> str:
        """Why the artifact at ``path`` is stale ("" if it is not)."""
        if path in self._stale_cache:
            return self._stale_cache[path]
        self._stale_cache[path] = ""  # (no cycles, but be safe)
        meta = self.metas.get(path) or _checked(path / Files.META)[0] or {}
        self.metas[path] = meta
        reason = ""
        recorded_code, code = recorded_code_digest(meta), current_code_digest(str(meta.get("stage")))
        if meta.get("format") != FORMAT_VERSION:
            reason = f"artifact format {meta.get('format')}, this bows writes {FORMAT_VERSION}"
        elif recorded_code and code and recorded_code != code:
            reason = "code changed (code digest differs)"
        else:
            for name, info in meta.get("inputs", {}).items():
                source = _artifact_path(self.root, info["path"])
                source_meta = self.metas.get(source) or _checked(source / Files.META)[0]
                if source_meta is None:
                    reason = f"input {name} is gone ({source})"
                    break
                self.metas[source] = source_meta
                if _digest(source_meta) != info.get("digest"):
                    reason = f"input {name} was rebuilt since ({source.name})"
                    break
                upstream = self.artifact_stale(source)
                if upstream:
                    reason = f"input {name} is stale ({upstream})"
                    break
            if not reason and key_of is not None and key_of(meta) != path.name:
                reason = "settings or key rule changed (its recorded settings give another key now)"
        self._stale_cache[path] = reason
        return reason

    def _scan_artifacts(self) -> None:
        base = self.root / "artifacts"
        if not base.is_dir():
            return
        for stage_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            stage = stage_dir.name

            def key_of(meta: dict[str, Any], stage: str = stage) -> str:
                inputs = {n: Artifact(Path("."), {"files": self._input_files(i)}) for n, i in meta["inputs"].items()}
                return stages.artifact_key(stage, meta.get("config"), inputs)

            for path in sorted(stage_dir.iterdir()):
                if path.name.startswith(".tmp-"):
                    self.entries.append(self._build_entry(stage, path))
                elif path.is_dir() and not path.name.startswith("."):
                    self.entries.append(self._artifact_entry(stage, path, key_of))

    def _input_files(self, info: dict[str, Any]) -> dict[str, Any]:
        source = _artifact_path(self.root, info["path"])
        meta = self.metas.get(source) or _checked(source / Files.META)[0] or {}
        self.metas[source] = meta
        if _digest(meta) != info.get("digest"):
            return {"recorded digest": info.get("digest")}  # changed input: reported as such, not here
        return meta.get("files", {})

    def _build_entry(self, stage: str, path: Path) -> Entry:
        """A ``.tmp-<key>-<host>-<pid>-<id>`` build directory: running if its builder lives, else a leftover."""
        parts = path.name.rsplit("-", 3)
        host, pid = (parts[-3], parts[-2]) if len(parts) == 4 else ("?", "")
        entry = Entry(stage, path, "interrupted", bytes=_du(path), age_s=_age(path, self.now), key=parts[0][5:])
        here = socket.gethostname().replace("-", "_")
        if pid.isdigit() and host == here and pid_alive(int(pid)):
            entry.state, entry.detail = "running", f"build by PID {pid} on {host}"
        elif host != here:
            entry.state, entry.detail = "running", f"build by PID {pid} on {host} (another host: not checked)"
        else:
            entry.detail = f"leftover build of PID {pid} (gone); removed by the next build"
        return entry

    def _scan_outputs(self, kind: str) -> None:
        base = self.root / kind
        if not base.is_dir():
            return
        for path in sorted(base.iterdir()):
            if path.name.startswith(".tmp-"):
                self.entries.append(self._build_entry(kind, path))
            elif path.is_dir() and not path.name.startswith("."):
                name, _, key = path.name.rpartition("-")  # artifacts.output_dir: <name>-<key> or <key>

                def key_of(meta: dict[str, Any], kind: str = kind, name: str = name) -> str:
                    key = stages.artifact_key(kind, meta.get("config"))[:10]
                    return f"{name}-{key}" if name else key

                entry = self._artifact_entry(kind, path, key_of)
                entry.key = key
                windows = (self.metas.get(path, {}).get("config") or {}).get("windows")
                if isinstance(windows, str):
                    entry.inputs.append(self.root / "artifacts" / "binarize" / windows)
                self.entries.append(entry)

    # --- runs and their analyses ---------------------------------------------------------------
    def _scan_runs(self) -> None:
        base = self.root / "runs"
        if not base.is_dir():
            return
        for path in sorted(base.iterdir()):
            if path.is_dir() and not path.name.startswith("."):
                self.entries.append(self.run_entry(path))
                if (path / ANALYSIS).is_dir():
                    self.entries.append(self.analysis_entry(path / ANALYSIS))

    def run_entry(self, path: Path) -> Entry:
        info = _json(path / Files.RUN)
        entry = Entry(
            "run", path, "interrupted", bytes=_du(path), age_s=_age(path / Files.RUN, self.now), key=path.name
        )
        owner = _running(path)
        if owner is not None:
            entry.state, entry.detail = "running", owner.describe()
            if info:
                entry.detail += f", step {info.get('step', 0):,}/{info.get('total_steps', 0):,}"
            return entry
        if info is None:
            entry.detail = "no run.json (stopped before its first checkpoint)"
            return entry
        windows = info.get("data", {}).get("windows")
        if windows:
            entry.inputs.append(_artifact_path(self.root, windows))
        status = info.get("status")
        step = f"step {info.get('step', 0):,}/{info.get('total_steps', 0):,}"
        if status == "failed":
            entry.state, entry.detail = "failed", f"{step}: {info.get('error', '')}"[:160]
            return entry
        if status != "finished":
            dead = read_owner(path)
            gone = f" (PID {dead.pid} on {dead.host} is gone)" if dead is not None else ""
            entry.detail = f"{status} at {step}{gone}; the same command resumes it"
            return entry
        reason = self.run_stale(path, info)
        entry.state, entry.detail = ("stale", reason) if reason else ("complete", step)
        return entry

    def run_stale(self, path: Path, info: dict[str, Any]) -> str:
        from bows.training.keys import recorded_run_key

        recorded_code, code = recorded_code_digest(info), current_code_digest("run")
        if recorded_code and code and recorded_code != code:
            return "training code changed (code digest differs)"
        data = info.get("data", {})
        windows_path = _artifact_path(self.root, data.get("windows", ""))
        meta = self.metas.get(windows_path) or _checked(windows_path / Files.META)[0]
        if meta is None:
            return f"its windows {windows_path.name} are gone"
        self.metas[windows_path] = meta
        if data.get("digest") not in (None, _digest(meta)):
            return f"its windows {windows_path.name} were rebuilt since"
        upstream = self.artifact_stale(windows_path)
        if upstream:
            return f"its windows are stale ({upstream})"
        try:
            key = recorded_run_key(info["config"], _digest(meta))
        except Exception as exc:  # a config this bows no longer accepts
            return f"its config is no longer valid ({type(exc).__name__})"
        if key != path.name:
            return "settings or key rule changed (its recorded config gives another key now)"
        return ""

    def analysis_entry(self, path: Path) -> Entry:
        entry = Entry(ANALYSIS, path, "complete", bytes=_du(path), age_s=_age(path / "meta.json", self.now))
        owner = _running(path)
        meta = _json(path / "meta.json")
        if owner is not None:
            entry.state, entry.detail = "running", owner.describe()
            return entry
        if meta is None:
            entry.state, entry.detail = "interrupted", "no meta.json (stopped mid-way; redone on next analyze)"
            return entry
        stats = meta.get("stats")
        if stats:
            entry.inputs.append(_artifact_path(self.root, stats))
        if meta.get("failed"):
            entry.state, entry.detail = (
                "failed",
                "failed parts: " + ", ".join(str(f.get("name", "?")) for f in meta["failed"]),
            )
        elif not meta.get("complete", True):
            entry.state, entry.detail = "interrupted", "not completed; redone on next analyze"
        else:
            entry.state, entry.detail = (
                ("stale", reason) if (reason := self.analysis_stale(path, meta)) else ("complete", "")
            )
        return entry

    def analysis_stale(self, path: Path, meta: dict[str, Any]) -> str:
        identity = meta.get("identity") or {}
        recorded_code, code = identity.get("code"), current_code_digest("analysis")
        if not recorded_code:
            return "made before code identities were recorded"
        if code and recorded_code != code:
            return "analysis code changed (code digest differs)"
        run = _json(path.parent / Files.RUN) or {}
        if identity.get("weights_sha256") not in (None, (run.get("weights") or {}).get("sha256")):
            return "the run's weights changed since"
        stats = meta.get("stats")
        if stats:
            stats_path = _artifact_path(self.root, stats)
            stats_meta = _checked(stats_path / Files.META)[0]
            if stats_meta is None:
                return f"its stats artifact {stats_path.name} is gone"
            if identity.get("stats_digest") not in (None, _digest(stats_meta)):
                return "its stats artifact was rebuilt since"
        return ""

    def _here(self, recorded: Path) -> Path:
        """A recorded run or artifact directory, under this root when it exists here (a moved root)."""
        for candidate in (
            self.root / "runs" / recorded.name,
            self.root / "artifacts" / recorded.parent.name / recorded.name,
        ):
            if candidate.is_dir():
                return candidate
        return recorded

    # --- sweeps and studies ----------------------------------------------------------------------
    def _scan_indexes(self, base: Path, kind: str, depth: int) -> None:
        if not base.is_dir():
            return
        dirs = [p for p in base.glob("/".join(["*"] * depth)) if p.is_dir() and not p.name.startswith(".")]
        known = {e.path: e for e in self.entries}  # members: runs (a data-shard multirun: artifacts)
        for path in sorted(dirs):
            jobs = [_json(f) or {} for f in path.glob(f"*/{JOB_FILE}")]
            if not jobs and not (path / Files.SWEEP_INDEX).is_file():
                continue  # a Hydra multirun of another stage (data shards, synthetic), not a sweep
            entry = Entry(kind, path, "complete", bytes=_du(path), age_s=_age(path, self.now), key=path.name)
            members = [Path(j["run_dir"]) for j in jobs if j.get("run_dir")]
            entry.members = [self._here(m) for m in members]
            states = [known[m].state if m in known else "missing" for m in entry.members]
            states += [j.get("status", "?") for j in jobs if not j.get("run_dir")]
            counts = {s: states.count(s) for s in dict.fromkeys(states)}
            entry.detail = f"{len(jobs)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items())
            for state in ("running", "failed", "interrupted", "stale", "missing"):
                if state in counts:
                    entry.state = "interrupted" if state == "missing" else state
                    break
            self.entries.append(entry)
            if (path / ANALYSIS).is_dir():
                sweep_analysis = Entry(ANALYSIS, path / ANALYSIS, "complete", bytes=_du(path / ANALYSIS))
                owner = _running(path / ANALYSIS)
                meta = _json(path / ANALYSIS / "meta.json")
                sweep_analysis.age_s = _age(path / ANALYSIS / "meta.json", self.now)
                if owner is not None:
                    sweep_analysis.state, sweep_analysis.detail = "running", owner.describe()
                elif meta is None or not meta.get("complete"):
                    sweep_analysis.state = "interrupted"
                elif meta.get("failed"):
                    sweep_analysis.state = "failed"
                self.entries.append(sweep_analysis)


# -------------------------------------------------------------------------------- make all, now
@dataclass(frozen=True)
class Step:
    name: str
    action: str  # "up to date" or what it would do
    path: str = ""


def _existing(path: Path) -> dict[str, Any] | None:
    meta, problem = _checked(path / Files.META)
    return meta if meta is not None and not problem else None


def plan(cfg: BowsConfig, scan: Scan) -> list[Step]:
    """The steps ``make all`` (``experiments.study``) would take now for ``cfg``: keys computed from the
    config and the metadata of the inputs on disk (a step after a missing input: keys not known yet)."""
    from bows.analysis.identity import analysis_identity
    from bows.data import download, stats, vocab
    from bows.data.binarize import binarize_config
    from bows.training.keys import run_key

    root, steps = scan.root, []
    by_path = {e.path: e for e in scan.entries}

    def artifact(stage: str, config: Any, inputs: dict[str, Artifact]) -> Artifact | None:
        key = stages.artifact_key(stage, config, inputs)
        path = root / "artifacts" / stage / key
        meta = _existing(path)
        entry = by_path.get(path)
        if meta is not None and (entry is None or entry.state != "stale"):
            steps.append(Step(stage, "up to date", str(path.relative_to(root))))
            return Artifact(path, meta)
        state = entry.state if entry is not None else "missing"
        steps.append(Step(stage, f"build ({state})", str(path.relative_to(root))))
        return None

    docs = artifact("download", download.key_config(cfg.corpus), {})
    voc = docs and artifact("vocab", vocab.vocab_config(cfg.vocab), {"docs": docs})
    windows = docs and voc and artifact("binarize", binarize_config(cfg), {"docs": docs, "vocab": voc})
    costats = windows and artifact(stats.STAGE, stats.stats_config(cfg.stats), {"windows": windows})
    if windows and costats and cfg.stats.scan:  # `make stats` also builds the data diagnostics
        if cfg.corpus.name == "embedded":  # ... over the corpus cut into rows of other sentence counts
            for spr in sorted(set(cfg.stats.scan_sentences_per_row) - {cfg.corpus.sentences_per_row}):
                corpus = dataclasses.replace(cfg.corpus, sentences_per_row=spr)
                artifact("download", download.key_config(corpus), {})
                steps[-1] = dataclasses.replace(steps[-1], name=f"download ({spr} sentences/row, scan)")
        artifact(stats.SCAN_STAGE, *stats._scan_key(cfg, windows, costats))
    if windows is None:
        done = {s.name for s in steps}
        later = [s for s in ("download", "vocab", "binarize", "stats") if s not in done]
        steps += [Step(s, "build (after its inputs)") for s in later]
        steps.append(Step("train + analyze + report", f"{len(cfg.study.weight_decays)} models (after the data)"))
        steps.append(Step("study", "index + report (after the models)"))
        return steps
    all_done = True
    for wd in cfg.study.weight_decays:  # the study's models (experiments.study.model_configs; the group is not in keys)
        model_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, weight_decay=wd))
        path = root / "runs" / run_key(model_cfg, windows)
        entry = by_path.get(path)
        rel = str(path.relative_to(root))
        if entry is None:
            steps.append(Step(f"train wd={wd:g}", "train (missing)", rel))
        elif entry.state == "complete":
            steps.append(Step(f"train wd={wd:g}", "up to date", rel))
        else:
            steps.append(
                Step(
                    f"train wd={wd:g}",
                    f"{entry.state}: " + ("wait" if entry.state == "running" else "resume/train"),
                    rel,
                )
            )
        analysis = by_path.get(path / ANALYSIS)
        fresh = False
        if entry is not None and entry.state == "complete" and analysis is not None and costats is not None:
            meta = _json(path / ANALYSIS / "meta.json") or {}
            expected = json.loads(
                json.dumps(analysis_identity(_json(path / Files.RUN) or {}, costats, model_cfg), default=str)
            )
            fresh = analysis.state == "complete" and meta.get("identity") == expected
        steps.append(Step(f"analyze wd={wd:g}", "up to date" if fresh else "analyze + report", rel + "/analysis"))
        all_done = all_done and fresh
    steps.append(
        Step("study", "index + report (rewritten every time)" if all_done else "index + report (after the models)")
    )
    return steps


# ------------------------------------------------------------------------------------------- gc
def garbage(scan: Scan, cfg: BowsConfig | None) -> list[Entry]:
    """What no current key reaches: not built by ``cfg``'s chain, not a member of a sweep or study,
    not an input of anything kept; plus leftovers of dead builds. Running things are never listed."""
    keep: set[Path] = set()
    if cfg is not None:
        keep |= {scan.root / s.path for s in plan(cfg, scan) if s.path}
    by_path = {e.path: e for e in scan.entries}
    for e in scan.entries:
        if e.kind in ("sweep", "study") or e.kind in EXPERIMENT_KINDS:
            keep.add(e.path)
            keep |= set(e.members)
    todo = list(keep)
    while todo:  # everything a kept thing was built from
        path = todo.pop()
        entry = by_path.get(path)
        for source in entry.inputs if entry is not None else []:
            if source not in keep:
                keep.add(source)
                todo.append(source)
        if entry is not None and entry.kind == "run" and (path / ANALYSIS) in by_path:
            keep.add(path / ANALYSIS)
            todo.append(path / ANALYSIS)
    out = []
    for e in scan.entries:
        if e.state == "running" or e.path in keep or (e.kind == ANALYSIS and e.path.parent in keep):
            continue
        if e.kind == ANALYSIS and e.path.parent not in keep and by_path.get(e.path.parent) is not None:
            continue  # goes with its run
        if e.kind in ("sweep", "study") or e.kind in EXPERIMENT_KINDS:
            if not e.path.name.startswith(".tmp-") and e.state != "stale":
                continue
        out.append(e)
    return out


def remove(entries: Iterable[Entry]) -> int:
    """Delete ``entries`` (skipping any whose lock a live process took meanwhile); returns bytes freed."""
    freed = 0
    for e in entries:
        if owner_of(e.path) is not None:
            log.warning("gc: %s is in use now, kept", e.path)
            continue
        shutil.rmtree(e.path, ignore_errors=True)
        for lock_file in lock_files(e.path):
            lock_file.unlink(missing_ok=True)
        freed += e.bytes
    return freed


# --------------------------------------------------------------------------------------- output
def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_age(seconds: float) -> str:
    seconds = max(0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def render(scan: Scan, steps: list[Step] | None, gc: list[Entry] | None, seconds: float) -> str:
    root = scan.root
    rows = [
        [e.kind, e.state, human_bytes(e.bytes), human_age(e.age_s), _rel(e.path, root), e.detail] for e in scan.entries
    ]
    total = human_bytes(sum(e.bytes for e in scan.entries if e.kind != ANALYSIS))
    out = [f"data root {root}: {len(scan.entries)} items, {total} (read in {seconds:.2f} s)", ""]
    out.append(table(rows, ["KIND", "STATE", "SIZE", "AGE", "PATH", "DETAIL"]) if rows else "(nothing yet)")
    if steps is not None:
        todo = [s for s in steps if s.action != "up to date"]
        out += ["", "make all would run now:" if todo else "make all: everything is up to date"]
        out.append(table([[s.name, s.action, s.path] for s in steps], ["STEP", "ACTION", "PATH"]))
    if gc is not None:
        out += ["", f"gc: {len(gc)} items no current key reaches ({human_bytes(sum(e.bytes for e in gc))})"]
        out += [f"  {e.kind:<12} {e.state:<11} {human_bytes(e.bytes):>9}  {_rel(e.path, root)}" for e in gc]
    return "\n".join(out)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m bows.status [overrides] [--gc [--delete]]``; prints the table, returns the exit status."""
    from bows.config import compose
    from bows.errors import USER_ERRORS

    args = list(sys.argv[1:] if argv is None else argv)
    want_gc, delete = "--gc" in args, "--delete" in args
    if delete and not want_gc:
        print("error: --delete goes with --gc (make status ARGS='--gc --delete')", file=sys.stderr)  # noqa: T201
        return 2
    overrides = [a for a in args if a not in ("--gc", "--delete")]
    started = time.perf_counter()
    try:
        cfg = compose(["wandb=disabled", *overrides])
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    scan = Scan(cfg.paths.root_path)
    steps = plan(cfg, scan)
    gc = garbage(scan, cfg) if want_gc else None
    text = render(scan, steps, gc, time.perf_counter() - started)
    print(text)  # noqa: T201  (the entry point speaks to the user)
    if gc and delete:
        freed = remove(gc)
        print(f"gc: removed {len(gc)} items, {human_bytes(freed)} freed")  # noqa: T201
    elif gc:
        print("gc: nothing removed; add --delete to remove them (make status ARGS='--gc --delete')")  # noqa: T201
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())


__all__ = [
    "Entry",
    "Scan",
    "Step",
    "plan",
    "garbage",
    "remove",
    "render",
    "main",
    "current_code_digest",
    "recorded_code_digest",
]
