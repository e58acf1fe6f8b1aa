"""Typed, frozen configuration for every stage, registered with Hydra's ConfigStore.

YAML under ``conf/`` holds values; these dataclasses hold the schema. Hydra rejects unknown
keys (a typo such as ``window.gruop_size`` fails before any work), and ``to_config`` turns the
composed ``DictConfig`` into these objects once, running the cross-field checks in
``__post_init__``, so nothing below the entry point ever sees a ``DictConfig``.
"""

from __future__ import annotations

import codecs
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, cast

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from bows.core.groups import FORCED_TOKENS
from bows.errors import ConfigError

CORPORA = ("embedded", "wikitext103", "openwebtext", "local")

NOT_IN_KEY = {"key": False}
"""Field metadata of a setting that does not change a result (where it runs, how it logs, where files
live): ``field(default=..., metadata=NOT_IN_KEY)``. Every other field enters the keys (``key_dict``)."""


def _check(ok: bool, field_name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{field_name}: {message}")


@dataclass(frozen=True)
class PathsConfig:
    root: str = field(
        default="data", metadata=NOT_IN_KEY
    )  # every artifact, run and cache lives under here (relative to the cwd)
    # seconds a stage waits when another process trains the same run or writes the same analysis
    # (0: stop at once with one line naming it; -1: no limit); artifact builds always wait (bows/locks.py)
    lock_wait: float = field(default=0.0, metadata=NOT_IN_KEY)

    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser().resolve()


@dataclass(frozen=True)
class CorpusConfig:
    name: str = "embedded"
    hf_id: Optional[str] = None  # Hugging Face dataset id (wikitext103, openwebtext)
    hf_config: Optional[str] = None
    hf_cache_dir: Optional[str] = field(
        default=None, metadata=NOT_IN_KEY
    )  # Hugging Face datasets cache (None: the library's default, e.g. ~/.cache/huggingface)
    files: list[str] = field(default_factory=list)  # local corpus: .txt/.jsonl/.parquet paths or globs
    text_field: str = "text"  # column holding the text (local jsonl/parquet)
    encoding: str = "utf-8"  # text encoding of local .txt/.jsonl files
    validation_fraction: float = 0.1  # corpora without their own splits: share of documents
    test_fraction: float = 0.1
    holdout_rows: int = 10_000  # openwebtext: rows carved for validation and for test
    split_seed: int = 0
    sentences_per_row: int = 3  # embedded: long article bodies are split into rows of this many sentences
    max_rows: Optional[int] = None  # keep only the first N rows per split (smoke tests)

    def __post_init__(self) -> None:
        _check(self.name in CORPORA, "corpus.name", f"unknown corpus {self.name!r}; choose one of {', '.join(CORPORA)}")
        _check(
            self.name != "local" or len(self.files) > 0,
            "corpus.files",
            "the local corpus needs files, e.g. corpus=local 'corpus.files=[my/*.txt]'",
        )
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            _check(0.0 <= value < 1.0, f"corpus.{name}", f"must be in [0, 1), got {value}")
        _check(
            self.validation_fraction + self.test_fraction < 1.0,
            "corpus.test_fraction",
            "validation_fraction + test_fraction must leave documents for training",
        )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            _check(False, "corpus.encoding", f"unknown text encoding {self.encoding!r} (e.g. utf-8, latin-1)")
        _check(self.holdout_rows >= 1, "corpus.holdout_rows", f"must be >= 1, got {self.holdout_rows}")
        _check(self.sentences_per_row >= 1, "corpus.sentences_per_row", f"must be >= 1, got {self.sentences_per_row}")
        _check(self.max_rows is None or self.max_rows >= 1, "corpus.max_rows", f"must be >= 1, got {self.max_rows}")


@dataclass(frozen=True)
class VocabConfig:
    size: int = 10_000
    min_len: int = 50  # rows shorter than this (in characters) contribute no words
    sample_fraction: float = 0.2  # share of train rows counted for word frequencies
    seed: int = 0

    def __post_init__(self) -> None:
        _check(
            self.size >= len(FORCED_TOKENS),
            "vocab.size",
            f"must be at least the {len(FORCED_TOKENS)} forced tokens, got {self.size}",
        )
        _check(self.min_len >= 0, "vocab.min_len", f"must be >= 0, got {self.min_len}")
        _check(
            0.0 < self.sample_fraction <= 1.0, "vocab.sample_fraction", f"must be in (0, 1], got {self.sample_fraction}"
        )


@dataclass(frozen=True)
class WindowConfig:
    group_size: int = 20  # G: rows per window
    stride: int = 1
    cross_documents: bool = True  # may a window span two documents? (WikiText in the paper: yes)

    def __post_init__(self) -> None:
        _check(self.group_size >= 1, "window.group_size", f"must be >= 1, got {self.group_size}")
        _check(self.stride >= 1, "window.stride", f"must be >= 1, got {self.stride}")


@dataclass(frozen=True)
class DataConfig:
    """How the data stages run (never what they produce: outputs and artifact keys do not depend on it)."""

    chunk_rows: int = field(
        default=100_000, metadata=NOT_IN_KEY
    )  # rows read, tokenized and windowed at a time: sets the stages' peak memory
    num_shards: int = field(
        default=1, metadata=NOT_IN_KEY
    )  # split each corpus split into this many row ranges, built as independent jobs
    shard: Optional[int] = field(
        default=None, metadata=NOT_IN_KEY
    )  # build only this shard (a job of a multirun); None: all shards, then merge

    def __post_init__(self) -> None:
        _check(self.chunk_rows >= 1, "data.chunk_rows", f"must be >= 1, got {self.chunk_rows}")
        _check(self.num_shards >= 1, "data.num_shards", f"must be >= 1, got {self.num_shards}")
        _check(
            self.shard is None or 0 <= self.shard < self.num_shards,
            "data.shard",
            f"must be in [0, data.num_shards={self.num_shards}), got {self.shard}",
        )


@dataclass(frozen=True)
class ModelConfig:
    latent_size: int = 1000  # L
    output: str = "relu"  # "relu" (paper) or "linear"
    latent_relu: bool = False

    def __post_init__(self) -> None:
        _check(self.latent_size >= 1, "model.latent_size", f"must be >= 1, got {self.latent_size}")
        _check(self.output in ("relu", "linear"), "model.output", f"must be 'relu' or 'linear', got {self.output!r}")


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 5e-4
    weight_decay: float = 4.0
    batch_size: int = 512
    epochs: int = 10
    max_steps: Optional[int] = None  # if set, train for exactly this many optimizer steps (overrides epochs)
    seed: int = 1
    device: str = field(default="auto", metadata=NOT_IN_KEY)  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | tf32 | bf16
    resume: bool = field(
        default=True, metadata=NOT_IN_KEY
    )  # continue from the run directory's last checkpoint if there is one
    eval_windows: int = field(
        default=20_000, metadata=NOT_IN_KEY
    )  # held-out windows evaluated per epoch (validation split)
    checkpoint_every: int = field(
        default=0, metadata=NOT_IN_KEY
    )  # optimizer steps between checkpoints; 0 = once per epoch
    log_every: int = field(default=50, metadata=NOT_IN_KEY)  # optimizer steps between metric rows
    allow_code_change: bool = field(
        default=False, metadata=NOT_IN_KEY
    )  # resume a run begun by other training code (recorded in run.json); false: stop and say so
    num_threads: int = field(default=0, metadata=NOT_IN_KEY)  # CPU threads; 0 = all cores
    gemm: str = field(
        default="auto", metadata=NOT_IN_KEY
    )  # GEMM backend of the fused loss: auto (fastest measured here, cached) | aten | aten_t | onednn
    stream: str = field(
        default="auto", metadata=NOT_IN_KEY
    )  # train windows: auto (resident if they fit device_memory), resident, or stream (run.json records which)
    device_memory: Optional[float] = field(
        default=None, metadata=NOT_IN_KEY
    )  # GiB the resident windows may use (None: half the GPU's memory / the host's RAM)
    stream_block_windows: int = field(
        default=4_000_000, metadata=NOT_IN_KEY
    )  # streaming: non-empty windows per shuffled block copied to the device

    def __post_init__(self) -> None:
        _check(self.lr > 0, "train.lr", f"must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, "train.weight_decay", f"must be >= 0, got {self.weight_decay}")
        _check(self.batch_size >= 1, "train.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(self.epochs >= 1, "train.epochs", f"must be >= 1, got {self.epochs}")
        _check(self.max_steps is None or self.max_steps >= 1, "train.max_steps", f"must be >= 1, got {self.max_steps}")
        _check(
            self.precision in ("fp32", "tf32", "bf16"),
            "train.precision",
            f"must be fp32, tf32 or bf16, got {self.precision!r}",
        )
        _check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            "train.device",
            f"must be auto, cpu, cuda or cuda:N, got {self.device!r}",
        )
        _check(self.eval_windows >= 0, "train.eval_windows", f"must be >= 0, got {self.eval_windows}")
        _check(self.checkpoint_every >= 0, "train.checkpoint_every", f"must be >= 0, got {self.checkpoint_every}")
        _check(self.log_every >= 1, "train.log_every", f"must be >= 1, got {self.log_every}")
        _check(self.num_threads >= 0, "train.num_threads", f"must be >= 0, got {self.num_threads}")
        _check(
            self.gemm in ("auto", "aten", "onednn"), "train.gemm", f"must be auto, aten or onednn, got {self.gemm!r}"
        )
        _check(
            self.stream in ("auto", "resident", "stream"),
            "train.stream",
            f"must be auto, resident or stream, got {self.stream!r}",
        )
        _check(
            self.device_memory is None or self.device_memory > 0,
            "train.device_memory",
            f"must be > 0 GiB, got {self.device_memory}",
        )
        _check(
            self.stream_block_windows >= 1,
            "train.stream_block_windows",
            f"must be >= 1, got {self.stream_block_windows}",
        )


@dataclass(frozen=True)
class WandbConfig:
    mode: Optional[str] = field(default=None, metadata=NOT_IN_KEY)  # offline | online | disabled
    # (None: $WANDB_MODE if set, else offline; `wandb=...` on the command line sets it explicitly)
    project: str = field(default="bows", metadata=NOT_IN_KEY)
    entity: Optional[str] = field(default=None, metadata=NOT_IN_KEY)
    group: Optional[str] = field(default=None, metadata=NOT_IN_KEY)  # sweep members share a group
    tags: list[str] = field(default_factory=list, metadata=NOT_IN_KEY)
    init_timeout: float = field(default=30.0, metadata=NOT_IN_KEY)  # seconds online W&B may take to start

    def __post_init__(self) -> None:
        _check(
            self.mode in (None, "offline", "online", "disabled"),
            "wandb.mode",
            f"must be offline, online or disabled, got {self.mode!r}",
        )


@dataclass(frozen=True)
class StatsConfig:
    sample_windows: int = 200_000  # windows (evenly spaced over the train split) used for all-pairs statistics
    min_count: int = 20  # pairs/words seen fewer times are left out of the all-pairs tables
    scan_window_sizes: list[int] = field(default_factory=lambda: [1, 2, 3, 5, 10, 20])  # data diagnostics: G
    scan_sentences_per_row: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])  # embedded: segmentations
    scan_discovered: int = 4  # data diagnostics: also scan this many groups discovered in the co-occurrence
    scan: bool = True  # run the data diagnostics (window-size scan) with the stats stage

    def __post_init__(self) -> None:
        _check(self.sample_windows >= 1, "stats.sample_windows", f"must be >= 1, got {self.sample_windows}")
        _check(self.min_count >= 1, "stats.min_count", f"must be >= 1, got {self.min_count}")
        _check(
            len(self.scan_window_sizes) > 0 and all(g >= 1 for g in self.scan_window_sizes),
            "stats.scan_window_sizes",
            f"must be a non-empty list of sizes >= 1, got {self.scan_window_sizes}",
        )
        _check(
            all(s >= 1 for s in self.scan_sentences_per_row),
            "stats.scan_sentences_per_row",
            f"must be sizes >= 1, got {self.scan_sentences_per_row}",
        )
        _check(self.scan_discovered >= 0, "stats.scan_discovered", f"must be >= 0, got {self.scan_discovered}")


