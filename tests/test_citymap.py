"""City map: compass labels, the pair split, the probe and its ablations, and the stage end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bows.experiments.citymap import (
    COMPASS,
    ablate,
    city_pairs,
    compass_label,
    fit_probe,
    haversine_km,
    load_cities,
    probe_basis,
    probe_scores,
    rhumb_bearing,
    run,
    split_cities,
)

NEW_YORK, LOS_ANGELES, CHICAGO = (40.71, -74.01), (34.05, -118.24), (41.88, -87.63)
HOUSTON, NEW_ORLEANS, SEATTLE, MIAMI, DENVER = (
    (29.76, -95.37),
    (29.95, -90.07),
    (47.61, -122.33),
    (25.77, -80.19),
    (39.74, -104.99),
)


def _direction(a, b) -> str:
    return COMPASS[int(compass_label(rhumb_bearing(a[0], a[1], b[0], b[1])))]


def test_compass_labels_of_known_city_pairs():
    assert _direction(NEW_YORK, LOS_ANGELES) == "W"
    assert _direction(LOS_ANGELES, NEW_YORK) == "E"
    assert _direction(CHICAGO, NEW_ORLEANS) == "S"
    assert _direction(CHICAGO, HOUSTON) == "SW"  # bearing ~207 degrees: Houston is 7.7 degrees of longitude west
    assert _direction(SEATTLE, MIAMI) == "SE"
    assert _direction(MIAMI, SEATTLE) == "NW"
    assert _direction(DENVER, CHICAGO) == "E"
    assert _direction(LOS_ANGELES, SEATTLE) == "N"
    assert list(compass_label(np.array([0.0, 22.4, 22.6, 90.0, 337.6, 359.9]))) == [0, 0, 1, 2, 0, 0]


def test_haversine_new_york_los_angeles():
    assert abs(haversine_km(*NEW_YORK, *LOS_ANGELES) - 3936) < 15


def test_pair_split_never_trains_on_a_validation_pair():
    held = split_cities(40, 0.25, seed=0)
    train, val = city_pairs(held)
    assert len(train) + len(val) == 40 * 39 and held.sum() == 10
    assert held[val].all()  # validation: both cities held out
    assert (~held[train]).any(axis=1).all()  # training: at least one training city
    seen = {tuple(p) for p in train} | {tuple(p[::-1]) for p in train}
    assert not any(tuple(p) in seen for p in val)  # not in either order


def test_probe_recovers_a_planted_linear_map():
    rng = np.random.default_rng(0)
    coords = np.stack([rng.uniform(25, 49, 300), rng.uniform(-124, -67, 300)], axis=1)
    mixing = rng.standard_normal((2, 50))
    emb = (coords - coords.mean(0)) @ mixing + 0.01 * rng.standard_normal((300, 50))
    probe = fit_probe(emb[:200], coords[:200], alpha=1e-3)
    scores = probe_scores(probe, emb[200:], coords[200:])
    assert scores["r2"] > 0.99 and scores["km_median"] < 10
    basis = probe_basis(probe)
    assert np.allclose(basis.T @ basis, np.eye(2), atol=1e-8)
    # removing the probe subspace leaves nothing for the probe; keeping only it keeps everything
    assert probe_scores(probe, ablate(emb, basis, "remove")[200:], coords[200:])["r2"] < 0.01
    assert probe_scores(probe, ablate(emb, basis, "keep_only")[200:], coords[200:])["r2"] > 0.99
    renorm = ablate(emb, basis, "remove_renorm")
    assert np.allclose(np.linalg.norm(renorm, axis=1), np.linalg.norm(emb, axis=1))


def test_cities_are_us_cities_above_the_threshold():
    cities = load_cities(50_000)
    assert len(cities) > 500 and (cities.population > 50_000).all()
    assert {"New York City", "Chicago", "Houston"} <= set(cities.name)


def test_stage_small(make_config):
    cfg = make_config("citymap.min_population=300000", "citymap.epochs=2", "citymap.batch_size=256")
    out = run(cfg)
    summary = json.loads((out / "summary.json").read_text())
    acc = summary["compass_accuracy"]
    assert acc["none"] > acc["majority_class"] and set(acc) >= {"none", "remove", "remove_renorm", "keep_only"}
    assert (out / "map.png").is_file() and out.parent.name == "citymap"
    assert run(cfg) == out


@pytest.mark.slow
def test_full_citymap_embeddings_code_position(make_config):
    summary = json.loads((run(make_config()) / "summary.json").read_text())
    assert summary["probe_held_out"]["r2"] > 0.9
    acc = summary["compass_accuracy"]
    assert acc["none"] > 0.9 and acc["remove"] < acc["remove_random"]
