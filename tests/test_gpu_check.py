"""``make gpu-check``'s table (one fixed shape on any device, a failed part's rows say why, targets judged
on CUDA only), a real tiny run of the script, and ``make gpu-wheels``' choice of what to carry."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = _script("gpu_check")


def _results(fraction: float, paper_s: float, sweep_s: float, precisions=("fp32", "tf32", "bf16")) -> dict:
    bench = {
        p: {
            "kernels": "k",
            "gemm_gflops_mean": 1e5,
            "bound_windows_per_s": 1e6,
            "windows_per_s": fraction * 1e6,
            "fraction_of_bound": fraction,
            "peak_memory_bytes": 2**30,
        }
        for p in precisions
    }
    paper = {
        p: {
            "step_ms": 1.0,
            "windows_per_s": 5e5,
            "epoch_end_s": 0.2,
            "syncs_per_step": 0.02,
            "projected_run_s": paper_s,
        }
        for p in precisions
    }
    sweep = {
        p: {
            "largest_step_ms": 9.0,
            "largest_projected_s": 285.0,
            "sweep_instances_s": sweep_s,
            "sweep_separate_s": 2 * sweep_s,
            "incomplete": None,
        }
        for p in precisions
    }
    ok = {"status": "ok", "seconds": 1.0}
    return {
        "env": {**ok, "summary": "GPU"},
        "install": {**ok, "summary": "25 wheels"},
        "tests": {**ok, "returncode": 0, "summary": "30 passed"},
        "bench": {**ok, "rows": bench},
        "paper": {**ok, "rows": paper, "latent": 1000},
        "sweep": {**ok, "rows": sweep, "latents": [50, 10000]},
        "e2e": {
            **ok,
            "train_s": 20.0,
            "analyze_s": 30.0,
            "device": "cuda",
            "eval_loss": 0.003,
            "wandb_offline_runs": 1,
            "source": "slice",
        },
    }


def test_the_table_has_one_shape_on_every_device_and_failure():
    full = gpu_check.table_rows(_results(0.8, 50.0, 600.0), "cuda")
    cpu = gpu_check.table_rows(_results(0.8, 5e3, 6e4, precisions=("fp32", "bf16")), "cpu")
    broken = gpu_check.table_rows(
        {"bench": {"status": "timeout", "error": "stopped after 80 s", "seconds": 80.0}}, "cuda"
    )
    assert [r[0] for r in full] == [r[0] for r in cpu] == [r[0] for r in broken]
    assert len(full) == 3 + 3 + 3 + 6 + 1 and all(len(r) == len(gpu_check.COLUMNS) for r in full)
    bench = [r for r in broken if r[0].startswith("bench-train")]
    assert all(r[1] == "timeout" and "stopped after 80 s" in r[3] for r in bench)
    tf32 = [r for r in cpu if "tf32" in r[0]]
    assert all(r[1] == "n/a" and "CUDA" in r[3] for r in tf32)  # absent with its reason, not a number
    text = gpu_check.format_table(full)
    assert text.splitlines()[0].split()[:6] == ["part", "status", "seconds", "verdict", "target", "measured"]


def test_targets_are_judged_on_cuda_only():
    def verdicts(rows):
        return {r[0]: r[COLUMN] for r in rows}

    COLUMN = gpu_check.COLUMNS.index("verdict")
    good = verdicts(gpu_check.table_rows(_results(0.8, 25.0, 600.0), "cuda"))
    bad = verdicts(gpu_check.table_rows(_results(0.5, 70.0, 1200.0), "cuda"))
    cpu = verdicts(gpu_check.table_rows(_results(0.5, 70.0, 1200.0, ("fp32", "bf16")), "cpu"))
    assert good["bench-train bf16"] == "met" and bad["bench-train bf16"] == "MISSED"
    assert good["paper run fp32"] == "met" and bad["paper run fp32"] == "MISSED"
    assert good["sweep 48 models tf32"] == "met" and bad["sweep 48 models tf32"] == "MISSED"
    assert {cpu[k] for k in cpu if k.startswith(("bench", "paper", "sweep"))} == {"-"}


def test_a_tiny_cpu_run_writes_the_table(tmp_path):
    """The script itself on the CPU (its env part only): every row present, the files written, exit 0."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--device", "cpu", "--tiny", "--parts", "env"]
        + ["--out", str(out), "--wheels", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = (out / "table.txt").read_text()
    assert table.strip() in result.stdout
    assert len(table.strip().splitlines()) == 1 + 16 + 1  # header, rows, footer
    assert (out / "results.json").is_file() and (out / "log.txt").is_file()
    env_row = next(line for line in table.splitlines() if line.startswith("env "))
    assert " ok " in env_row and "torch" in env_row


def test_gpu_wheels_carry_what_the_gpu_machine_lacks_and_nothing_it_has():
    wheels = _script("gpu_wheels")
    pins = wheels.needed()
    for name in ("hydra-core", "omegaconf", "antlr4-python3-runtime", "wandb", "submitit", "hydra-joblib-launcher"):
        assert name in pins
    assert not set(pins) & wheels.GPU_HAS  # nothing there is replaced
    assert {"torch", "numpy", "pyarrow", "datasets", "umap-learn"}.isdisjoint(pins)  # lazy or present


def test_a_part_stopped_at_its_limit_keeps_the_rows_it_measured():
    results = _results(0.8, 50.0, 600.0)
    results["paper"]["rows"].pop("bf16")
    results["paper"]["note"] = "not reached: stopped after 100 s"
    rows = {r[0]: r for r in gpu_check.table_rows(results, "cuda")}
    assert rows["paper run fp32"][1] == "ok" and "31,670 steps" in rows["paper run fp32"][3]
    assert rows["paper run bf16"][1] == "n/a" and "stopped after 100 s" in rows["paper run bf16"][3]
