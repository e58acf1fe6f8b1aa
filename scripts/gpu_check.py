"""The CUDA path proven in one command (``make gpu-check``): install the carried wheels, print the device,
then run each part timed and guarded on its own, and print one table (writes table.txt, results.json and
log.txt under ``--out``: ``$OUT`` on a lent machine, else ``<root>/gpu-check``).

Parts (each a child process with its own time limit, so one failure or hang never loses the others):
  env      the device, torch, CUDA and the carried wheels
  tests    the ``gpu`` tests and the CUDA-vs-CPU loss/gradient equality tests (tests/test_device_equality.py)
  bench    ``scripts/bench_train.py --device``: per precision the measured cuBLAS rate, the step bound,
           windows/s and its fraction of the bound, peak memory
  paper    the real trainer (``training.train.Trainer``: logging, eval, ring scores, checkpoints) for a few
           hundred steps on synthetic WikiText-shaped windows per precision, projected to the paper's
           31,670-step run (steady step time x 31,670 + 10 epoch ends); host syncs per step counted on CUDA
  sweep    the structure sweep's 16 latent sizes, 3 seeds as instances of one model (as ``make structure``
           trains them) and as separate models (a Hydra multirun), projected to 31,670 steps each
  e2e      ``python -m bows.training.train`` + ``python -m bows.analysis.analyze`` through Hydra, W&B offline,
           on the carried slice of the embedded corpus (``.whl/embedded_slice.parquet``)

Synthetic windows: V = 10,000 words with Zipf(1) frequencies and ``WIKITEXT_WORDS`` distinct words per
window, the number measured for WikiText-shaped windows (README, "GPU check").

    python3 scripts/gpu_check.py [--device cuda] [--out DIR] [--wheels .whl] [--tiny] [--budget-s 480]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PAPER_STEPS = 31_670  # the paper's 10 WikiText-103 epochs of batch 512
PAPER_EPOCHS = 10
SWEEP_LATENTS = (50, 75, 100, 125, 150, 200, 250, 300, 400, 600, 800, 1000, 2000, 4000, 6000, 10000)
SWEEP_SEEDS = 3
# distinct in-vocabulary words per window of G=20 WikiText-103 rows: ~357 measured on the closest corpus at hand
# (README, "GPU check"); ``zipf_windows`` draws give ~357 distinct words at this target
WIKITEXT_WORDS = 340
PRECISIONS = ("fp32", "tf32", "bf16")
# targets of issue 22 (one H100 or H200)
PAPER_TARGET_S = {"fp32": 60.0, "tf32": 30.0, "bf16": 30.0}
SWEEP_TARGET_S = 15 * 60.0
BOUND_TARGET = 0.7
# seconds each part may take (full size); the whole check stays under --budget-s
LIMITS = {"env": 30, "tests": 80, "bench": 70, "paper": 100, "sweep": 75, "e2e": 90}


# ---------------------------------------------------------------------------------------------- sizes
def sizes(tiny: bool) -> dict[str, Any]:
    """Problem sizes: the paper's, or a tiny setting that exercises every line on 2 CPU cores."""
    if tiny:
        return dict(
            vocab=2000,
            latent=32,
            batch=128,
            words=40,
            paper_steps=24,
            epoch_steps=8,
            log_every=4,
            eval_windows=256,
            sweep_latents=(8, 16, 32),
            sweep_steps=3,
            bench_steps=3,
            bench_latent=32,
            e2e_steps=20,
            e2e_latent=16,
            e2e_vocab=300,
            threads=1,
        )
    return dict(
        vocab=10_000,
        latent=1000,
        batch=512,
        words=WIKITEXT_WORDS,
        paper_steps=300,
        epoch_steps=100,
        log_every=50,
        eval_windows=20_000,
        sweep_latents=SWEEP_LATENTS,
        sweep_steps=15,
        bench_steps=50,
        bench_latent=1000,
        e2e_steps=300,
        e2e_latent=100,
        e2e_vocab=2000,
        threads=0,
    )


