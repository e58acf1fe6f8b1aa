"""Structure vs latent size: the metrics on hand-made Gram matrices and curves, and (slow) a tiny
`make structure` run end to end."""

import numpy as np
import pandas as pd
import pytest

from bows.analysis.structure import group_norms, offdiag_frobenius_gram, settle_step, summarise


def test_offdiag_frobenius_of_a_hand_made_gram():
    G = np.array([[4.0, 1.0, -2.0], [1.0, 9.0, 0.0], [-2.0, 0.0, 1.0]])
    assert offdiag_frobenius_gram(G) == pytest.approx(np.sqrt(2 * (1 + 4)))
    assert offdiag_frobenius_gram(np.diag([1.0, 2.0, 3.0])) == 0.0  # orthogonal words: no structure
    W = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 1.0]])  # columns = word vectors
    assert group_norms(W, [0, 1, 2]) == pytest.approx(np.sqrt(2 * (1**2 + 2**2)))


def test_summary_is_mean_plus_minus_two_sd_over_seeds():
    frame = pd.DataFrame(
        {"group": "months", "latent_size": [10, 10, 10, 20], "seed": [1, 2, 3, 1], "frobenius": [1.0, 2.0, 3.0, 5.0]}
    )
    s = summarise(frame).set_index("latent_size")
    assert s.loc[10, "mean"] == 2.0 and s.loc[10, "sd"] == 1.0
    assert (s.loc[10, "lower"], s.loc[10, "upper"]) == (0.0, 4.0)
    assert s.loc[20, "seeds"] == 1 and bool(
        np.isnan(s["sd"].to_numpy()[list(s.index).index(20)])
    )  # one seed: no sd, not 0


def test_ring_adjacent_of_a_planted_month_ring():
    from bows.core.groups import MONTHS
    from bows.experiments.structure import ring_adjacent

    angle = 2 * np.pi * np.arange(12) / 12
    V = np.zeros((12, 10))
    V[:, 0], V[:, 1] = np.cos(angle), np.sin(angle)
    V[:, 2:] = np.random.default_rng(0).normal(0, 0.01, (12, 8))  # small off-plane noise
    assert ring_adjacent(V, list(MONTHS)) == 1.0
    assert ring_adjacent(V[[1, 0, *range(2, 12)]], list(MONTHS)) == 10 / 12  # January and February swapped


def test_ring_rows_of_a_planted_month_ring_among_random_words():
    from bows.core.groups import DAYS, MONTHS, lookup
    from bows.experiments.structure import CYCLIC, ring_rows

    rng = np.random.default_rng(0)
    vocab = [*DAYS, *MONTHS, *(f"w{i}" for i in range(181))]
    W = rng.normal(0, 1 / np.sqrt(40), (40, len(vocab)))  # random unit-ish words in L = 40
    angle = 2 * np.pi * np.arange(12) / 12
    months = lookup(MONTHS, vocab).indices
    W[:, months] *= 0.3
    W[0, months] += np.cos(angle)
    W[1, months] += np.sin(angle)  # the months on a circle in the plane of dims 0-1
    found = {name: lookup(words, vocab) for name, words in CYCLIC.items()}
    rows = {r["group"]: r for r in ring_rows(W, 40, 1, found, np.ones(len(vocab)), vocab, discover=False)[0]}
    assert rows["months"]["ring_adjacent"] == 1.0 and rows["months"]["adjacent_z"] > 3
    assert abs(rows["days"]["adjacent_z"]) < 2  # random words: no ring signal
    assert rows["months"]["represented"] == rows["days"]["represented"] > 40  # a property of W, not of the group
    assert np.isnan(rows["months"]["discovery_candidate_f1"])  # discovery off: absent, not 0


def test_settle_step():
    steps = [100, 200, 300, 400, 500]
    assert settle_step(steps, [1.0, 5.0, 9.8, 10.1, 10.0], 0.05) == 300
    assert settle_step(steps, [10.0] * 5, 0.05) == 100
    assert settle_step(steps, [0.0] * 5, 0.05) is None


