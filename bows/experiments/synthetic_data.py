"""Synthetic correlated binary features (SPEC 5.8) and the geometry numbers of models trained on them.

Each sample draws a latent point ``z`` on a shape and switches feature ``f`` on with probability
``p_f = sigmoid(sharpness * <u_f, z> + base_log_odds)``, so features whose directions ``u_f`` are
close co-occur. Structures:

- ``circular``: ``u_f`` at angles ``2 pi f / F`` on the unit circle, ``z`` uniform on the circle;
- ``figure8``: Lissajous points ``(sin a, sin 2a)`` for ``u_f`` (``a = 2 pi f / F``) and ``z``
  (``a`` uniform); with F = 12 the features f = 0 and f = 6 sit on the crossing point (0, 0), so
  they are independent coin flips with ``p = sigmoid(base_log_odds)``;
- ``sphere``: a Fibonacci lattice of F points for ``u_f``, ``z`` uniform on the sphere;
- ``iid``: independent Bernoulli features with the mean activation the circular structure has.

Pure numpy; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bows.core.geometry import offdiag_agreement

STRUCTURES = ("circular", "figure8", "sphere", "iid")
_QUADRATURE = 4096  # angles used to integrate the circular mean activation for ``iid``


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def _lissajous(a: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(a), np.sin(2 * a)], axis=-1)


def feature_directions(structure: str, n_features: int) -> np.ndarray:
    """The feature directions ``u_f``: (features, dim); ``iid`` has none (an empty (features, 0))."""
    f = np.arange(n_features)
    if structure == "circular":
        angle = 2 * np.pi * f / n_features
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if structure == "figure8":
        return _lissajous(2 * np.pi * f / n_features)
    if structure == "sphere":  # Fibonacci lattice: evenly spread points on S^2
        height = 1 - 2 * (f + 0.5) / n_features
        radius = np.sqrt(1 - height**2)
        golden = np.pi * (3 - np.sqrt(5))
        return np.stack([radius * np.cos(golden * f), radius * np.sin(golden * f), height], axis=1)
    if structure == "iid":
        return np.zeros((n_features, 0))
    raise ValueError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")


def sample_latents(structure: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` latent points ``z``: (n, dim)."""
    if structure == "circular":
        angle = rng.uniform(0, 2 * np.pi, n)
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if structure == "figure8":
        return _lissajous(rng.uniform(0, 2 * np.pi, n))
    if structure == "sphere":
        z = rng.standard_normal((n, 3))
        return z / np.linalg.norm(z, axis=1, keepdims=True)
    if structure == "iid":
        return np.zeros((n, 0))
    raise ValueError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")


def circular_mean_activation(sharpness: float, base_log_odds: float) -> float:
    """E[p_f] of the circular structure: the mean of sigmoid(s cos(theta) + b) over the circle."""
    theta = 2 * np.pi * (np.arange(_QUADRATURE) + 0.5) / _QUADRATURE
    return float(_sigmoid(sharpness * np.cos(theta) + base_log_odds).mean())


def activation_probabilities(
    structure: str, n_features: int, z: np.ndarray, sharpness: float, base_log_odds: float
) -> np.ndarray:
    """p_f for every latent point: (n, features)."""
    if structure == "iid":
        p = circular_mean_activation(sharpness, base_log_odds)
        return np.full((len(z), n_features), p)
    u = feature_directions(structure, n_features)
    return _sigmoid(sharpness * (z @ u.T) + base_log_odds)


@dataclass(frozen=True)
class SyntheticData:
    """Binary samples ``x`` (samples, features) float32; the first ``n_train`` rows are the train split."""

    x: np.ndarray
    n_train: int
    structure: str
    sharpness: float
    base_log_odds: float
    seed: int

    @property
    def train(self) -> np.ndarray:
        return self.x[: self.n_train]

    @property
    def test(self) -> np.ndarray:
        return self.x[self.n_train :]

    @property
    def covariance(self) -> np.ndarray:
        """Covariance of the train split: (features, features)."""
        return np.cov(self.train, rowvar=False)


