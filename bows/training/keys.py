"""The key of a training run (``<root>/runs/<key>``), without importing torch (``bows.status`` reads it).

It hashes the model and training settings that change the result -- the fields of
``ModelConfig``/``TrainConfig`` not declared ``NOT_IN_KEY`` in ``bows.config`` -- plus ``KEY_FORMAT``
and the windows artifact's content digest.
"""

from __future__ import annotations

from bows.artifacts import Artifact, stable_hash
from bows.config import KEY_FORMAT, BowsConfig, key_dict


def run_key(cfg: BowsConfig, windows: Artifact) -> str:
    payload = {"key_format": KEY_FORMAT, "model": key_dict(cfg.model), "train": key_dict(cfg.train)}
    return stable_hash({**payload, "windows": windows.digest})[:16]
