"""Structure discovery (bows.analysis.discovery): a planted ring among random vectors is found and
ranked first with its words; pure noise yields no ring and no line."""

import numpy as np

from bows.analysis.discovery import discover, group_shapes, match, unit_cosine


def _pool(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim))


def test_planted_ring_is_found_first():
    rng = np.random.default_rng(1)
    dim, k = 40, 12
    X = _pool(300, dim, 2)
    centre = 3.0 * rng.standard_normal(dim)  # a shared direction keeps the ring's words together
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    theta = 2 * np.pi * np.arange(k) / k
    ring = centre + 2.0 * (np.cos(theta)[:, None] * basis[:, 0] + np.sin(theta)[:, None] * basis[:, 1])
    ring += 0.05 * rng.standard_normal((k, dim))
    X[:k] = ring
    words = [f"m{i}" for i in range(k)] + [f"w{i}" for i in range(k, len(X))]
    freq = rng.uniform(1, 100, len(X))
    result = discover(X, words, freq, draws=100, seed=0)
    rings = result.found[result.found["shape"] == "ring"]
    assert len(rings) >= 1
    best = match(result.found, words[:k])
    assert best["rank"] == 1 and best["recall"] == 1.0 and best["precision"] >= 0.8
    # the planted order comes back around the circle (either direction)
    order = [int(w[1:]) for w in rings.iloc[0]["words"].split() if w.startswith("m")]
    steps = np.mod(np.diff(order + order[:1]), k)
    assert np.all(steps == 1) or np.all(steps == k - 1)


def test_pure_noise_has_no_ring_or_line():
    X = _pool(300, 40, 3)
    words = [f"w{i}" for i in range(len(X))]
    result = discover(X, words, np.random.default_rng(0).uniform(1, 100, len(X)), draws=100, seed=0)
    assert not (result.found["shape"].isin(["ring", "line"])).any()


def test_group_shapes_of_a_circle_and_a_line():
    theta = 2 * np.pi * np.arange(8) / 8
    circle = np.c_[np.cos(theta), np.sin(theta), np.full(8, 3.0)]
    line = np.c_[np.linspace(-1, 1, 8), np.zeros(8), np.full(8, 3.0)]
    S = unit_cosine(np.vstack([circle, line]))
    shapes = group_shapes(S, np.array([np.arange(8), np.arange(8, 16)]))
    assert shapes["ring"][0] > 0.9 and shapes["ring"][1] < 0.1
    assert shapes["line"][1] > shapes["line"][0]
