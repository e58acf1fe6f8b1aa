"""Every file under conf/ composes and validates: each option of each group, each experiment and
sweep overlay, and every value a sweep would launch (hydra.sweeper.params)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from bows.config import CONF_DIR, to_config

NOT_HYDRA = ("wandb_sweeps",)  # W&B Sweeps definitions (tests/test_wandb_dashboard.py checks them)
GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("experiment", "sweep", *NOT_HYDRA))
EXTRA = {"corpus=local": ["corpus.files=[notes.txt]"]}  # options that need a value to be valid


def _compose(overrides: list[str]) -> tuple[DictConfig, dict]:
    """The composed config (without its ``hydra`` node, as a stage sees it) and the sweep's params."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=overrides, return_hydra_config=True)
    params = dict(cfg.hydra.sweeper.get("params") or {})
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, params


def _options() -> list[str]:
    out = [f"{group}={p.stem}" for group in GROUPS for p in sorted((CONF_DIR / group).glob("*.yaml"))]
    out += [f"+{kind}={p.stem}" for kind in ("experiment", "sweep") for p in sorted((CONF_DIR / kind).glob("*.yaml"))]
    return out


def test_every_conf_file_is_covered():
    files = {
        p.relative_to(CONF_DIR).with_suffix("").as_posix()
        for p in Path(CONF_DIR).rglob("*.yaml")
        if p.relative_to(CONF_DIR).parts[0] not in NOT_HYDRA
    }
    covered = {o.lstrip("+").replace("=", "/") for o in _options()} | {"config"}
    assert files == covered


@pytest.mark.parametrize("option", _options())
def test_option_composes_and_validates(option, tmp_path):
    overrides = [option, *EXTRA.get(option, []), f"paths.root={tmp_path}"]
    cfg, params = _compose(overrides)
    to_config(cfg)
    for key, values in params.items():  # each value a multirun would launch
        for value in str(values).split(","):
            to_config(_compose([*overrides, f"{key}={value.strip()}"])[0])


def test_default_study_trains_4000_steps_and_paper_runs_by_epochs():
    assert to_config(_compose([])[0]).train.max_steps == 4000
    assert to_config(_compose(["+experiment=paper_wd4"])[0]).train.max_steps is None
