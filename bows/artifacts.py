"""Content-addressed, atomically written artifact directories (reads and writes ``<root>/artifacts``).

A stage's output lives in ``<root>/artifacts/<stage>/<key>/`` where ``key`` hashes the stage's
config and the content hashes of its inputs, so a changed setting never reuses an old artifact.
The directory is built under a temporary name and renamed when complete; ``meta.json`` (written
last) records the config, inputs, library versions, statistics and the sha256 of every file, plus
``meta_sha256``, the hash of the rest of ``meta.json`` itself. ``open_artifact`` checks that hash and
every file's size on each open, and re-hashes each file once per process (again when its size, mtime
or inode changes), so an edited or truncated artifact -- ``meta.json`` included -- is detected by
name and rebuilt (stage artifacts) or refused. ``write_checked_json`` / ``read_checked_json`` /
``verify_files`` give other directories (a run's weights, an analysis) the same protection.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from bows.errors import ArtifactError  # noqa: F401  (re-exported: callers import it from here)
from bows.locks import hold, wait_while_held

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # bump when an artifact's layout changes: every key changes with it (2: meta_sha256)
META_CHECKSUM = "meta_sha256"  # the key in a checked JSON file holding the hash of the rest of it


class Files:
    """Every artifact file name, defined once."""

    META = "meta.json"
    DOCS = "docs.parquet"  # download: doc_id, source, split, text (one row per row-of-text)
    VOCAB = "vocab.parquet"  # vocab: index, word, count, forced
    COUNTS = "counts.parquet"  # vocab_counts (one shard of a sharded vocab build): word, count in its sampled rows

    # binarize: per split, CSR windows
    @staticmethod
    def offsets(split: str) -> str:
        return f"{split}.offsets.npy"  # int64, n_windows + 1

    @staticmethod
    def indices(split: str) -> str:
        return f"{split}.indices.npy"  # uint16 (V <= 65,536) or int32 word ids, sorted within a window

    # train run directory
    CONFIG = "config.yaml"  # resolved config of a run
    RUN = "run.json"  # run metadata: key, data artifact, status, summary metrics
    WEIGHTS = "model.safetensors"  # tensors "W" (latent x vocab) and "b" (vocab), float32
    CHECKPOINT = "checkpoint.pt"  # weights + optimizer + scheduler + step + RNG (torch.load weights_only=True)
    METRICS = "metrics.jsonl"  # one JSON object per logged step / epoch
    SWEEP_INDEX = "sweep.parquet"  # one row per run of a multirun: config fields, final metrics, run dir
    SWEEP = "bows_sweep.json"  # written at multirun start: the sweep's group, swept axes and fixed settings


class StatsFiles:
    """File names of a stats artifact."""

    WORDS = "words.parquet"  # index, word, count (in the sample), freq (count / sample windows)
    COOC = "cooccurrence.npz"  # scipy.sparse upper-triangular CSR of pair counts (diagonal = word counts)
    PAIRS = "pairs.parquet"  # i < j, count, corr (phi), pmi: pairs with count >= min_count
    GROUPS = "groups.npz"  # per group: <group>/count|corr|pmi|cond_corr|centred_gram (all train windows)
    GROUP_WORDS = "groups.json"  # per group: present words (matrix order), missing words, windows counted


class ScanFiles:
    """File names of a window-scan artifact (data diagnostics, ``bows.data.diagnostics``)."""

    TABLE = "window_scan.parquet"  # segmentation x group x G: ring/line scores of the windowed group indicators
    SUMMARY = "window_scan.json"  # per group: best G per segmentation, the configured setting's scores
    FIGURE = "window_scan.png"  # the scores against G, one line per segmentation
    DISCOVERY = "data_discovery.parquet"  # groups discovered in the co-occurrence (PPMI-SVD vectors)
    GALLERY = "data_discovery.png"  # their PCA panels


class AnalysisFiles:
    """File names of an analysis directory (a run's or a sweep's)."""

    DIR = "analysis"  # <run>/analysis, <sweep dir>/analysis, <study dir>/analysis
    METRICS = "metrics.json"  # flat namespaced metrics
    META = "meta.json"  # what was analysed: run, settings, held-out split, timings
    FIGURES = "figures"  # one PNG per figure
    SWEEP_METRICS = "sweep_metrics.parquet"  # a sweep's analysis: one row per run (config + metrics)
    REPORT = "report.html"
    GROUPS = "groups.json"  # section "groups": Gram matrices and data rings of the named word groups

    @staticmethod
    def section(name: str) -> str:
        return f"{name}.json"

    @staticmethod
    def table(name: str) -> str:
        return f"{name}.parquet"

    @staticmethod
    def figure(name: str) -> str:
        return f"{name}.png"


def stable_hash(payload: Any) -> str:
    """sha256 of a canonical JSON encoding (sorted keys) of ``payload``."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[str, tuple[int, int, int, str]] = {}  # path -> (size, mtime_ns, inode, sha256) hashed this process


