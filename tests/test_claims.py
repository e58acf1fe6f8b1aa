"""The claims logic on hand-made metrics: thresholds, chance levels, weight-decay comparisons and
"not measurable" with its reason when a number is null, NaN or absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bows.analysis import claims as c
from bows.analysis.claims import ModelResult, evaluate

MONTHS = "January February March April May June July August September October November December".split()
SEASONAL_OK = [{"word": w, "season_match": True} for w in ("snow", "summer", "spring", "leaves")]


def good_metrics(**changes) -> dict:
    metrics = {
        "geometry/months/ring_score": 1.0,
        "geometry/months/circular_rank_corr": 1.0,
        "geometry/days/ring_score": 1.0,
        "geometry/seasonal/season_match": 1.0,
        "geometry/seasonal/in_plane_fraction": 0.6,
        "data/months/gram_vs_cond_corr": 0.8,
        "clusters/knn_purity": 0.5,
        "clusters/knn_baseline_mean": 0.1,
        "clusters/knn_z": 12.0,
        "coactivation/pearson_dot_corr": 0.45,
        "coactivation/pairs": 1000,
        "mechanism/gap_median": 0.05,
        "mechanism/mbar/onehot_z": -0.2,
        "mechanism/mbar/share_above_zero": 0.8,
        "dimensionality/spearman_freq": 0.5,
    }
    metrics.update(changes)
    return metrics


def model(wd: float = 4.0, christmas: Any = None, groups: Any = None, **changes: Any) -> ModelResult:
    dots = christmas if christmas is not None else {m: (0.5 if m == "December" else 0.1) for m in MONTHS}
    return ModelResult(
        wd,
        100,
        good_metrics(**changes),
        groups if groups is not None else {"months": {"missing": [], "seasonal": SEASONAL_OK}},
        {"christmas_vs_months": {"target": "Christmas", "missing_months": []}},
        dots,
    )


def verdicts(*models: ModelResult) -> dict[str, str]:
    return {r.claim.key: r.verdict for r in evaluate(models)}


def reasons(*models: ModelResult) -> dict[str, str]:
    return {r.claim.key: r.reason for r in evaluate(models)}


def test_a_model_that_shows_everything_reproduces_every_claim():
    rows = evaluate([model(4.0), model(1.0, **{"geometry/months/ring_score": 0.5})])
    assert [r.claim.key for r in rows] == [claim.key for claim in c.CLAIMS]
    assert {r.claim.key: r.verdict for r in rows} == {claim.key: c.REPRODUCED for claim in c.CLAIMS}
    months = rows[0]
    assert [label for label, _ in months.numbers] == ["wd 4", "wd 1"]
    assert "12/12 adjacent" in months.numbers[0][1] and "6/12 adjacent" in months.numbers[1][1]
    assert "chance 0.18" in months.comparison and "wd 4 vs wd 1" in months.comparison


def test_month_ring_must_be_stronger_at_the_higher_weight_decay():
    weaker = model(1.0, **{"geometry/months/ring_score": 1.0, "geometry/months/circular_rank_corr": 0.9})
    assert verdicts(model(4.0), weaker)["months_ring"] == c.REPRODUCED  # tie on adjacency, better rank corr
    assert verdicts(model(4.0, **{"geometry/months/circular_rank_corr": 0.9}), model(1.0))["months_ring"] == c.PARTIAL
    assert verdicts(model(4.0), model(1.0))["months_ring"] == c.PARTIAL  # equally strong is not stronger
    # the main model is the highest weight decay whatever the order given
    assert verdicts(model(1.0, **{"geometry/months/ring_score": 0.25}), model(4.0))["months_ring"] == c.REPRODUCED


@pytest.mark.parametrize(
    ("adjacent", "expected"),
    [
        (9 / 12, c.REPRODUCED),
        (8 / 12, c.PARTIAL),
        (6 / 12, c.PARTIAL),
        (4 / 12, c.NOT_REPRODUCED),
        (0.0, c.NOT_REPRODUCED),
    ],
)
def test_month_ring_thresholds_on_one_model(adjacent, expected):
    assert verdicts(model(**{"geometry/months/ring_score": adjacent}))["months_ring"] == expected


@pytest.mark.parametrize(
    ("adjacent", "expected"),
    [(1.0, c.REPRODUCED), (6 / 7, c.REPRODUCED), (5 / 7, c.PARTIAL), (4 / 7, c.NOT_REPRODUCED)],
)
def test_day_ring_thresholds(adjacent, expected):
    assert verdicts(model(**{"geometry/days/ring_score": adjacent}))["days_ring"] == expected


@pytest.mark.parametrize("n", [7, 12])
def test_ring_chance_level_is_two_over_n_minus_one(n):
    """The chance distribution wraps around (December-January) and matches the documented chance level."""
    tail = c.ring_null(n)
    assert tail[0] == 1.0 and np.all(np.diff(tail) <= 0)
    pmf = -np.diff(np.append(tail, 0.0))
    mean_fraction = float((np.arange(n + 1) * pmf).sum()) / n
    assert mean_fraction == pytest.approx(2 / (n - 1), abs=0.01)
    assert c.ring_p(1.0, n) < 0.01 and c.ring_p(0.0, n) == 1.0


def test_seasonal_words_binomial_against_one_in_four():
    def with_matches(k: int, n: int) -> ModelResult:
        seasonal = [{"word": f"w{i}", "season_match": i < k} for i in range(n)]
        return model(
            groups={"months": {"missing": [], "seasonal": seasonal}}, **{"geometry/seasonal/season_match": k / n}
        )

    assert verdicts(with_matches(7, 9))["seasonal"] == c.REPRODUCED
    assert verdicts(with_matches(5, 9))["seasonal"] == c.PARTIAL  # binomial p = 0.049
    assert verdicts(with_matches(4, 9))["seasonal"] == c.NOT_REPRODUCED  # p = 0.17
    assert c.binomial_tail(5, 9, 0.25) == pytest.approx(0.04893, abs=1e-4)
    few = verdicts(with_matches(2, 2))
    assert few["seasonal"] == c.NOT_MEASURABLE


@pytest.mark.parametrize(
    ("key", "value", "claim", "expected"),
    [
        ("data/months/gram_vs_cond_corr", 0.5, "data_mirror", c.REPRODUCED),
        ("data/months/gram_vs_cond_corr", 0.3, "data_mirror", c.PARTIAL),
        ("data/months/gram_vs_cond_corr", 0.1, "data_mirror", c.NOT_REPRODUCED),
        ("coactivation/pearson_dot_corr", 0.2, "coactivation", c.PARTIAL),
        ("coactivation/pearson_dot_corr", -0.3, "coactivation", c.NOT_REPRODUCED),
        ("dimensionality/spearman_freq", 0.05, "dimensionality", c.NOT_REPRODUCED),
        ("clusters/knn_purity", 0.15, "clusters", c.PARTIAL),  # 12 sd above shuffled but < 2x it
        ("clusters/knn_z", 2.0, "clusters", c.NOT_REPRODUCED),
    ],
)
def test_correlation_and_cluster_thresholds(key, value, claim, expected):
    assert verdicts(model(**{key: value}))[claim] == expected


def test_claims_judged_in_every_model_are_partial_when_models_disagree():
    got = verdicts(model(4.0), model(1.0, **{"coactivation/pearson_dot_corr": 0.0}))
    assert got["coactivation"] == c.PARTIAL
    assert reasons(model(4.0), model(1.0, **{"coactivation/pearson_dot_corr": 0.0}))["coactivation"] == (
        "wd 4 reproduced, wd 1 not reproduced"
    )


def test_mechanism_claims_are_judged_at_the_lowest_weight_decay():
    silenced = {"mechanism/mbar/share_above_zero": 0.1}
    assert verdicts(model(4.0, **silenced), model(1.0))["interference"] == c.REPRODUCED
    assert verdicts(model(4.0), model(1.0, **silenced))["interference"] == c.PARTIAL
    none = {**silenced, "mechanism/gap_median": 0.0}
    assert verdicts(model(1.0, **none))["interference"] == c.NOT_REPRODUCED
    # a target that is above zero alone is no evidence of constructive interference
    assert verdicts(model(1.0, **{"mechanism/mbar/onehot_z": 0.3, "mechanism/gap_median": 0.0}))["interference"] == (
        c.NOT_REPRODUCED
    )


def test_interference_reads_the_gap_of_the_lowest_weight_decay():
    """The gap half of the rule is judged on the low-wd model only: a main model without a gap changes
    nothing, a low-wd model without one drops the verdict to partial."""
    assert verdicts(model(4.0, **{"mechanism/gap_median": 0.0}), model(1.0))["interference"] == c.REPRODUCED
    assert verdicts(model(4.0), model(1.0, **{"mechanism/gap_median": 0.0}))["interference"] == c.PARTIAL
    assert "median gap not above" in reasons(model(4.0), model(1.0, **{"mechanism/gap_median": 0.0}))["interference"]
    at_threshold = {"mechanism/gap_median": c.GAP_MIN}  # "above" is strict: a gap equal to the threshold is not
    assert verdicts(model(4.0), model(1.0, **at_threshold))["interference"] == c.PARTIAL


def test_christmas_december():
    top = {m: 0.1 for m in MONTHS} | {"December": 0.5}
    second = top | {"November": 0.9}
    negative = top | {"December": -0.2}
    assert verdicts(model(christmas=top))["christmas"] == c.REPRODUCED
    assert verdicts(model(christmas=second))["christmas"] == c.PARTIAL
    assert verdicts(model(christmas=negative))["christmas"] == c.NOT_REPRODUCED


@pytest.mark.parametrize("bad", [None, float("nan"), "n/a"])
def test_null_numbers_are_not_measurable_with_the_missing_words(bad):
    groups = {"months": {"missing": ["May", "March"], "seasonal": SEASONAL_OK}}
    m = model(groups=groups, **{"geometry/months/ring_score": bad, "data/months/gram_vs_cond_corr": bad})
    rows = {r.claim.key: r for r in evaluate([m])}
    for key in ("months_ring", "data_mirror"):
        assert rows[key].verdict == c.NOT_MEASURABLE
        assert "missing words: May, March" in rows[key].reason
    assert rows["months_ring"].numbers[0][1].startswith("n/a (missing words: May, March")
    assert rows["days_ring"].verdict == c.REPRODUCED  # the other claims are unaffected


def test_absent_numbers_and_recorded_reasons():
    metrics = good_metrics()
    del metrics["coactivation/pearson_dot_corr"]
    m = ModelResult(4.0, 100, metrics, {"months": {"missing": [], "data": {"reason": "no windows with a month"}}})
    rows = {r.claim.key: r for r in evaluate([m])}
    assert rows["coactivation"].verdict == c.NOT_MEASURABLE
    assert "coactivation/pearson_dot_corr was not computed" in rows["coactivation"].reason
    m = ModelResult(4.0, 100, {**metrics, "data/months/gram_vs_cond_corr": None}, m.groups)
    assert "no windows with a month" in reasons(m)["data_mirror"]
    no_christmas = ModelResult(4.0, 100, metrics, {}, {"christmas_vs_months": {"target": None, "missing_months": []}})
    row = {r.claim.key: r for r in evaluate([no_christmas])}["christmas"]
    assert row.verdict == c.NOT_MEASURABLE and "missing words: Christmas" in row.reason


def test_readme_figure_guide_has_the_same_wording():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert c.guide_markdown() in readme, (
        "README's claims table is out of date: paste bows.analysis.claims.guide_markdown()"
    )
