"""Held-out and one-hot R^2 against hand computation on a 3-word model; the decomposition sums to
the model's own pre-activation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bows.analysis import mechanism as mech
from bows.training.model import TiedAutoencoder

W3 = np.array([[1.0, 0.5, 0.0], [0.0, 0.5, 1.0]], dtype=np.float32)  # latent 2 x vocab 3
B3 = np.array([-0.5, 0.1, -0.2], dtype=np.float32)
X3 = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1]], dtype=np.float32)


def _relu(z):
    return np.maximum(z, 0)


@pytest.mark.parametrize("output", ["relu", "linear"])
def test_heldout_r2_matches_hand_computation(output):
    act = _relu if output == "relu" else (lambda z: z)
    x_hat = act(X3 @ W3.T @ W3 + B3)
    expected = 1 - ((x_hat - X3) ** 2).sum(0) / ((X3 - X3.mean(0)) ** 2).sum(0)
    table = mech.heldout_r2(W3, B3, sp.csr_matrix(X3), output, chunk=2)
    np.testing.assert_allclose(table["r2"], expected, rtol=1e-5)
    np.testing.assert_array_equal(table["count"], X3.sum(0))
    G = W3.T @ W3
    present_ctx = [np.mean([(X3[n] @ G[:, j]) - G[j, j] for n in range(5) if X3[n, j]]) for j in range(3)]
    np.testing.assert_allclose(table["interference_present"], present_ctx, rtol=1e-5)


def test_onehot_r2_matches_hand_computation():
    x_hat = _relu(np.eye(3) @ W3.T @ W3 + B3)  # samples = the 3 one-hot inputs
    target = np.eye(3)
    expected = 1 - ((x_hat - target) ** 2).sum(0) / ((target - target.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(mech.onehot_r2(W3, B3, "relu", chunk=2), expected, rtol=1e-6)


def test_r2_table_sorted_by_gap():
    table = mech.r2_table(mech.heldout_r2(W3, B3, sp.csr_matrix(X3)), mech.onehot_r2(W3, B3), ["a", "b", "c"])
    assert list(table.columns[:2]) == ["index", "word"]
    gaps = table["gap"].to_numpy()
    assert np.all(np.diff(gaps[np.isfinite(gaps)]) <= 0)


def test_decomposition_sums_to_the_models_preactivation():
    torch.manual_seed(0)
    model = TiedAutoencoder(12, 5)
    with torch.no_grad():
        model.b.normal_()
    W, b = (t.detach().numpy() for t in model.weights())
    active = [0, 3, 4, 7, 9]
    x = torch.zeros(1, 12)
    x[0, active] = 1
    with torch.no_grad():
        z_model = model.preactivation(model.encode_dense(x))[0, 0].numpy()
    for t in (3, 5):
        d = mech.decompose(W, b, t, active, {"correlated": [4, 7], "uncorrelated": [9, 11]})
        assert d["total"] == pytest.approx(float(z_model[t]), abs=1e-5)
        assert d["bias"] + d["self"] + d["correlated"] + d["uncorrelated"] + d["other"] == pytest.approx(d["total"])
        assert (d["self"] != 0) == (t in active)
    towers = mech.towers(W, b, 3, [4, 7], [9, 11])
    assert towers.loc[towers["input"] == "t alone", "total"].item() == pytest.approx(b[3] + W[:, 3] @ W[:, 3], abs=1e-6)


def test_target_preactivations_and_heldout_decomposition():
    z = mech.preactivation(W3, B3, X3)
    dist = mech.target_preactivations(W3, B3, sp.csr_matrix(X3), 0)
    np.testing.assert_allclose(np.sort(dist["z"]), np.sort(z[X3[:, 0] > 0, 0]), rtol=1e-6)
    assert dist["onehot"] == pytest.approx(B3[0] + 1.0)
    assert dist["share_above_zero"] == pytest.approx(np.mean(z[X3[:, 0] > 0, 0] > 0))
    mean = mech.heldout_decomposition(W3, B3, sp.csr_matrix(X3), 0, {"correlated": [1]})
    assert mean["total"] == pytest.approx(float(z[X3[:, 0] > 0, 0].mean()), abs=1e-6)
    assert mean["windows"] == 3


def test_target_vs_group():
    frame = mech.target_vs_group(W3, B3, 1, [0, 2], ["a", "c"])
    np.testing.assert_allclose(frame["dot"], [0.5, 0.5])
    np.testing.assert_allclose(frame["z_with_t"], B3[1] + 0.5 + 0.5)
