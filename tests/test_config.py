"""Config validation for the data stages: errors name the field and fail before any work."""

from __future__ import annotations

import pytest
from hydra.errors import HydraException

from bows.errors import ConfigError


def test_typo_in_an_override_names_the_key(make_config):
    with pytest.raises(HydraException, match="gruop_size"):
        make_config("window.gruop_size=10")


@pytest.mark.parametrize(
    "override, field",
    [
        ("vocab.size=38", "vocab.size"),
        ("window.group_size=0", "window.group_size"),
        ("window.stride=-1", "window.stride"),
        ("vocab.sample_fraction=0", "vocab.sample_fraction"),
        ("vocab.min_len=-5", "vocab.min_len"),
        ("corpus.name=nonsense", "corpus.name"),
    ],
)
def test_invalid_values_name_the_field(make_config, override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_config(override)


def test_unknown_corpus_group_fails(make_config):
    with pytest.raises(HydraException, match="nonsense"):
        make_config("corpus=nonsense")


def test_per_corpus_window_defaults(make_config):
    embedded = make_config()
    assert (embedded.window.group_size, embedded.window.cross_documents) == (5, False)
    wikitext = make_config("corpus=wikitext103")
    assert (wikitext.window.group_size, wikitext.window.stride, wikitext.window.cross_documents) == (20, 1, True)
    assert make_config("vocab.size=5000", "window.group_size=10").window.group_size == 10