def file_record(path: Path) -> dict[str, Any]:
    """What ``verify_files`` checks a file against: its sha256 and size."""
    return {"sha256": file_sha256(path), "bytes": Path(path).stat().st_size}


def verify_files(directory: Path, files: dict[str, dict[str, Any]]) -> None:
    """Check each ``name -> {sha256, bytes}`` of ``directory``: the size on every call, the full sha256
    the first time in this process and whenever the file's size, mtime or inode changed since.
    Raises ``ArtifactError`` naming the first missing, truncated or edited file."""
    for name, info in files.items():
        file = Path(directory) / name
        try:
            st = file.stat()
        except OSError:
            raise ArtifactError(f"{file} is missing") from None
        if st.st_size != info["bytes"]:
            raise ArtifactError(f"{file} has {st.st_size} bytes, expected {info['bytes']} (truncated or edited)")
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = _VERIFIED.get(str(file))
        if cached is not None and cached[:3] == stamp and cached[3] == info["sha256"]:
            continue
        if file_sha256(file) != info["sha256"]:
            raise ArtifactError(f"{file} does not match its recorded sha256 (edited or corrupt)")
        _VERIFIED[str(file)] = (*stamp, info["sha256"])


def _checksum(payload: dict[str, Any]) -> str:
    return stable_hash({k: v for k, v in payload.items() if k != META_CHECKSUM})