# ---------------------------------------------------------------------------------------------- parts
def part_env(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {"python": sys.version.split()[0], "torch": torch.__version__, "device": args.device}
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {args.device} but torch {torch.__version__} sees no CUDA GPU")
        p = torch.cuda.get_device_properties(0)
        out.update(
            name=p.name,
            cuda=torch.version.cuda,
            capability=f"{p.major}.{p.minor}",
            memory_gib=round(p.total_memory / 2**30, 1),
            sms=p.multi_processor_count,
        )
    else:
        from bows.training.autotune import machine_name

        out.update(name=machine_name(torch.device("cpu")), threads=torch.get_num_threads())
    for module in ("hydra", "omegaconf", "wandb", "submitit"):
        try:
            mod = __import__(module)
            out[module] = getattr(mod, "__version__", "?")
        except ImportError as exc:
            out[module] = f"missing ({exc})"
    out["summary"] = f"{out['name']} | torch {out['torch']}" + (f" CUDA {out['cuda']}" if "cuda" in out else "")
    return out


def part_tests(args: argparse.Namespace) -> dict[str, Any]:
    """pytest: the ``gpu`` tests and the device-vs-CPU equality tests; counts from its summary line."""
    env = dict(os.environ, BOWS_TEST_DEVICE=args.device, WANDB_MODE="disabled")
    files = ["tests/test_device_equality.py", "tests/test_kernels.py", "tests/test_train.py", "tests/test_scale.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "-rs", *files]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    print(result.stdout[-6000:], result.stderr[-3000:], sep="\n")
    counts = {}
    tail = (result.stdout.strip().splitlines() or [""])[-1]
    for word in ("passed", "failed", "skipped", "error", "errors", "deselected"):
        for piece in tail.replace(",", " ,").split(","):
            bits = piece.split()
            if len(bits) >= 2 and bits[1] == word and bits[0].isdigit():
                counts[word.rstrip("s") if word == "errors" else word] = int(bits[0])
    out = {"returncode": result.returncode, "counts": counts, "summary": tail.strip("= ")}
    if result.returncode not in (0,):
        raise RuntimeError(f"pytest exit {result.returncode}: {tail.strip('= ')}")
    return out


def part_bench(args: argparse.Namespace) -> dict[str, Any]:
    """``bench_train.py`` per precision; the chosen (auto) row of each."""
    s = sizes(args.tiny)
    precisions = [p for p in PRECISIONS if p != "tf32" or args.device.startswith("cuda")]
    root = Path(args.work) / "bench"
    cmd = [
        sys.executable,
        str(REPO / "scripts" / "bench_train.py"),
        "--device",
        args.device,
        "--precisions",
        *precisions,
        "--steps",
        str(s["bench_steps"]),
        "--paper-steps",
        "2",
        "--instances",
        "0",
        "--latent",
        str(s["bench_latent"]),
        "--words",
        str(s["words"]),
        "--vocab",
        str(s["vocab"]),
        "--threads",
        str(s["threads"]),
        "--root",
        str(root),
    ]
    sys.stdout.flush()
    result = subprocess.run(cmd, cwd=REPO)  # its output goes straight to the log
    if result.returncode != 0:
        raise RuntimeError(f"bench_train exit {result.returncode} (its output is in log.txt)")
    data = json.loads((root / "bench" / "bench_train.json").read_text())
    rows = {}
    for p in precisions:
        r = data["rows"][f"{p}/auto"]
        rows[p] = {
            k: r[k]
            for k in (
                "kernels",
                "gemm_gflops_mean",
                "bound_windows_per_s",
                "windows_per_s",
                "fraction_of_bound",
                "peak_memory_bytes",
            )
        }
    return {"rows": rows, "words_per_window": data["words_per_window"], "latent": data["latent"]}


def synthetic_windows(n: int, vocab: int, words: int, seed: int):
    """CSR windows with Zipf word frequencies (``bench_train.zipf_windows``), as the trainer reads them."""
    from types import SimpleNamespace

    sys.path.insert(0, str(REPO / "scripts"))
    from bench_train import zipf_windows

    offsets, indices = zipf_windows(n, vocab, words, seed)
    return SimpleNamespace(offsets=offsets, indices=indices, vocab_size=vocab)


class _Synthetic:
    """Stands in for the binarize artifact of synthetic windows (the trainer reads path, digest, stats)."""

    def __init__(self, path: Path):
        self.path, self.digest, self.stats, self.meta = path, "synthetic", {}, {"files": {}}

    def input(self, name: str):
        from bows.artifacts import ArtifactError

        raise ArtifactError("synthetic windows have no vocabulary artifact")


def epoch_end_seconds(trainer: Any, batch: int) -> float:
    """What the trainer does at each epoch end, timed once more after the run: eval loss, the calendar ring
    scores and the checkpoint (best of two)."""
    import torch

    from bows.training import train as train_mod

    def once() -> float:
        t0 = time.perf_counter()
        if trainer.eval_data is not None:
            train_mod.evaluate(trainer.model, trainer.eval_data, batch)
        train_mod.calendar_rings(trainer.model.weights()[0], trainer.vocab)
        trainer._checkpoint()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return min(once(), once())


def part_paper(args: argparse.Namespace) -> dict[str, Any]:
    """The real trainer on synthetic WikiText-shaped windows, per precision, projected to the paper run."""
    import warnings

    import numpy as np
    import torch

    from bows.config import compose
    from bows.core.groups import DAYS, MONTHS
    from bows.training import train as train_mod

    s = sizes(args.tiny)
    cuda = args.device.startswith("cuda")
    train = synthetic_windows(s["batch"] * s["epoch_steps"], s["vocab"], s["words"], seed=0)
    val = synthetic_windows(min(s["eval_windows"], 4 * s["batch"] * 4), s["vocab"], s["words"], seed=1)
    words = float(np.diff(train.offsets).mean())
    vocab = [*DAYS, *MONTHS, *(f"w{i}" for i in range(len(DAYS) + len(MONTHS), s["vocab"]))]
    out: dict[str, Any] = {"words_per_window": words, "latent": s["latent"], "steps": s["paper_steps"], "rows": {}}
    for precision in [p for p in PRECISIONS if p != "tf32" or cuda]:
        root = Path(args.work) / f"paper-{precision}"
        cfg = compose(
            [
                f"paths.root={root}",
                "wandb=disabled",
                f"model.latent_size={s['latent']}",
                f"train.batch_size={s['batch']}",
                f"train.max_steps={s['paper_steps']}",
                f"train.precision={precision}",
                f"train.device={args.device}",
                f"train.log_every={s['log_every']}",
                f"train.eval_windows={s['eval_windows']}",
                f"train.num_threads={s['threads']}",
            ]
        )
        device, _ = train_mod.resolve_device(cfg.train.device, cfg.train.precision, cfg.train.num_threads)
        t0 = time.perf_counter()
        trainer = train_mod.Trainer(cfg, _Synthetic(root), train, val, root / "runs" / precision, device)  # type: ignore[arg-type]
        trainer.vocab = vocab  # the calendar words lead: the epoch-end ring scores run as in a real run
        setup = time.perf_counter() - t0
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.set_sync_debug_mode("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            try:
                trainer.train()
            finally:
                if cuda:
                    torch.cuda.synchronize()
                    torch.cuda.set_sync_debug_mode("default")
            total = time.perf_counter() - t0
        syncs = sum("synchroniz" in str(w.message) for w in caught) if cuda else None
        if syncs == 0:  # every log step reads the loss back (a sync): none seen means none were captured
            syncs = None
        rates = [r["windows_per_s"] for r in trainer.history if "windows_per_s" in r][1:]  # the first warms up
        step_s = s["batch"] / float(np.median(rates))
        epoch_end_s = epoch_end_seconds(trainer, s["batch"])
        epochs = -(-s["paper_steps"] // s["epoch_steps"])
        fixed_s = max(0.0, total - step_s * s["paper_steps"] - epochs * epoch_end_s)  # W&B, final weights
        projected = PAPER_STEPS * step_s + PAPER_EPOCHS * epoch_end_s + fixed_s
        out["rows"][precision] = {
            "kernels": trainer.kernels.describe(),
            "setup_s": setup,
            "loop_s": total,
            "step_ms": 1e3 * step_s,
            "windows_per_s": s["batch"] / step_s,
            "epoch_end_s": epoch_end_s,
            "fixed_s": fixed_s,
            "syncs_per_step": None if syncs is None else syncs / s["paper_steps"],
            "projected_run_s": projected,
            "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
            "final_loss": trainer.history[-1].get("loss") if trainer.history else None,
        }
        del trainer
        save_partial(args, out)
        if cuda:
            torch.cuda.empty_cache()
    return out


def seconds_per_step(data: Any, s: dict[str, Any], latent: int, instances: int, kernels: Any) -> float:
    """Seconds per optimizer step of ``instances`` models of size ``latent`` in one direct step (the steps
    queue on the device; one read at the end)."""
    import torch

    from bows.training.batches import epoch_batches
    from bows.training.model import TiedAutoencoder
    from bows.training.optim import Optimisation

    device = data.rows.device
    torch.manual_seed(0)
    with device:  # initialised on the device: L=10,000 x 3 is 300 M weights
        model = TiedAutoencoder(s["vocab"], latent, instances=instances)
    opt = Optimisation(model, lr=5e-4, weight_decay=1.0, total_steps=PAPER_STEPS, kernels=kernels)
    batches = epoch_batches(data, s["batch"], seed=0, epoch=0)
    for _ in range(2):
        opt.update(next(batches))
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(s["sweep_steps"]):
        opt.update(next(batches))
    float(opt.update(next(batches))[0])
    return (time.perf_counter() - t0) / (s["sweep_steps"] + 1)


def part_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """Step time of each latent size of the structure sweep: the seeds as instances of one model, and as
    separate models; per precision, projected to 31,670 steps each (48 models)."""
    import torch

    from bows.training.batches import to_device
    from bows.training.kernels import Kernels
    from bows.training.train import resolve_device

    s = sizes(args.tiny)
    cuda = args.device.startswith("cuda")
    n = s["batch"] * (s["sweep_steps"] + 4) * 2
    w = synthetic_windows(n, s["vocab"], s["words"], seed=2)
    deadline = time.perf_counter() + args.part_budget_s
    out: dict[str, Any] = {"latents": list(s["sweep_latents"]), "rows": {}}
    for precision in ("tf32", "bf16", "fp32") if cuda else ("fp32", "bf16"):  # fp32 last: cut first
        device, _ = resolve_device(args.device, precision, s["threads"])
        data = to_device(w.offsets, w.indices, w.vocab_size, device)
        kernels = Kernels(dtype=torch.bfloat16 if precision == "bf16" else torch.float32)

        per: dict[str, dict[str, float | None]] = {}
        for latent in s["sweep_latents"]:
            if time.perf_counter() > deadline:
                per[str(latent)] = {"instances_s": None, "separate_s": None}
                continue
            per[str(latent)] = {
                "instances_s": seconds_per_step(data, s, latent, SWEEP_SEEDS, kernels),
                "separate_s": SWEEP_SEEDS * seconds_per_step(data, s, latent, 1, kernels),
            }
            if cuda:
                torch.cuda.empty_cache()
        done = [v for v in per.values() if v["instances_s"] is not None]
        complete = len(done) == len(per)
        largest = per[str(s["sweep_latents"][-1])]
        out["rows"][precision] = {
            "per_latent": per,
            "largest_step_ms": None if largest["instances_s"] is None else 1e3 * largest["instances_s"],
            "largest_projected_s": None if largest["instances_s"] is None else PAPER_STEPS * largest["instances_s"],
            "sweep_instances_s": PAPER_STEPS * sum(v["instances_s"] for v in done) if complete else None,  # type: ignore[misc]
            "sweep_separate_s": PAPER_STEPS * sum(v["separate_s"] for v in done) if complete else None,  # type: ignore[misc]
            "incomplete": None if complete else f"time budget ran out after {len(done)} of {len(per)} sizes",
        }
        del data
        save_partial(args, out)
        if cuda:
            torch.cuda.empty_cache()
    out["note"] = "sizes above a GPU's memory would need streaming; none here: L=10,000 x 3 instances is ~5 GB"
    return out


def synthetic_corpus(path: Path, docs: int = 240, rows: int = 12, seed: int = 0) -> Path:
    """A small English-like corpus as Parquet (one record per document, rows as lines): Zipf-distributed
    made-up words plus calendar words in calendar order, for the end-to-end run where no slice is carried."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bows.core.groups import DAYS, MONTHS

    rng = np.random.default_rng(seed)
    letters = "bcdfghklmnprstvz"
    words = [
        "".join(letters[(i >> (4 * k)) % 16] + "aeiou"[(i >> (4 * k + 2)) % 5] for k in range(3)) for i in range(3000)
    ]
    p = 1.0 / np.arange(1, len(words) + 1)
    texts = []
    for d in range(docs):
        lines = []
        for r in range(rows):
            month = (d + r) % 12
            picked = [words[i] for i in rng.choice(len(words), 25, p=p / p.sum())]
            picked += [MONTHS[month], MONTHS[(month + 1) % 12], DAYS[(d + r) % 7]]
            rng.shuffle(picked)
            lines.append(" ".join(picked) + ".")
        texts.append("\n".join(lines))
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.table({"doc_id": [f"doc{d}" for d in range(docs)], "text": texts}), tmp)
    os.replace(tmp, path)
    return path


def part_e2e(args: argparse.Namespace) -> dict[str, Any]:
    """train + analyze through their Hydra entry points (subprocesses), W&B offline, on the carried corpus
    slice (``make gpu-wheels``) or, where none is carried (CI), a small synthetic corpus."""
    s = sizes(args.tiny)
    root = Path(args.work) / "e2e"
    root.mkdir(parents=True, exist_ok=True)
    slice_path = Path(args.wheels) / "embedded_slice.parquet"
    if slice_path.is_file():
        source = f"carried slice {slice_path.name}"
    else:
        slice_path = synthetic_corpus(root / "synthetic_corpus.parquet")
        source = "synthetic corpus (no slice carried)"
    common = [
        f"paths.root={root}",
        "wandb=offline",
        "corpus=local",
        f"corpus.files=[{slice_path.resolve()}]",
        "window.group_size=5",
        "window.cross_documents=false",
        f"vocab.size={s['e2e_vocab']}",
        f"model.latent_size={s['e2e_latent']}",
        f"train.max_steps={s['e2e_steps']}",
        "train.batch_size=256",
        f"train.device={args.device}",
        f"train.num_threads={s['threads']}",
        "train.eval_windows=2000",
        "analyze.umap=false",
        "analyze.heldout_windows=2000",
        "stats.sample_windows=20000",
    ]
    common.append(f"analyze.discovery_candidates={100 if args.tiny else 500}")
    if args.tiny:
        common.append("analyze.figures=false")
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HF_HUB_OFFLINE="1")
    times = {}
    for stage, module in (("train", "bows.training.train"), ("analyze", "bows.analysis.analyze")):
        print(f"--- {stage}: python -m {module} {' '.join(common)}", flush=True)
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", module, *common], cwd=REPO, env=env)  # output to the log
        times[stage] = time.perf_counter() - t0
        if result.returncode != 0:
            raise RuntimeError(f"{stage} exit {result.returncode} (its output is in log.txt)")
    runs = sorted((root / "runs").glob("*/run.json"))
    if len(runs) != 1:
        raise RuntimeError(f"expected one run under {root / 'runs'}, found {len(runs)}")
    info = json.loads(runs[0].read_text())
    metrics = runs[0].parent / "analysis" / "metrics.json"
    if not metrics.is_file():
        raise RuntimeError(f"analyze wrote no {metrics}")
    offline = sorted(runs[0].parent.glob("wandb/offline-run-*"))
    return {
        "source": source,
        "train_s": times["train"],
        "analyze_s": times["analyze"],
        "device": info.get("device"),
        "status": info.get("status"),
        "eval_loss": info.get("summary", {}).get("eval_loss"),
        "wandb_offline_runs": len(offline),
    }


PARTS = {
    "env": part_env,
    "tests": part_tests,
    "bench": part_bench,
    "paper": part_paper,
    "sweep": part_sweep,
    "e2e": part_e2e,
}


# ---------------------------------------------------------------------------------------------- driver
def importable(python: str, env: dict[str, str], modules: tuple[str, ...]) -> bool:
    code = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"
    return subprocess.run([python, "-c", code, *modules], env=env, capture_output=True).returncode == 0


def install(args: argparse.Namespace, env: dict[str, str], log: Any) -> dict[str, Any]:
    """The carried wheels into a private target (put on PYTHONPATH) when the needed imports are missing."""
    needed = ("hydra", "omegaconf", "wandb", "submitit", "hydra_plugins.hydra_joblib_launcher")
    if importable(sys.executable, env, needed):
        return {"status": "skipped", "summary": "hydra, omegaconf, wandb, submitit, launchers already importable"}
    wheels = sorted(Path(args.wheels).glob("*.whl"))
    if not wheels:
        raise RuntimeError(
            f"no wheels in {args.wheels} and {', '.join(needed)} not importable: run `make gpu-wheels` "
            "on a machine with PyPI and carry the folder"
        )
    site = Path(args.work) / "site"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--target",
        str(site),
        *map(str, wheels),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"pip install exit {result.returncode}: {(result.stderr.strip().splitlines() or [''])[-1]}")
    # the repository first: bows (and its conf/) from the tree, the wheels' packages after it
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if not importable(sys.executable, env, needed):
        raise RuntimeError(f"installed {len(wheels)} wheels but {', '.join(needed)} are still not importable")
    return {"status": "ok", "summary": f"{len(wheels)} wheels into {site}"}


def run_part(name: str, args: argparse.Namespace, env: dict[str, str], limit: float, log: Any) -> dict[str, Any]:
    """One part in a child process with a time limit; its JSON, or the failure in one line."""
    result_file = Path(args.work) / f"{name}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part",
        name,
        "--device",
        args.device,
        "--work",
        args.work,
        "--wheels",
        args.wheels,
        "--part-budget-s",
        str(max(5.0, 0.8 * limit)),
    ] + (["--tiny"] if args.tiny else [])
    log.write(f"\n===== {name} (limit {limit:.0f} s) =====\n")
    log.flush()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit)
        seconds = time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        stopped = {"status": "timeout", "seconds": time.perf_counter() - t0, "error": f"stopped after {limit:.0f} s"}
        partial = Path(args.work) / f"{name}.partial.json"
        if not partial.is_file():
            return stopped
        # the rows measured before the limit stand; the others say why they are missing
        data = json.loads(partial.read_text())
        data.update(status="ok", seconds=stopped["seconds"], note=f"not reached: {stopped['error']}")
        return data
    if result_file.is_file():
        data = json.loads(result_file.read_text())
        data["seconds"] = seconds
        return data
    return {"status": "failed", "seconds": seconds, "error": f"exit {proc.returncode}, no result (see log.txt)"}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def save_partial(args: argparse.Namespace, data: dict[str, Any]) -> None:
    """A part's rows so far (read back if the part is stopped at its time limit)."""
    if args.part:
        _write_json(Path(args.work) / f"{args.part}.partial.json", data)


def child(args: argparse.Namespace) -> None:
    """Run one part in this process and write its result (or its error) as JSON."""
    result_file = Path(args.work) / f"{args.part}.json"
    try:
        data = PARTS[args.part](args)
        data["status"] = "ok"
    except Exception as exc:  # a part's failure is its row, not the end of the check
        traceback.print_exc()
        data = {
            "status": "failed",
            "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
        }
    _write_json(result_file, data)


# ---------------------------------------------------------------------------------------------- table
COLUMNS = ("part", "status", "seconds", "measured", "target", "verdict")


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x / 60:.1f} min" if x >= 600 else f"{x:.0f} s" if x >= 10 else f"{x:.2f} s"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else "met" if ok else "MISSED"


def _precision_row(part: dict, precision: str, cuda: bool) -> tuple[dict, dict | None]:
    """A part's status for one precision (n/a, with why, when the part ran but has no row for it) and the row."""
    res, row = dict(part), part.get("rows", {}).get(precision)
    if res.get("status") == "ok" and row is None:
        res = {"status": "n/a", "error": _missing(precision, cuda, res), "seconds": None}
    return res, row


def _missing(precision: str, cuda: bool, res: dict[str, Any]) -> str:
    """Why a precision's row of a finished part holds no number."""
    if precision == "tf32" and not cuda:
        return "tf32 is a CUDA mode"
    return res.get("note") or "not measured"


def table_rows(results: dict[str, dict[str, Any]], device: str) -> list[tuple[str, ...]]:
    """The table: a fixed list of rows whatever the device or failures (a failed part fills its rows with
    its error), so a CPU run has the shape of a GPU run. The targets are the GPU's: judged on CUDA only."""
    cuda = device.startswith("cuda")
    rows: list[tuple[str, ...]] = []

    def add(part: str, res: dict[str, Any], measured: str, target: str = "", ok: bool | None = None) -> None:
        status = res.get("status", "missing")
        seconds = res.get("seconds")
        if status != "ok":
            measured = res.get("error") or res.get("summary") or measured
            ok = None
        rows.append((part, status, "" if seconds is None else f"{seconds:.1f}", measured, target, _verdict(ok)))

    env = results.get("env", {})
    add("env", env, env.get("summary", ""))
    inst = results.get("install", {})
    add("install wheels", inst, inst.get("summary", ""))
    tests = results.get("tests", {})
    add(
        "tests: gpu + CUDA-vs-CPU equality",
        tests,
        tests.get("summary", ""),
        "all pass",
        tests.get("returncode") == 0 if "returncode" in tests else None,
    )
    bench = results.get("bench", {})
    for p in PRECISIONS:
        res, r = _precision_row(bench, p, cuda)
        measured = ""
        if r:
            measured = (
                f"GEMM {r['gemm_gflops_mean']:,.0f} GFLOP/s | bound {r['bound_windows_per_s']:,.0f} w/s | "
                f"{r['windows_per_s']:,.0f} w/s = {r['fraction_of_bound']:.0%} | peak "
                f"{r['peak_memory_bytes'] / 2**30:.2f} GiB"
            )
        add(
            f"bench-train {p}",
            res,
            measured,
            f">= {BOUND_TARGET:.0%} of bound",
            None if not r or not cuda else r["fraction_of_bound"] >= BOUND_TARGET,
        )
    paper = results.get("paper", {})
    for p in PRECISIONS:
        res, r = _precision_row(paper, p, cuda)
        measured = ""
        if r:
            syncs = "n/a" if r["syncs_per_step"] is None else f"{r['syncs_per_step']:.3f}"
            measured = (
                f"L={paper.get('latent', '?')}: {r['step_ms']:.2f} ms/step ({r['windows_per_s']:,.0f} w/s), epoch end "
                f"{r['epoch_end_s']:.2f} s, syncs/step {syncs} -> 31,670 steps {_fmt_s(r['projected_run_s'])}"
            )
        add(
            f"paper run {p}",
            res,
            measured,
            f"<= {PAPER_TARGET_S[p]:.0f} s",
            None if not r or not cuda else r["projected_run_s"] <= PAPER_TARGET_S[p],
        )
    sweep = results.get("sweep", {})
    largest = (sweep.get("latents") or ["?"])[-1]
    for p in PRECISIONS:
        res = dict(sweep)
        r = sweep.get("rows", {}).get(p)
        if res.get("status") == "ok" and r is None:
            res = {"status": "n/a", "error": _missing(p, cuda, res), "seconds": None}
        m1 = m2 = ""
        if r:
            step = "n/a" if r["largest_step_ms"] is None else f"{r['largest_step_ms']:.2f}"
            m1 = f"L={largest}: {step} ms/step of {SWEEP_SEEDS} instances -> 31,670 steps {_fmt_s(r['largest_projected_s'])}"
            m2 = (
                f"{len(sweep.get('latents', []))} sizes x {SWEEP_SEEDS} seeds: as instances {_fmt_s(r['sweep_instances_s'])}; as separate runs "
                f"{_fmt_s(r['sweep_separate_s'])}" + (f" ({r['incomplete']})" if r.get("incomplete") else "")
            )
        add(f"sweep largest L x{SWEEP_SEEDS} seeds {p}", res, m1)
        ok = None if not r or not cuda or r["sweep_instances_s"] is None else r["sweep_instances_s"] <= SWEEP_TARGET_S
        add(f"sweep 48 models {p}", res, m2, f"<= {SWEEP_TARGET_S / 60:.0f} min", ok)
    e2e = results.get("e2e", {})
    measured = ""
    if e2e.get("status") == "ok":
        loss = "n/a" if e2e["eval_loss"] is None else f"{e2e['eval_loss']:.5f}"
        measured = (
            f"train {e2e['train_s']:.0f} s + analyze {e2e['analyze_s']:.0f} s on {e2e['device']}; eval loss "
            f"{loss}; W&B offline runs {e2e['wandb_offline_runs']} ({e2e['source']})"
        )
    add("e2e train + analyze (Hydra, W&B offline)", e2e, measured, "finishes", e2e.get("status") == "ok" or None)
    return rows


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Fixed-width columns; the long ``measured`` column last."""
    header = ("part", "status", "seconds", "verdict", "target", "measured")
    order = [COLUMNS.index(c) for c in header]
    table = [header, *[tuple(r[i] for i in order) for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(r[i].rjust(widths[i]) if i == 2 else r[i].ljust(widths[i]) for i in range(len(widths))), r[-1]])
        for r in table
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="default: $OUT, else <root>/gpu-check")
    parser.add_argument("--wheels", default=str(REPO / ".whl"))
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (CI on CPU); same parts, same table")
    parser.add_argument("--budget-s", type=float, default=None, help="wall budget of the whole check (480 s; tiny 900)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch folder (data, site)")
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--part-budget-s", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        return child(args)
    start = time.perf_counter()
    args.budget_s = args.budget_s or (900.0 if args.tiny else 480.0)
    out = Path(args.out or os.environ.get("OUT") or Path(os.environ.get("BOWS_DATA", REPO / "data")) / "gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    args.work = tempfile.mkdtemp(prefix="bows-gpu-check-")
    env = dict(os.environ, PYTHONUNBUFFERED="1", WANDB_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    results: dict[str, dict[str, Any]] = {}
    with open(out / "log.txt", "w") as log:
        t0 = time.perf_counter()
        try:
            results["install"] = install(args, env, log)
        except Exception as exc:
            results["install"] = {"status": "failed", "error": str(exc)}
        results["install"]["seconds"] = time.perf_counter() - t0
        for name in args.parts:
            left = args.budget_s - (time.perf_counter() - start)
            limit = min(LIMITS[name] * (3.0 if args.tiny else 1.0), left)
            if limit < 5:
                results[name] = {"status": "skipped", "error": "the check's time budget ran out", "seconds": None}
                continue
            results[name] = run_part(name, args, env, limit, log)
            print(f"gpu-check: {name} {results[name]['status']} in {results[name]['seconds']:.1f} s", flush=True)
            if name == "env" and results[name].get("status") == "ok":
                print(f"gpu-check: device {results[name]['summary']}", flush=True)
    total = time.perf_counter() - start
    text = format_table(table_rows(results, args.device))
    text += f"\ngpu-check: {args.device}{' (tiny)' if args.tiny else ''}, {total:.0f} s wall; details {out}/log.txt"
    for name, data in (
        (
            "results.json",
            json.dumps(
                {"device": args.device, "tiny": args.tiny, "seconds": total, "parts": results}, indent=2, default=str
            ),
        ),
        ("table.txt", text + "\n"),
    ):
        tmp = out / f".{name}.tmp"
        tmp.write_text(data)
        os.replace(tmp, out / name)
    if not args.keep_work:
        shutil.rmtree(args.work, ignore_errors=True)
    print(text)
    broken = sorted(n for n, r in results.items() if r.get("status") in ("failed", "timeout"))
    if broken:
        raise SystemExit(f"gpu-check: {', '.join(broken)} did not finish (rows above, {out}/log.txt)")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