@pytest.mark.slow
def test_make_structure_tiny_run(tmp_path):
    from bows.config import compose
    from bows.experiments import structure
    from tests.test_study import write_corpus

    write_corpus(tmp_path / "corpus")
    cfg = compose(
        [
            f"paths.root={tmp_path / 'data'}",
            "wandb=disabled",
            "corpus=local",
            f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
            "vocab.size=80",
            "vocab.sample_fraction=1.0",
            "train.batch_size=64",
            "train.num_threads=1",
            "structure.latent_sizes=[2,8]",
            "structure.steps=[20,30]",
            "structure.seeds=[1,2,3]",
            "structure.eval_every=10",
        ]
    )
    out = structure.run(cfg)
    table = pd.read_parquet(out / structure.TABLE)
    assert set(table["latent_size"]) == {2, 8} and set(table["seed"]) == {1, 2, 3}
    assert set(table["group"]) >= {"months"}
    assert (out / structure.FIGURE).is_file() and (out / structure.RING_FIGURE).is_file()
    per_model = pd.read_parquet(out / structure.RINGS)
    assert set(per_model["group"]) == {"months", "days"}  # the cyclic groups, one row per model each
    assert len(per_model) == 2 * 2 * 3 and per_model["ring_adjacent"].between(0, 1).all()
    assert per_model["discovery_candidate_f1"].between(0, 1).all()  # discovery ran on every model
    assert (per_model["represented"] >= 0).all() and (per_model["packing_floor"] >= 0).all()
    rings = pd.read_parquet(out / structure.RING_SUMMARY)
    ring_score = rings[rings["metric"] == "ring_adjacent"]
    assert set(ring_score["group"]) == {"months", "days"} and set(ring_score["latent_size"]) == {2, 8}
    assert ring_score["mean"].between(0, 1).all() and (ring_score["seeds"] == 3).all()
    again = structure.run(cfg)  # up to date: reused, not retrained
    assert again == out


def _strict_json(path):
    """JSON as the standard has it: ``NaN`` / ``Infinity`` are not numbers a reader can parse."""
    import json

    def refuse(token):
        raise AssertionError(f"{path} holds {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_one_seed_structure_summary_is_strict_json_with_null_spread(tmp_path):
    """With one seed the spread is undefined: summary.json holds null there (and says why), not NaN."""
    from bows.config import compose
    from bows.experiments import structure
    from tests.test_study import write_corpus

    write_corpus(tmp_path / "corpus")
    cfg = compose(
        [
            f"paths.root={tmp_path / 'data'}",
            "wandb=disabled",
            "corpus=local",
            f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
            "vocab.size=80",
            "vocab.sample_fraction=1.0",
            "train.batch_size=64",
            "train.num_threads=1",
            "structure.latent_sizes=[2]",
            "structure.steps=[20]",
            "structure.seeds=[1]",
            "structure.eval_every=10",
            "structure.discovery=false",
        ]
    )
    summary = _strict_json(structure.run(cfg) / structure.SUMMARY)
    rows = summary["summary"] + summary["ring_summary"]
    assert rows and all(r["seeds"] <= 1 and r["sd"] is None and r["lower"] is None for r in rows)
    assert any(r["mean"] is not None for r in rows) and "one seed" in summary["nulls"]


def test_structure_measures_only_groups_whose_words_are_all_present_and_active():
    """make structure decides through usable_group: a group with a word missing or in too few train windows
    gets no rows, and summary.json says why; nothing measurable at all stops with one line."""

    from bows.core.groups import DAYS, MIN_GROUP_WORD_WINDOWS, MONTHS, ROMAN
    from bows.errors import BowsError
    from bows.experiments.structure import measurable_groups

    vocab = [*MONTHS, *DAYS, *ROMAN[:-1], "word"]  # "X" missing
    counts = np.full(len(vocab), 100)
    counts[vocab.index("Sunday")] = MIN_GROUP_WORD_WINDOWS - 1  # in too few windows
    groups, rings_of, unavailable = measurable_groups(vocab, counts)
    assert list(groups) == ["months"] and list(rings_of) == ["months"]
    assert "X" in unavailable["roman"] and "Sunday" in unavailable["days"] and "months" not in unavailable
    with pytest.raises(BowsError, match="neither the months nor the Roman numerals"):
        measurable_groups(["word", *DAYS], np.full(8, 100))