@dataclass(frozen=True)
class AnalyzeConfig:
    run: Optional[str] = field(
        default=None, metadata=NOT_IN_KEY
    )  # a run directory to analyse (default: the run the current config trains)
    sweep: Optional[str] = field(default=None, metadata=NOT_IN_KEY)  # a sweep index (sweep.parquet) to analyse instead
    heldout_windows: int = 20_000  # held-out windows for R^2 and pre-activation analyses
    umap: bool = True  # UMAP of all word vectors (slow on first use: numba compiles)
    umap_neighbors: int = 15
    umap_min_dist: float = 0.05
    knn_k: int = 10  # neighbours in the category-purity test of word vectors
    discovery_candidates: int = 3000  # most frequent words searched for ring/line-shaped clusters
    figures: bool = True  # per-run PNG figures (sweep figures are always made)
    seed: int = 42

    def __post_init__(self) -> None:
        _check(self.heldout_windows >= 1, "analyze.heldout_windows", f"must be >= 1, got {self.heldout_windows}")
        _check(self.umap_neighbors >= 2, "analyze.umap_neighbors", f"must be >= 2, got {self.umap_neighbors}")
        _check(self.umap_min_dist >= 0, "analyze.umap_min_dist", f"must be >= 0, got {self.umap_min_dist}")
        _check(self.knn_k >= 1, "analyze.knn_k", f"must be >= 1, got {self.knn_k}")
        _check(
            self.discovery_candidates >= 2,
            "analyze.discovery_candidates",
            f"must be >= 2, got {self.discovery_candidates}",
        )