def generate(
    structure: str,
    *,
    n_features: int = 12,
    n_samples: int = 10_000,
    n_train: int = 8_000,
    sharpness: float = 10.0,
    base_log_odds: float = 0.0,
    seed: int = 0,
) -> SyntheticData:
    """Draw ``n_samples`` binary samples of ``n_features`` features (vectorised, seeded)."""
    rng = np.random.default_rng(seed)
    z = sample_latents(structure, n_samples, rng)
    p = activation_probabilities(structure, n_features, z, sharpness, base_log_odds)
    x = (rng.random(p.shape) < p).astype(np.float32)
    return SyntheticData(
        x=x, n_train=n_train, structure=structure, sharpness=sharpness, base_log_odds=base_log_odds, seed=seed
    )


# ---- geometry numbers of a trained tied model (W: latent x features) -------------------------


def normalised_gram(W: np.ndarray) -> np.ndarray:
    """W^T W / |W|_F^2: (features, features); zeros if W is zero."""
    gram = W.T @ W
    total = np.trace(gram)
    return gram / total if total > 0 else gram


def rank_projection(cov: np.ndarray, rank: int, *, projector: bool = False) -> np.ndarray:
    """Best rank-``rank`` approximation of a symmetric matrix (its top eigenpairs), or with
    ``projector`` the orthogonal projector onto those eigenvectors (PCA's W^T W)."""
    values, vectors = np.linalg.eigh(cov)
    top = np.argsort(values)[::-1][:rank]
    scale = np.ones(len(top)) if projector else values[top]
    return (vectors[:, top] * scale) @ vectors[:, top].T


def antipodal_fraction(
    W: np.ndarray, threshold: float = -0.7, min_norm: float = 0.1, allowed: np.ndarray | None = None
) -> float:
    """Share of features that have a partner at cosine < ``threshold`` (toy-model geometry).

    Only features whose norm is at least ``min_norm`` times the largest norm take part (a vector
    near zero has no meaningful direction); the denominator is all features. ``allowed``
    (features x features, bool) restricts which partners count."""
    norms = np.linalg.norm(W, axis=0)
    if norms.max() <= 0:
        return 0.0
    alive = norms >= min_norm * norms.max()
    unit = W / np.where(norms > 0, norms, 1.0)
    cos = unit.T @ unit
    np.fill_diagonal(cos, np.inf)
    cos[~alive, :] = np.inf
    cos[:, ~alive] = np.inf
    if allowed is not None:
        cos[~allowed] = np.inf
    return float((cos.min(axis=1) < threshold).mean())


def correlation(cov: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of a covariance matrix (constant features get 0)."""
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    denom = np.outer(sd, sd)
    return np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 0)


def geometry_metrics(W: np.ndarray, cov: np.ndarray) -> dict[str, float]:
    """How a model's Gram relates to the data covariance and to toy-model geometry."""
    latent, n_features = W.shape
    gram = normalised_gram(W)
    off = gram - np.diag(np.diag(gram))
    norms = np.linalg.norm(W, axis=0)
    return {
        "gram_cov_corr": offdiag_agreement(gram, cov)["pearson"],
        "gram_cov_rank_corr": offdiag_agreement(gram, rank_projection(cov, min(latent, n_features)))["pearson"],
        "gram_projector_corr": offdiag_agreement(gram, rank_projection(cov, min(latent, n_features), projector=True))[
            "pearson"
        ],
        "offdiag_share": float(np.linalg.norm(off) / max(np.linalg.norm(gram), 1e-12)),
        "max_abs_offdiag": float(np.abs(off).max()),
        "antipodal_fraction": antipodal_fraction(W),
        # antipodal partners the data do not explain (pair correlation > -0.3): interference-avoiding pairs
        "antipodal_uncorrelated_fraction": antipodal_fraction(W, allowed=correlation(cov) > -0.3),
        "represented": int((norms >= 0.1 * max(norms.max(), 1e-12)).sum()),
        "weight_norm": float(np.linalg.norm(W)),
    }
