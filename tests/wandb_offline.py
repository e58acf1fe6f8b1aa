"""Read offline W&B run files (``offline-run-*/run-<id>.wandb``) back with wandb's own protobuf schema.

wandb 0.2x+ writes records in a LevelDB-log container (the "datastore": a 7-byte ``:W&B`` header, 32 KiB
blocks, each record chunk with a 7-byte header crc32/length/type) holding ``wandb.proto.wandb_internal_pb2
.Record`` messages; the Python datastore reader was removed when wandb moved to wandb-core, so this
walks the container and parses each record with wandb's ``Record`` message.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

pb: Any = wandb_internal_pb2  # generated protobuf module: its message classes are invisible to pyright

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    data = Path(path).read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:HEADER])
    assert ident == b":W&B" and magic == 0xBEE1, f"{path} is not a W&B datastore ({ident!r}, {magic:#x})"
    out, pos, pending = [], HEADER, b""
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:  # zero padding at the end of a block
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        if kind == FULL:
            pending = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        elif kind == LAST:
            pending += chunk
        record = pb.Record()
        record.ParseFromString(pending)
        out.append(record)
        pending = b""
    return out


@dataclass
class OfflineRun:
    """What one offline run segment holds, as W&B would upload it."""

    path: Path
    id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # nested, as logged
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # logged: name, type, aliases, metadata, files
    used_artifacts: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    def flat_config(self) -> dict[str, Any]:
        """Config keys as the W&B UI shows them: nested dicts joined with dots (``train.weight_decay``)."""
        out: dict[str, Any] = {}

        def walk(prefix: str, tree: Any) -> None:
            if isinstance(tree, dict):
                for k, v in tree.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = tree

        walk("", {k: v for k, v in self.config.items() if not k.startswith("_")})
        return out

    def history_keys(self) -> set[str]:
        return {k for row in self.history for k in row}


def _items(items) -> dict[str, Any]:
    out = {}
    for item in items:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        out[key] = json.loads(item.value_json)
    return out


def _artifact(a: Any) -> dict[str, Any]:
    return {
        "name": a.name,
        "type": a.type,
        "aliases": list(a.aliases),
        "metadata": json.loads(a.metadata) if a.metadata else {},
        "files": sorted(e.path for e in a.manifest.contents),
        "digest": a.digest,
    }


def read_run(run_dir: Path) -> OfflineRun:
    """Parse ``run_dir`` (an ``offline-run-*`` directory)."""
    [file] = list(Path(run_dir).glob("*.wandb"))
    run = OfflineRun(path=Path(run_dir))
    for r in records(file):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run.id, run.name, run.group, run.job_type = (
                r.run.run_id,
                r.run.display_name,
                r.run.run_group,
                r.run.job_type,
            )
            run.tags = list(r.run.tags)
            run.config.update(_items(r.run.config.update))
        elif kind == "config":
            run.config.update(_items(r.config.update))
        elif kind == "history":
            run.history.append(_items(r.history.item))
        elif kind == "summary":
            run.summary.update(_items(r.summary.update))
        elif kind == "artifact":
            run.artifacts.append(_artifact(r.artifact))
        elif kind == "use_artifact":
            run.used_artifacts.append({"name": r.use_artifact.name, "type": r.use_artifact.type})
        elif kind == "request" and r.request.WhichOneof("request_type") == "log_artifact":
            run.artifacts.append(_artifact(r.request.log_artifact.artifact))
        elif kind == "exit":
            run.exit_code = r.exit.exit_code
    latest: dict[str, Any] = {}
    for row in run.history:  # W&B's summary defaults to each key's last logged value
        latest.update({k: v for k, v in row.items() if not k.startswith("_")})
    run.summary = {**latest, **run.summary}
    return run


def read_runs(*dirs: Path) -> list[OfflineRun]:
    """Every offline run segment under the given W&B parent directories (``<dir>/wandb/offline-run-*``)."""
    return [read_run(p) for d in dirs for p in sorted(Path(d).glob("wandb/offline-run-*"))]