@dataclass(frozen=True)
class SyntheticConfig:
    structure: str = "circular"  # circular | figure8 | sphere | iid
    n_features: int = 12
    n_samples: int = 10_000
    n_train: int = 8_000  # the first n_train samples train, the rest measure test loss
    sharpness: float = 10.0  # correlation strength: p_f = sigmoid(sharpness * <u_f, z> + base_log_odds)
    base_log_odds: float = 0.0  # sparsity: lower means rarer features
    data_seed: int = 0
    latent_sizes: list[int] = field(default_factory=lambda: list(range(2, 13)))
    weight_decays: list[float] = field(default_factory=lambda: [1.0, 6.0])
    outputs: list[str] = field(default_factory=lambda: ["linear", "relu"])
    lr: float = 1e-2
    epochs: int = 200
    batch_size: int = 256
    grad_clip: float = 1.0
    seed: int = 0  # initial weights (per L) and batch order
    timing_check: int = 3  # models also trained one at a time, to time instance batching and check equality
    phase_diagram: bool = False  # instead: sweep sparsity x correlation strength (ReLU models, phase_* grid)
    phase_sharpness: list[float] = field(default_factory=lambda: [0.0, 2.0, 5.0, 10.0, 20.0])
    phase_base_log_odds: list[float] = field(default_factory=lambda: [0.0, -2.0, -4.0, -6.0])
    phase_latent_sizes: list[int] = field(default_factory=lambda: [3, 6])

    def __post_init__(self) -> None:
        _check(
            self.structure in ("circular", "figure8", "sphere", "iid"),
            "synthetic.structure",
            f"must be circular, figure8, sphere or iid, got {self.structure!r}",
        )
        _check(self.n_features >= 2, "synthetic.n_features", f"must be >= 2, got {self.n_features}")
        _check(0 < self.n_train < self.n_samples, "synthetic.n_train", "must be in (0, n_samples)")
        for name in ("latent_sizes", "phase_latent_sizes"):
            sizes = getattr(self, name)
            _check(
                len(sizes) > 0 and all(1 <= latent for latent in sizes),
                f"synthetic.{name}",
                f"needs at least one size, each >= 1, got {sizes}",
            )
        _check(
            len(self.weight_decays) > 0 and all(wd >= 0 for wd in self.weight_decays),
            "synthetic.weight_decays",
            f"needs at least one value, each >= 0, got {self.weight_decays}",
        )
        _check(
            len(self.outputs) > 0 and all(o in ("relu", "linear") for o in self.outputs),
            "synthetic.outputs",
            f"must be a non-empty subset of [linear, relu], got {self.outputs}",
        )
        _check(
            len(self.phase_sharpness) > 0 and all(v >= 0 for v in self.phase_sharpness),
            "synthetic.phase_sharpness",
            f"needs at least one value, each >= 0, got {self.phase_sharpness}",
        )
        _check(len(self.phase_base_log_odds) > 0, "synthetic.phase_base_log_odds", "needs at least one value")
        _check(self.lr > 0, "synthetic.lr", f"must be > 0, got {self.lr}")
        _check(self.epochs >= 1, "synthetic.epochs", f"must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 1, "synthetic.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(self.grad_clip > 0, "synthetic.grad_clip", f"must be > 0, got {self.grad_clip}")
        _check(self.timing_check >= 0, "synthetic.timing_check", f"must be >= 0, got {self.timing_check}")


@dataclass(frozen=True)
class CitymapConfig:
    min_population: int = 50_000
    embed_dim: int = 50
    hidden: int = 128  # width of the compass MLP's two hidden layers
    val_fraction: float = 0.2  # share of cities held out (validation pairs use only held-out cities)
    epochs: int = 10  # passes over the ~0.9 M training pairs (validation accuracy is ~0.97 after 2)
    lr: float = 1e-3
    batch_size: int = 1024
    ridge_alpha: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.min_population >= 0, "citymap.min_population", f"must be >= 0, got {self.min_population}")
        _check(
            self.embed_dim >= 2,
            "citymap.embed_dim",
            f"must be >= 2 (the probe reads 2 coordinates), got {self.embed_dim}",
        )
        _check(self.hidden >= 1, "citymap.hidden", f"must be >= 1, got {self.hidden}")
        _check(0.0 < self.val_fraction < 1.0, "citymap.val_fraction", f"must be in (0, 1), got {self.val_fraction}")
        _check(self.epochs >= 1, "citymap.epochs", f"must be >= 1, got {self.epochs}")
        _check(self.lr > 0, "citymap.lr", f"must be > 0, got {self.lr}")
        _check(self.batch_size >= 1, "citymap.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(self.ridge_alpha >= 0, "citymap.ridge_alpha", f"must be >= 0, got {self.ridge_alpha}")


@dataclass(frozen=True)
class StructureConfig:
    """``make structure`` (bows.experiments.structure): Gram structure of months / Roman numerals vs L."""

    latent_sizes: list[int] = field(default_factory=lambda: [25, 50, 100, 200, 400, 1000])
    # per latent size; from the settling curves of a reduced run (settled at 400/500 steps for L=25,
    # 600/1,000 for L=100, 1,000/1,500 for L=400): small models settle sooner (README, "Structure vs L")
    steps: list[int] = field(default_factory=lambda: [1000, 1000, 1000, 1500, 2000, 3000])
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])  # init seeds: instances of one model per L
    weight_decay: float = 1.0
    eval_every: int = 100  # steps between Frobenius-norm evaluations (the settling curve)
    settle_tolerance: float = 0.05  # settled: within this relative distance of the final value from then on
    discovery: bool = True  # run label-free discovery on every model: are the months / days found without labels?

    def __post_init__(self) -> None:
        _check(
            len(self.latent_sizes) > 0 and all(v >= 1 for v in self.latent_sizes),
            "structure.latent_sizes",
            f"must be a non-empty list of sizes >= 1, got {self.latent_sizes}",
        )
        _check(
            len(self.steps) == len(self.latent_sizes) and all(v >= 1 for v in self.steps),
            "structure.steps",
            f"needs one step count >= 1 per latent size ({len(self.latent_sizes)}), got {self.steps}",
        )
        _check(
            len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds),
            "structure.seeds",
            f"must be distinct seeds, got {self.seeds}",
        )
        _check(self.weight_decay >= 0, "structure.weight_decay", f"must be >= 0, got {self.weight_decay}")
        _check(self.eval_every >= 1, "structure.eval_every", f"must be >= 1, got {self.eval_every}")
        _check(
            0 < self.settle_tolerance < 1,
            "structure.settle_tolerance",
            f"must be in (0, 1), got {self.settle_tolerance}",
        )