def write_checked_json(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Write ``payload`` atomically with ``meta_sha256`` (the hash of the rest) added; returns it as
    read back (a JSON round trip), so the caller holds exactly what a later read sees."""
    plain = json.loads(json.dumps(payload, default=str))
    plain[META_CHECKSUM] = _checksum(plain)
    atomic_write_json(path, plain)
    return plain


def read_checked_json(path: Path) -> dict[str, Any]:
    """A JSON file written by ``write_checked_json``; ``ArtifactError`` if missing, unreadable or edited."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get(META_CHECKSUM) != _checksum(payload):
        raise ArtifactError(f"{path} does not match its recorded {META_CHECKSUM} (edited or corrupt)")
    return payload


def library_versions(*names: str) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names or ("numpy", "scipy", "pyarrow", "datasets", "torch", "hydra-core"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode())


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass(frozen=True)
class Artifact:
    """A complete, verified artifact directory."""

    path: Path
    meta: dict[str, Any]

    @property
    def key(self) -> str:
        return self.meta["key"]

    @property
    def stage(self) -> str:
        return self.meta["stage"]

    @property
    def digest(self) -> str:
        """Hash of the artifact's content (its files' hashes): what downstream keys depend on."""
        return stable_hash(self.meta["files"])

    def file(self, name: str) -> Path:
        if name not in self.meta["files"]:
            raise ArtifactError(f"{self.path} has no file {name!r} (has: {', '.join(sorted(self.meta['files']))})")
        return self.path / name

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    def input(self, name: str) -> Artifact:
        """The verified input artifact ``name`` this one was built from. Looked up next to this
        artifact first (``<root>/artifacts/<stage>/<key>``), so a moved or copied data root works."""
        if name not in self.meta.get("inputs", {}):
            raise ArtifactError(f"{self.path} has no input {name!r}")
        recorded = Path(self.meta["inputs"][name]["path"])
        sibling = self.path.parent.parent / recorded.parent.name / recorded.name
        found = open_artifact(sibling if sibling.is_dir() else recorded)
        if found.digest != self.meta["inputs"][name]["digest"]:
            raise ArtifactError(f"input {name!r} of {self.path} changed since it was built ({found.path}); rebuild")
        return found

    @property
    def stats(self) -> dict[str, Any]:
        return self.meta.get("stats", {})


def artifact_key(stage: str, config: Any, inputs: dict[str, Artifact] | None = None, *, code: str | None = None) -> str:
    """Key of a stage's output: hash of format version, stage, config, input content hashes and the
    digest of the code that decides it (``bows.stages.artifact_key`` supplies a declared stage's)."""
    payload = {
        "format": FORMAT_VERSION,
        "stage": stage,
        "config": config,
        "inputs": {name: art.digest for name, art in sorted((inputs or {}).items())},
    }
    if code is not None:
        payload["code"] = code
    return stable_hash(payload)[:16]


def artifact_dir(root: Path, stage: str, key: str) -> Path:
    return Path(root) / "artifacts" / stage / key


def open_artifact(path: Path, *, verify: bool = True) -> Artifact:
    """Open a finished artifact directory: ``meta.json`` must match its own checksum and (``verify``)
    every file its recorded size and sha256 (hashed once per process, see ``verify_files``)."""
    path = Path(path)
    meta_path = path / Files.META
    if not meta_path.is_file():
        raise ArtifactError(f"{path} is not a finished artifact (no {Files.META}); rebuild it")
    try:
        meta = read_checked_json(meta_path)
    except ArtifactError:
        found = FORMAT_VERSION
        with contextlib.suppress(Exception):
            found = json.loads(meta_path.read_text()).get("format")
        if found != FORMAT_VERSION:  # an older bows's artifact: say so rather than "edited"
            raise ArtifactError(
                f"{path} has artifact format {found}, this bows reads format {FORMAT_VERSION}; rebuild it"
            ) from None
        raise
    if meta.get("format") != FORMAT_VERSION:
        raise ArtifactError(f"{path} has artifact format {meta.get('format')}, this bows reads {FORMAT_VERSION}")
    if verify:
        verify_files(path, meta.get("files", {}))
    return Artifact(path=path, meta=meta)


def output_dir(root: Path, kind: str, name: str, config: Any) -> Path:
    """An experiment's output: an artifact at a readable path, ``<root>/<kind>/<name>-<key>``
    (``<root>/<kind>/<key>`` without a name), keyed by ``artifact_key`` like every artifact."""
    key = artifact_key(kind, config)[:10]
    return Path(root) / kind / (f"{name}-{key}" if name else key)


def find_output(directory: Path, stage: str) -> Artifact | None:
    """``find_artifact`` for an ``output_dir`` (logged as skipped when found)."""
    found = find_artifact(directory.parent, stage, directory.name, path=directory)
    if found is None:  # another process building it: wait, then use theirs
        wait_while_held(directory, f"{stage} (reuse)")
        found = find_artifact(directory.parent, stage, directory.name, path=directory)
    if found is not None:
        log.info("%s: up to date, skipped (%s)", stage, directory)
    return found


def find_artifact(root: Path, stage: str, key: str, *, path: Path | None = None) -> Artifact | None:
    """The verified artifact for ``key`` (at ``path`` if given), or None. A corrupt one is reported and removed."""
    path = Path(path) if path is not None else artifact_dir(root, stage, key)
    if not path.exists():
        return None
    try:
        return open_artifact(path)
    except ArtifactError as exc:
        log.warning("%s: %s -- rebuilding", stage, exc)
        shutil.rmtree(path, ignore_errors=True)
        return None


class ArtifactBuilder:
    """Collects a stage's output in a temporary directory; ``commit`` makes it an artifact."""

    def __init__(
        self,
        root: Path,
        stage: str,
        key: str,
        config: Any,
        inputs: dict[str, Artifact],
        final: Path | None = None,
        code: dict[str, Any] | None = None,
    ):
        self.stage, self.key, self.config, self.inputs, self.code = stage, key, config, inputs, code
        self.final = Path(final) if final is not None else artifact_dir(root, stage, key)
        self.tmp = self.final.parent / f".tmp-{key}-{_owner()}"
        self.stats: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.started = time.time()
        self._artifact: Artifact | None = None

    def path(self, name: str) -> Path:
        return self.tmp / name

    @property
    def artifact(self) -> Artifact:
        """The committed artifact (set when the ``build_artifact`` block completes)."""
        if self._artifact is None:
            raise ArtifactError(f"{self.stage} artifact {self.key} is not committed yet")
        return self._artifact

    def commit(self) -> Artifact:
        files = {}
        for file in sorted(self.tmp.iterdir()):
            if file.name == Files.META or file.name.startswith("."):
                continue
            files[file.name] = file_record(file)
        meta = {
            "stage": self.stage,
            "key": self.key,
            "format": FORMAT_VERSION,
            "config": self.config,
            "inputs": {
                name: {"path": str(a.path), "key": a.key, "digest": a.digest} for name, a in self.inputs.items()
            },
            "files": files,
            "stats": self.stats,
            "code": self.code,  # the digest of the code that decided it (bows.stages.code_record)
            "versions": library_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(time.time() - self.started, 3),
            **self.extra,
        }
        meta = write_checked_json(self.tmp / Files.META, meta)
        if self.final.exists():
            try:  # another process (a parallel sweep job) finished the same key first: use theirs
                return open_artifact(self.final)
            except ArtifactError:  # a corrupt leftover that find_artifact did not remove
                shutil.rmtree(self.final, ignore_errors=True)
        try:
            os.replace(self.tmp, self.final)
        except OSError:
            return open_artifact(self.final)  # lost a race to a concurrent build of the same key
        return Artifact(path=self.final, meta=meta)


def _owner() -> str:
    return f"{socket.gethostname().replace('-', '_')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _abandoned(host_pid: list[str]) -> bool:
    """Is a temporary directory's builder (``host``, ``pid``) gone? Only known for this host."""
    if len(host_pid) != 2 or not host_pid[1].isdigit():
        return True
    host, pid = host_pid
    if host != socket.gethostname().replace("-", "_"):
        return False  # another machine's build in progress (shared file system): leave it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextlib.contextmanager
def build_artifact(
    root: Path,
    stage: str,
    key: str,
    config: Any,
    inputs: dict[str, Artifact] | None = None,
    *,
    final: Path | None = None,
    code: dict[str, Any] | None = None,
) -> Iterator[ArtifactBuilder]:
    """Context manager: write files with ``builder.path(name)``, set ``builder.stats``; the
    directory becomes the artifact only if the block completes (then call ``builder.commit()``
    is done for you). On error the temporary directory is removed and nothing is left behind.
    ``final`` places it at another path than ``<root>/artifacts/<stage>/<key>`` (``output_dir``)."""
    builder = ArtifactBuilder(Path(root), stage, key, config, dict(inputs or {}), final, code)
    builder.final.parent.mkdir(parents=True, exist_ok=True)
    with hold(builder.final, f"build {stage}", wait=None):  # one builder per key; others wait, then reuse
        for stale in builder.final.parent.glob(f".tmp-{key}-*"):  # leftovers of interrupted runs
            if _abandoned(stale.name.rsplit("-", 3)[-3:-1]):
                shutil.rmtree(stale, ignore_errors=True)
        builder.tmp.mkdir()
        try:
            yield builder
            builder._artifact = builder.commit()
        finally:
            if builder.tmp.exists():
                shutil.rmtree(builder.tmp, ignore_errors=True)


def reuse_or_key(
    root: Path, stage: str, config: Any, inputs: dict[str, Artifact] | None = None
) -> tuple[str, Artifact | None]:
    """The stage's key and, if an intact artifact for it exists, that artifact (logged as skipped)."""
    key = artifact_key(stage, config, inputs)
    found = find_artifact(root, stage, key)
    if found is None:  # another process building this key: wait, then use theirs
        wait_while_held(artifact_dir(root, stage, key), f"{stage} (reuse)")
        found = find_artifact(root, stage, key)
    if found is not None:
        log.info("%s: up to date, skipped (%s)", stage, found.path)
    return key, found
