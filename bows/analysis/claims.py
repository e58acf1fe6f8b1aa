"""The paper's claims that bows measures, judged from analysis numbers: metrics dicts (and the
``groups``/``mechanism`` sections) of one or more models in, one row per claim out (numbers, the
comparison that decides it, a verdict, its figure). Pure: no files, no plotting.

Every threshold is a named constant below and is spelled out in the claim's ``rule`` text, which
the report and the README's figure guide show verbatim (``guide_markdown``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

REPRODUCED = "reproduced"
PARTIAL = "partial"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURABLE = "not measurable"
VERDICTS = (REPRODUCED, PARTIAL, NOT_REPRODUCED, NOT_MEASURABLE)

# Rings (months, days): share of calendar-adjacent pairs that are neighbours around the PCA ring.
RING_CLEAR = 0.75  # a clear ring: at least 3/4 of calendar neighbours adjacent (9 of 12 months, 6 of 7 days)
P_CHANCE = 0.05  # "above chance": fewer than 5% of random orders score as high
NULL_DRAWS = 100_000  # random orders drawn (fixed seed) for the chance distribution
# Seasonal words: share whose nearest month (by angle in the month plane) lies in the word's season.
SEASON_CLEAR = 0.75
SEASON_CHANCE = 0.25  # 3 of the 12 months belong to each season
MIN_SEASONAL_WORDS = 3
# Correlations with a chance level of 0 (Pearson/Spearman r).
MIRROR_STRONG, MIRROR_WEAK = 0.5, 0.2  # model Gram vs data correlation of the months (66 pairs)
COACT_STRONG, COACT_WEAK = 0.3, 0.1  # interference <w_i, w_j> vs data phi correlation (all frequent pairs)
DIM_STRONG, DIM_WEAK = 0.3, 0.1  # Spearman(dimensionality, frequency)
# Semantic clusters: kNN category purity against shuffled category labels.
CLUSTER_Z = 3.0  # purity at least 3 shuffled sd above the shuffled mean
CLUSTER_RATIO = 2.0  # ... and at least twice the shuffled mean for a clear effect
# Constructive interference.
GAP_MIN = 0.01  # median (held-out R^2 - one-hot R^2) above this
SHARE_ABOVE = 0.5  # a target silenced alone (one-hot z < 0) is above zero in at least half its windows


@dataclass(frozen=True)
class ModelResult:
    """The numbers of one model (or the mean over seeds of one setting) that the claims read."""

    weight_decay: float
    latent_size: int
    metrics: Mapping[str, Any]
    groups: Mapping[str, Any] = field(default_factory=dict)  # analysis section "groups"
    mechanism: Mapping[str, Any] = field(default_factory=dict)  # analysis section "mechanism"
    christmas: Mapping[str, float] = field(default_factory=dict)  # <w_Christmas, w_month> by month
    seeds: int = 1

    @property
    def label(self) -> str:
        return f"wd {self.weight_decay:g}"


@dataclass(frozen=True)
class Claim:
    key: str
    statement: str  # the paper's claim, as a sentence
    rule: str  # how bows decides it (thresholds included)
    figure: str  # name of the figure that shows it


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    numbers: tuple[tuple[str, str], ...]  # (model label, its measured numbers) per model
    comparison: str  # what they are compared with
    verdict: str  # one of VERDICTS
    reason: str  # one line: why this verdict (for "not measurable": what is missing)


CLAIMS = (
    Claim(
        "months_ring",
        "The 12 months form a ring in calendar order, stronger at the higher weight decay.",
        f"Share of calendar-adjacent month pairs that are neighbours on the ring (PCA of the raw vectors): "
        f"reproduced if at least {RING_CLEAR:.2f} at the highest weight decay and stronger than at the lowest; partial if only "
        f"above chance (p < {P_CHANCE} against random orders) or not stronger; else not reproduced.",
        "months_ring",
    ),
    Claim(
        "days_ring",
        "The 7 days form a ring in weekly order.",
        f"Same share for the day pairs (Sunday-Monday included) at the highest weight decay: reproduced if at "
        f"least {RING_CLEAR:.2f}, partial if above chance (p < {P_CHANCE}), else not reproduced.",
        "days_ring",
    ),
    Claim(
        "seasonal",
        "Seasonal words sit on their season's side of the month ring.",
        f"Share of seasonal words whose nearest month (by angle) is in their season (chance {SEASON_CHANCE:.2f}): "
        f"reproduced if at least {SEASON_CLEAR:.2f}, partial if above chance (binomial p < {P_CHANCE}), else "
        f"not reproduced (highest weight decay; needs {MIN_SEASONAL_WORDS} seasonal words in the vocabulary).",
        "months_ring",
    ),
    Claim(
        "data_mirror",
        "The model's month Gram matrix mirrors the months' correlation in the data.",
        f"Pearson r between the off-diagonal entries of the month Gram matrix and of the data's month "
        f"correlation (chance 0): reproduced if r >= {MIRROR_STRONG}, partial if r >= {MIRROR_WEAK}, "
        "else not reproduced (highest weight decay).",
        "months_data",
    ),
    Claim(
        "clusters",
        "Semantically related words cluster together.",
        f"kNN category purity of the hand-labelled words against shuffled labels: reproduced if at least "
        f"{CLUSTER_Z:g} shuffled sd above the shuffled mean and at least {CLUSTER_RATIO:g}x it; partial if "
        f"only {CLUSTER_Z:g} sd above; else not reproduced (judged in every model).",
        "umap",
    ),
    Claim(
        "coactivation",
        "Words that co-occur get aligned vectors (co-activation matches interference).",
        f"Pearson r between <w_i, w_j> and the data's phi correlation over all frequent pairs (chance 0): "
        f"reproduced if r >= {COACT_STRONG}, partial if r >= {COACT_WEAK}, else not reproduced "
        "(judged in every model).",
        "coactivation",
    ),
    Claim(
        "interference",
        "Words are reconstructed through constructive interference from their context.",
        f"Median per-word gap (held-out R^2 minus one-hot R^2) above {GAP_MIN}, and a target word that the "
        f"ReLU silences alone (one-hot z < 0) is above zero in at least {SHARE_ABOVE:.0%} of its held-out "
        "windows: both = reproduced, one = partial, none = not reproduced (lowest weight decay, as in the paper).",
        "r2",
    ),
    Claim(
        "christmas",
        "Christmas interferes positively with December.",
        "<w_Christmas, w_December> > 0 and the largest over the 12 months = reproduced; > 0 but not the "
        "largest = partial; <= 0 = not reproduced (lowest weight decay).",
        "christmas_months",
    ),
    Claim(
        "dimensionality",
        "Frequent words get more dimensions.",
        f"Spearman correlation between feature dimensionality D_i and word frequency (chance 0): reproduced "
        f"if >= {DIM_STRONG}, partial if >= {DIM_WEAK}, else not reproduced (judged in every model).",
        "dimensionality",
    ),
)


# ----------------------------------------------------------------------------- helpers
class Unmeasurable(Exception):
    """A number a claim needs is absent; the message is the reason shown to the reader."""


def number(metrics: Mapping[str, Any], key: str) -> float | None:
    """``metrics[key]`` as a finite float, else None (absent, null, NaN, not a number)."""
    v = metrics.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _missing_reason(m: ModelResult, key: str, group: str | None = None) -> str:
    """Why ``key`` has no number: missing words of ``group`` if any, a recorded reason, else the key."""
    section = m.groups.get(group, {}) if group else {}
    missing = list(section.get("missing") or [])
    if missing:
        return "missing words: " + ", ".join(missing)
    for where in (section, section.get("data", {}) if isinstance(section, dict) else {}):
        if isinstance(where, dict) and where.get("reason"):
            return str(where["reason"])
    return f"{key} was not computed" if key not in m.metrics else f"{key} is null"


def need(m: ModelResult, key: str, group: str | None = None) -> float:
    v = number(m.metrics, key)
    if v is None:
        raise Unmeasurable(f"{m.label}: {_missing_reason(m, key, group)}")
    return v


def fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}" if abs(v) >= 10 ** (-digits) or v == 0 else f"{v:.1e}"


def p_text(p: float) -> str:
    """A p-value as text; a Monte-Carlo zero is shown as below the resolution of the draws."""
    return f"< {1 / NULL_DRAWS:.0e}" if p == 0 else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


@cache
def ring_null(n: int) -> np.ndarray:
    """Chance distribution of the number of calendar-adjacent pairs that are ring neighbours, for
    n points in random angular order: share of NULL_DRAWS random orders with at least k pairs, k = 0..n."""
    rng = np.random.default_rng(0)
    rank = np.argsort(rng.random((NULL_DRAWS, n)), axis=1)
    gap = np.abs(rank - np.roll(rank, -1, axis=1))
    adjacent = ((gap == 1) | (gap == n - 1)).sum(axis=1)
    counts = np.bincount(adjacent, minlength=n + 1)
    return counts[::-1].cumsum()[::-1] / NULL_DRAWS


def ring_p(adjacent_fraction: float, n: int) -> float:
    """P(a random angular order has at least as many adjacent calendar pairs)."""
    k = int(round(adjacent_fraction * n))
    return float(ring_null(n)[min(max(k, 0), n)])


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def strength(v: float, strong: float, weak: float) -> str:
    return REPRODUCED if v >= strong else PARTIAL if v >= weak else NOT_REPRODUCED


def combine(verdicts: Sequence[str]) -> str:
    """All models agree -> their verdict; a mix -> partial; nothing measurable -> not measurable."""
    measured = [v for v in verdicts if v != NOT_MEASURABLE]
    if not measured:
        return NOT_MEASURABLE
    return measured[0] if len(set(measured)) == 1 else PARTIAL


def _per_model(models: Sequence[ModelResult], text: Callable[[ModelResult], str]) -> tuple[tuple[str, str], ...]:
    out = []
    for m in models:
        try:
            body = text(m)
        except Unmeasurable as exc:
            body = f"n/a ({str(exc).split(': ', 1)[-1]})"
        out.append((m.label, body))
    return tuple(out)


# ----------------------------------------------------------------------------- the claims
def _ring_level(m: ModelResult, group: str, n: int) -> tuple[str, float, float]:
    adj = need(m, f"geometry/{group}/ring_score", group)
    p = ring_p(adj, n)
    level = REPRODUCED if adj >= RING_CLEAR and p < P_CHANCE else PARTIAL if p < P_CHANCE else NOT_REPRODUCED
    return level, adj, p


def _ring_text(m: ModelResult, group: str, n: int) -> str:
    adj = need(m, f"geometry/{group}/ring_score", group)
    circ = number(m.metrics, f"geometry/{group}/circular_rank_corr")
    return f"{round(adj * n)}/{n} adjacent, p {p_text(ring_p(adj, n))}, circ. rank r {fmt(circ)}"


def months_ring(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    level, adj, _ = _ring_level(main, "months", 12)
    comparison = f"chance {2 / 11:.2f} (random order)"
    said = {REPRODUCED: "clear ring", PARTIAL: "above chance, not clear", NOT_REPRODUCED: "not above chance"}[level]
    if low is main:
        return comparison, level, f"{said}; the weight-decay comparison is on the study page"
    comparison += f"; {main.label} vs {low.label}"
    other = number(low.metrics, "geometry/months/ring_score")
    if level == NOT_REPRODUCED:
        return comparison, NOT_REPRODUCED, f"{said} at {main.label}"
    if other is None:
        return comparison, PARTIAL, f"{said} at {main.label}; {low.label} not measurable"

    def circ(m: ModelResult) -> float:
        return number(m.metrics, "geometry/months/circular_rank_corr") or 0.0

    stronger = (adj, circ(main)) > (other, circ(low))  # ties on the adjacent share go to the rank correlation
    if level == REPRODUCED and stronger:
        return comparison, REPRODUCED, f"{said} at {main.label}, stronger than at {low.label}"
    return (
        comparison,
        PARTIAL,
        f"{said} at {main.label}, {'stronger' if stronger else 'not stronger'} than at {low.label}",
    )


def days_ring(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    level, _, _ = _ring_level(main, "days", 7)
    reason = {REPRODUCED: "clear ring", PARTIAL: "above chance, not clear", NOT_REPRODUCED: "not above chance"}[level]
    return f"chance {2 / 6:.2f} (random order)", level, f"{reason} at {main.label}"


def _seasonal_counts(m: ModelResult) -> tuple[int, int]:
    share = need(m, "geometry/seasonal/season_match", "months")
    projected = m.groups.get("months", {}).get("seasonal") or []
    n = sum(1 for p in projected if "season_match" in p)
    if n < MIN_SEASONAL_WORDS:
        missing = list(m.groups.get("months", {}).get("seasonal_missing") or [])
        raise Unmeasurable(
            f"{m.label}: only {n} seasonal words found" + (f" (missing words: {', '.join(missing)})" if missing else "")
        )
    return int(round(share * n)), n


def seasonal(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    if number(main.metrics, "geometry/seasonal/season_match") is None:
        missing = list(main.groups.get("months", {}).get("seasonal_missing") or [])
        if missing:
            raise Unmeasurable(f"{main.label}: missing words: {', '.join(missing)}")
    k, n = _seasonal_counts(main)
    p = binomial_tail(k, n, SEASON_CHANCE)
    verdict = REPRODUCED if k / n >= SEASON_CLEAR else PARTIAL if p < P_CHANCE else NOT_REPRODUCED
    return f"chance {SEASON_CHANCE:.2f}; binomial p {p_text(p)}", verdict, f"{k} of {n} on their season's side"


def _seasonal_text(m: ModelResult) -> str:
    k, n = _seasonal_counts(m)
    plane = number(m.metrics, "geometry/seasonal/in_plane_fraction")
    return f"{k}/{n} words, in-plane share {fmt(plane)}"


def data_mirror(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    r = need(main, "data/months/gram_vs_cond_corr", "months")
    return "chance r = 0", strength(r, MIRROR_STRONG, MIRROR_WEAK), f"months r = {fmt(r)} at {main.label}"


def _mirror_text(m: ModelResult) -> str:
    text = f"months r {fmt(need(m, 'data/months/gram_vs_cond_corr', 'months'))}"
    days = number(m.metrics, "data/days/gram_vs_cond_corr")
    return text + (f", days r {fmt(days)}" if days is not None else "")


def _cluster_verdict(m: ModelResult) -> str:
    purity = need(m, "clusters/knn_purity")
    base = need(m, "clusters/knn_baseline_mean")
    z = need(m, "clusters/knn_z")
    if z >= CLUSTER_Z and purity >= CLUSTER_RATIO * base:
        return REPRODUCED
    return PARTIAL if z >= CLUSTER_Z else NOT_REPRODUCED


def _cluster_text(m: ModelResult) -> str:
    purity, base = need(m, "clusters/knn_purity"), need(m, "clusters/knn_baseline_mean")
    return f"purity {fmt(purity)} vs {fmt(base)} shuffled, z {fmt(need(m, 'clusters/knn_z'), 1)}"


def _every_model(
    models: Sequence[ModelResult], verdict: Callable[[ModelResult], str], comparison: str
) -> tuple[str, str, str]:
    verdicts = []
    reasons = []
    for m in models:
        try:
            v = verdict(m)
        except Unmeasurable as exc:
            v, reasons = NOT_MEASURABLE, [*reasons, str(exc)]
        verdicts.append(v)
    if all(v == NOT_MEASURABLE for v in verdicts):
        raise Unmeasurable("; ".join(reasons))
    final = combine(verdicts)
    reason = (
        ", ".join(f"{m.label} {v}" for m, v in zip(models, verdicts)) if len(models) > 1 else f"{final} in this model"
    )
    return comparison, final, reason


def clusters(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    return _every_model(models, _cluster_verdict, "shuffled category labels")


def coactivation(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    def verdict(m: ModelResult) -> str:
        return strength(need(m, "coactivation/pearson_dot_corr"), COACT_STRONG, COACT_WEAK)

    return _every_model(models, verdict, "chance r = 0")


def _coact_text(m: ModelResult) -> str:
    r = need(m, "coactivation/pearson_dot_corr")
    pairs = number(m.metrics, "coactivation/pairs")
    return f"r {fmt(r)}" + (f" ({pairs:,.0f} pairs)" if pairs is not None else "")


def _targets(m: ModelResult) -> list[tuple[str, float, float]]:
    """(target, one-hot z, share of held-out windows with z > 0) for every target with both numbers."""
    out = []
    for key in sorted(m.metrics):
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "mechanism" and parts[2] == "share_above_zero":
            share, z = number(m.metrics, key), number(m.metrics, f"mechanism/{parts[1]}/onehot_z")
            if share is not None and z is not None:
                out.append((parts[1], z, share))
    return out


def _target_name(m: ModelResult, t: str) -> str:
    subs = {v: k for k, v in (m.mechanism.get("substitutes") or {}).items()}
    return f"{t} (for {subs[t]})" if t in subs else t


def interference(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    gap = need(low, "mechanism/gap_median")
    carried = [(t, z, s) for t, z, s in _targets(low) if z < 0 and s >= SHARE_ABOVE]
    hits = (gap > GAP_MIN) + bool(carried)
    verdict = (NOT_REPRODUCED, PARTIAL, REPRODUCED)[hits]
    reason = f"median gap {'above' if gap > GAP_MIN else 'not above'} {GAP_MIN}; " + (
        f"carried: {', '.join(_target_name(low, t) for t, _, _ in carried)}"
        if carried
        else "no target silenced alone is carried by its context"
    )
    return f"gap 0; ReLU threshold z = 0 ({low.label})", verdict, reason


def _interference_text(m: ModelResult) -> str:
    gap = need(m, "mechanism/gap_median")
    targets = _targets(m)
    carried = [t for t, z, s in targets if z < 0 and s >= SHARE_ABOVE]
    return f"median R^2 gap {fmt(gap, 3)}; {len(carried)}/{len(targets)} targets carried by context"


def _christmas(m: ModelResult) -> tuple[float, int]:
    """<w_Christmas, w_December> and December's rank among the months (1 = largest)."""
    info = m.mechanism.get("christmas_vs_months") or {}
    if not m.christmas or "December" not in m.christmas:
        missing = [*([] if info.get("target") else ["Christmas"]), *(info.get("missing_months") or [])]
        if not info:
            raise Unmeasurable(f"{m.label}: Christmas vs months was not computed")
        raise Unmeasurable(f"{m.label}: missing words: {', '.join(missing) or 'Christmas, December'}")
    dots = {k: v for k, v in m.christmas.items() if v is not None and math.isfinite(v)}
    dec = dots["December"]
    return dec, 1 + sum(v > dec for v in dots.values())


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def christmas(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    dec, rank = _christmas(low)
    verdict = REPRODUCED if dec > 0 and rank == 1 else PARTIAL if dec > 0 else NOT_REPRODUCED
    return (
        f"0 and the other months ({low.label})",
        verdict,
        f"December {_ordinal(rank)} of {len(low.christmas)} months",
    )


def _christmas_text(m: ModelResult) -> str:
    dec, rank = _christmas(m)
    return f"<w_Christmas, w_December> {fmt(dec, 3)}, {_ordinal(rank)} of {len(m.christmas)}"


def dimensionality(models: Sequence[ModelResult], main: ModelResult, low: ModelResult) -> tuple[str, str, str]:
    def verdict(m: ModelResult) -> str:
        return strength(need(m, "dimensionality/spearman_freq"), DIM_STRONG, DIM_WEAK)

    return _every_model(models, verdict, "chance rho = 0")


JUDGES: dict[str, Callable[..., tuple[str, str, str]]] = {
    "months_ring": months_ring,
    "days_ring": days_ring,
    "seasonal": seasonal,
    "data_mirror": data_mirror,
    "clusters": clusters,
    "coactivation": coactivation,
    "interference": interference,
    "christmas": christmas,
    "dimensionality": dimensionality,
}
NUMBERS: dict[str, Callable[[ModelResult], str]] = {
    "months_ring": lambda m: _ring_text(m, "months", 12),
    "days_ring": lambda m: _ring_text(m, "days", 7),
    "seasonal": _seasonal_text,
    "data_mirror": _mirror_text,
    "clusters": _cluster_text,
    "coactivation": _coact_text,
    "interference": _interference_text,
    "christmas": _christmas_text,
    "dimensionality": lambda m: f"rho {fmt(need(m, 'dimensionality/spearman_freq'))}",
}


def evaluate(models: Sequence[ModelResult]) -> list[ClaimResult]:
    """One row per claim in ``CLAIMS`` for these models (ordered as given; the highest weight decay is the
    main model, the lowest the mechanism model, as in the paper)."""
    if not models:
        raise ValueError("evaluate needs at least one model")
    main = max(models, key=lambda m: m.weight_decay)
    low = min(models, key=lambda m: m.weight_decay)
    rows = []
    for claim in CLAIMS:
        numbers = _per_model(models, NUMBERS[claim.key])
        try:
            comparison, verdict, reason = JUDGES[claim.key](models, main, low)
        except Unmeasurable as exc:
            comparison, verdict, reason = "", NOT_MEASURABLE, str(exc)
        rows.append(ClaimResult(claim, numbers, comparison, verdict, reason))
    return rows


def guide_markdown() -> str:
    """The claims table of the README's figure guide (same statements and rules as the report)."""
    lines = ["| claim | how bows decides it | figure |", "|---|---|---|"]
    lines += [f"| {c.statement} | {c.rule} | `{c.figure}` |" for c in CLAIMS]
    return "\n".join(lines)
