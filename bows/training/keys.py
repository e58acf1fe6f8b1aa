"""The key of a training run (``<root>/runs/<key>``), without importing torch (``bows.status`` reads it).

It hashes the model and training settings that change the result -- the fields of
``ModelConfig``/``TrainConfig`` not declared ``NOT_IN_KEY`` in ``bows.config`` -- plus
the windows artifact's content digest.
"""

from __future__ import annotations

from typing import Any

from bows.artifacts import Artifact, stable_hash
from bows.config import BowsConfig, ModelConfig, TrainConfig, key_dict


def _key(model: ModelConfig, train: TrainConfig, windows_digest: str) -> str:
    payload = {"model": key_dict(model), "train": key_dict(train)}
    return stable_hash({**payload, "windows": windows_digest})[:16]


def run_key(cfg: BowsConfig, windows: Artifact) -> str:
    return _key(cfg.model, cfg.train, windows.digest)


def recorded_run_key(config: dict[str, Any], windows_digest: str) -> str:
    """The key this bows gives a run recorded in ``run.json`` (its ``config``): only the model and train
    sections are rebuilt (milliseconds, not a Hydra composition); an unknown field raises ``TypeError``."""
    return _key(ModelConfig(**config["model"]), TrainConfig(**config["train"]), windows_digest)