@dataclass(frozen=True)
class StudyConfig:
    weight_decays: list[float] = field(default_factory=lambda: [4.0, 1.0])  # the paper's two models

    def __post_init__(self) -> None:
        _check(len(self.weight_decays) >= 1, "study.weight_decays", "needs at least one weight decay")
        _check(all(wd >= 0 for wd in self.weight_decays), "study.weight_decays", "weight decays must be >= 0")


@dataclass(frozen=True)
class BowsConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    citymap: CitymapConfig = field(default_factory=CitymapConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    run_name: Optional[str] = None  # optional human label for a training run (W&B name)


def _schema() -> DictConfig:
    """The structured schema Hydra composes into: typed and closed to unknown keys, but writable
    during composition (our frozen dataclasses would otherwise make every node read-only)."""
    node = OmegaConf.structured(BowsConfig)
    _writable(node)
    return node


def _writable(node: DictConfig) -> None:
    OmegaConf.set_readonly(node, False)
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _writable(child)
        elif child is not None:
            child._set_flag("readonly", False)


ConfigStore.instance().store(name="bows_schema", node=_schema())


def unique_dir(path: str) -> str:
    """``path`` or, when another launch took it first (two multiruns in the same second), ``path-2``,
    ``path-3``, ...: the first that this call creates (``mkdir`` is atomic, also on NFS). The resolver
    ``${bows_unique_dir:...}`` of ``hydra.sweep.dir``; cached, so every job of one multirun (and the
    copies Hydra pickles to joblib/submitit workers) sees the same directory."""
    base = Path(path)
    for n in range(1, 10_000):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return str(candidate)
    raise ConfigError(f"hydra.sweep.dir: 9,999 multirun directories named {base}-N exist already")


OmegaConf.register_new_resolver("bows_unique_dir", unique_dir, use_cache=True, replace=True)


def to_config(cfg: DictConfig | dict[str, Any]) -> BowsConfig:
    """Convert a composed Hydra config (the ``hydra`` key ignored) to a validated ``BowsConfig``."""
    if isinstance(cfg, DictConfig):
        container = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    else:
        container = dict(cfg)
    container.pop("hydra", None)
    merged = OmegaConf.merge(_schema(), container)  # unknown keys fail here too (struct schema)
    return _build(BowsConfig, cast(dict[str, Any], OmegaConf.to_container(merged, resolve=True)))


def _build(cls: type, values: dict[str, Any]) -> Any:
    """Instantiate ``cls`` from plain values, sections (dataclass-typed fields) first, so every
    ``__post_init__`` check runs."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        section = f.default_factory  # sections are declared as field(default_factory=<SectionConfig>)
        is_section = isinstance(section, type) and dataclasses.is_dataclass(section)
        kwargs[f.name] = _build(cast(type, section), values[f.name]) if is_section else values[f.name]
    return cls(**kwargs)


def as_dict(obj: Any) -> dict[str, Any]:
    """A plain, JSON-ready dict of a config dataclass (for hashing, metadata and W&B)."""
    return dataclasses.asdict(obj)


def key_dict(obj: Any) -> dict[str, Any]:
    """The settings of a config dataclass that enter keys: every field not declared ``NOT_IN_KEY``,
    sections recursively, as a plain dict (what run, artifact and analysis keys hash)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.metadata.get("key", True) is False:
            continue
        value = getattr(obj, f.name)
        out[f.name] = key_dict(value) if dataclasses.is_dataclass(value) else dataclasses.asdict(obj)[f.name]
    return out


def compose(overrides: list[str] | None = None, config_name: str = "config") -> BowsConfig:
    """Compose the real ``conf/`` tree with overrides (for tests and notebooks) and validate it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides or []))
    return to_config(cfg)


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
