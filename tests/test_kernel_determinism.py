"""Same config, same seed, same machine -> same weights, whatever the load: the GEMM autotuner's timing
race only picks between backends that give ``aten``'s numbers, and the choice is recorded in run.json
and reused on resume (issue 21)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_train import _cfg, data  # noqa: F401  (the tiny-windows fixture)

from bows.artifacts import Files
from bows.training import autotune, kernels
from bows.training import train as train_mod


def _fp64_accumulate(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A backend that sums in another precision (like a BLAS with other blocking): last bits differ."""
    return torch.mm(a.double(), b.double()).to(a.dtype)


def _load(favourite):
    """A busy machine: whichever backend ``favourite`` names happens to time fastest."""

    def timed(fn, device, reps=1):
        fn()
        backend = fn.__defaults__[0] if fn.__defaults__ else None
        return 1e-6 if backend is favourite else 1e-3

    return timed


def test_the_timing_race_never_changes_the_weights(make_config, data, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setitem(kernels.BACKENDS, "fp64acc", _fp64_accumulate)
    assert "fp64acc" in kernels.available_backends(torch.device("cpu"))
    weights, choices = [], []
    for i, favourite in enumerate((_fp64_accumulate, kernels.BACKENDS["aten_t"], kernels.BACKENDS["aten"])):
        monkeypatch.setattr(autotune, "time_product", _load(favourite))
        path = train_mod.run(_cfg(make_config, f"paths.root={tmp_path / f'root{i}'}"))
        run = train_mod.load_run(path)
        weights.append(run.W)
        choices.append(json.loads((path / Files.RUN).read_text())["kernel_choice"])
    for W in weights[1:]:
        np.testing.assert_array_equal(W, weights[0])
    assert all(c["dtype"] == "float32" and set(kernels.PRODUCTS) <= set(c) for c in choices)
    assert all("fp64acc" not in c.values() for c in choices)  # numerically different: never a candidate


def test_resume_reuses_the_recorded_kernels_without_measuring(make_config, data, tmp_path, monkeypatch):  # noqa: F811
    root = tmp_path / "resumed"
    cfg = _cfg(make_config, f"paths.root={root}")
    real_update = train_mod.Optimisation.update

    def crashing_update(self, batch):
        if self.step == 23:
            raise KeyboardInterrupt
        return real_update(self, batch)

    monkeypatch.setattr(train_mod.Optimisation, "update", crashing_update)
    with pytest.raises(KeyboardInterrupt):
        train_mod.run(cfg)
    monkeypatch.setattr(train_mod.Optimisation, "update", real_update)
    (path,) = (root / "runs").iterdir()
    info = json.loads((path / Files.RUN).read_text())
    info["kernel_choice"] = {**info["kernel_choice"], "forward": "aten_t"}  # as another machine state chose
    (path / Files.RUN).write_text(json.dumps(info))
    (root / "cache" / "kernels.json").unlink()

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again on resume")

    monkeypatch.setattr(autotune, "measure", no_measuring)
    train_mod.run(cfg)
    done = json.loads((path / Files.RUN).read_text())
    assert done["status"] == "finished" and done["kernel_choice"]["forward"] == "aten_t"
