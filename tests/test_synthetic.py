"""Synthetic BOWS: generators, geometry numbers, instance-batched training and the stage end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bows.config import SyntheticConfig
from bows.experiments.synthetic import METRICS, PHASE, SUMMARY, run, train_instances
from bows.experiments.synthetic_data import (
    STRUCTURES,
    antipodal_fraction,
    circular_mean_activation,
    feature_directions,
    generate,
    geometry_metrics,
    rank_projection,
)


def test_circular_covariance_is_circulant_and_mean_is_half():
    data = generate("circular", n_samples=20_000, n_train=19_000, seed=1)
    cov = data.covariance
    assert abs(data.train.mean() - 0.5) < 0.01  # base 0: p averages to 1/2 by symmetry
    n = len(cov)
    # every diagonal band k of a circulant matrix is constant: compare each band to its mean
    for k in range(1, n):
        band = np.array([cov[i, (i + k) % n] for i in range(n)])
        assert np.abs(band - band.mean()).max() < 0.03
    bands = [np.mean([cov[i, (i + k) % n] for i in range(n)]) for k in range(n // 2 + 1)]
    assert bands[1] > bands[2] > bands[3] > 0 > bands[5] > bands[6]  # neighbours co-occur, opposites exclude


def test_iid_matches_circular_mean_activation_and_has_no_correlation():
    for base in (0.0, -3.0):
        circular = generate("circular", base_log_odds=base, n_samples=20_000, n_train=19_000, seed=2)
        iid = generate("iid", base_log_odds=base, n_samples=20_000, n_train=19_000, seed=2)
        expected = circular_mean_activation(10.0, base)
        assert abs(circular.train.mean() - expected) < 0.01
        assert abs(iid.train.mean() - expected) < 0.01
        cov = iid.covariance
        off = cov[np.triu_indices(12, k=1)]
        assert np.abs(off).max() < 0.03 and abs(off.mean()) < 0.005


def test_structures_shapes_and_determinism():
    for structure in STRUCTURES:
        a = generate(structure, n_samples=500, n_train=400, seed=3)
        b = generate(structure, n_samples=500, n_train=400, seed=3)
        assert a.x.shape == (500, 12) and a.x.dtype == np.float32
        assert np.array_equal(a.x, b.x)
    u = feature_directions("sphere", 12)
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0)
    # figure-8: features whose directions are close co-occur more than features far apart
    cov = generate("figure8", n_samples=20_000, n_train=19_000, seed=4).covariance
    dist = np.linalg.norm(feature_directions("figure8", 12)[:, None] - feature_directions("figure8", 12)[None], axis=-1)
    iu = np.triu_indices(12, k=1)
    assert np.corrcoef(dist[iu], cov[iu])[0, 1] < -0.8


def test_geometry_metrics_on_planted_weights():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    cov = (basis[:, :2] * [3.0, 2.0]) @ basis[:, :2].T + 0.01 * np.eye(6)
    W = np.sqrt([3.0, 2.0])[:, None] * basis[:, :2].T  # W^T W = rank-2 part of cov
    m = geometry_metrics(W, cov)
    assert m["gram_cov_corr"] > 0.99 and m["gram_cov_rank_corr"] > 0.99
    assert np.allclose(rank_projection(cov, 2), W.T @ W, atol=0.011)  # up to the 0.01 I of the noise
    antipodal = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    assert antipodal_fraction(antipodal) == 1.0
    assert antipodal_fraction(np.eye(4)) == 0.0
    # the same antipodal pairs, explained by anti-correlated data, are not toy-model pairs
    anti_cov = np.array([[1.0, -0.9, 0, 0], [-0.9, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    m = geometry_metrics(antipodal, anti_cov)
    assert m["antipodal_fraction"] == 1.0 and m["antipodal_uncorrelated_fraction"] == 0.5


def _cfg(**changes) -> SyntheticConfig:
    return replace(SyntheticConfig(), **changes)


def test_antipodal_fraction_is_scale_free_and_ignores_near_zero_vectors():
    """Only vectors of at least ``min_norm`` times the largest norm take part, whatever the overall scale."""
    W = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.05, -0.05]])
    assert antipodal_fraction(W) == 0.5  # the near-zero pair has no direction; the denominator is all 4
    assert antipodal_fraction(W * 1e-3) == antipodal_fraction(W * 1e3) == 0.5


def test_two_perfectly_correlated_features_align_with_one_dimension():
    x = np.repeat((np.random.default_rng(0).random((2000, 1)) < 0.5).astype(np.float32), 2, axis=1)
    s = _cfg(n_features=2, epochs=60)
    trained = train_instances(x, x, [1], [0.0], "linear", s)
    w = trained.W[0, 0]
    assert np.sign(w[0]) == np.sign(w[1]) and abs(w[0] - w[1]) < 0.05 * abs(w).max()
    assert trained.test_loss[0] < 0.01


def test_two_independent_sparse_features_go_antipodal_with_relu():
    rng = np.random.default_rng(1)
    x = (rng.random((4000, 2)) < 0.05).astype(np.float32)
    s = _cfg(n_features=2, epochs=40)
    trained = train_instances(x, x, [1], [0.0], "relu", s)
    w = trained.W[0, 0]
    assert w[0] * w[1] < 0 and antipodal_fraction(trained.W[0]) == 1.0


def test_instance_batching_equals_separate_training():
    data = generate("circular", n_samples=600, n_train=512, seed=5)
    s = _cfg(epochs=3, batch_size=64)
    latents, wds = [2, 5, 5, 3], [1.0, 1.0, 6.0, 0.0]
    for output in ("linear", "relu"):
        batched = train_instances(data.train, data.test, latents, wds, output, s)
        for i, (latent, wd) in enumerate(zip(latents, wds)):
            single = train_instances(data.train, data.test, [latent], [wd], output, s)
            assert np.allclose(batched.W[i, :latent], single.W[0], atol=1e-5)
            assert np.allclose(batched.b[i], single.b[0], atol=1e-5)
            assert np.all(batched.W[i, latent:] == 0)  # padding rows never move


def test_stage_writes_metrics_and_is_cached(make_config):
    cfg = make_config(
        "synthetic.structure=iid",
        "synthetic.latent_sizes=[2,12]",
        "synthetic.epochs=2",
        "synthetic.n_samples=1000",
        "synthetic.n_train=800",
        "synthetic.timing_check=1",
    )
    out = run(cfg)
    assert out.name.startswith("iid-") and out.parent.name == "synthetic"
    metrics = pd.read_parquet(out / METRICS)
    assert len(metrics) == 2 * 2 * 2 and {"gram_cov_corr", "gram_cov_rank_corr", "antipodal_fraction"} <= set(metrics)
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["data"]["batching"][0]["max_abs_weight_difference"] < 1e-4
    assert (out / "gram.png").stat().st_size > 0 and (out / "meta.json").is_file()
    assert run(cfg) == out  # second call: cached


def test_phase_diagram_stage(make_config):
    cfg = make_config(
        "synthetic.phase_diagram=true",
        "synthetic.phase_sharpness=[0,10]",
        "synthetic.phase_base_log_odds=[0,-4]",
        "synthetic.phase_latent_sizes=[2]",
        "synthetic.weight_decays=[1]",
        "synthetic.epochs=2",
        "synthetic.n_samples=600",
        "synthetic.n_train=500",
    )
    out = run(cfg)
    phase = pd.read_parquet(out / PHASE)
    assert len(phase) == 4 and (out / "phase.png").is_file()
    dense = phase[(phase.sharpness == 0) & (phase.base_log_odds == 0)].mean_activation.iloc[0]
    sparse = phase[(phase.sharpness == 0) & (phase.base_log_odds == -4)].mean_activation.iloc[0]
    assert abs(dense - 0.5) < 0.05 and sparse < 0.05


@pytest.mark.slow
def test_full_circular_experiment_follows_covariance(make_config):
    out = run(make_config("synthetic.structure=circular", "synthetic.timing_check=0"))
    metrics = pd.read_parquet(out / METRICS)
    relu6 = metrics[(metrics.output == "relu") & (metrics.weight_decay == 6.0)]
    assert relu6.gram_cov_corr.median() > 0.8  # strong decay: linear superposition of the circulant covariance


def test_summary_is_strict_json_with_null_for_undefined_correlations(make_config):
    """Two features give one off-diagonal pair: the Gram-vs-covariance correlations are undefined, so
    summary.json holds null there (and says why), never the invalid token NaN."""

    def refuse(token):
        raise AssertionError(f"summary.json holds {token}")

    cfg = make_config(
        "synthetic.n_features=2",
        "synthetic.latent_sizes=[1]",
        "synthetic.epochs=2",
        "synthetic.n_samples=500",
        "synthetic.n_train=400",
        "synthetic.timing_check=0",
    )
    summary = json.loads((run(cfg) / SUMMARY).read_text(), parse_constant=refuse)
    assert all(row["gram_cov_corr"] is None for row in summary["metrics"]) and "null" in summary["nulls"]
