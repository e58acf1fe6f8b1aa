"""Shared test helpers: the real config tree, shrunk and pointed at a temporary data root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from bows.config import BowsConfig, compose  # noqa: E402


def tiny_config(root: Path, *overrides: str) -> BowsConfig:
    """Compose the real ``conf/`` tree with the data root in ``root``, W&B disabled, plus overrides."""
    return compose([f"paths.root={root}", "wandb=disabled", *overrides])


@pytest.fixture
def make_config(tmp_path: Path):
    def _make(*overrides: str) -> BowsConfig:
        return tiny_config(tmp_path, *overrides)

    return _make
