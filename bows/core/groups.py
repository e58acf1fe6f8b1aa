"""Named word groups (months, days, planets, Roman numerals, seasonal words), mechanism target
words with their context words, and the hand-made semantic categories (reads
``bows/resources/categories.json``). Pure data plus a vocabulary lookup that reports what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
ANIMAL_CLASSES = ("Mammal", "Fish", "Bird", "Reptile", "Amphibian", "Insect")
ANIMALS = ("Cow", "Salmon", "Eagle", "Snake", "Frog", "Butterfly")
# The paper's 39 forced tokens, first in every vocabulary in this order (kept even when rare).
FORCED_TOKENS: tuple[str, ...] = DAYS + MONTHS + PLANETS + ANIMAL_CLASSES + ANIMALS
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
SEASONAL = ("snow", "freezing", "Christmas", "summer", "spring", "Easter", "leaves", "Halloween", "Thanksgiving")

# Named groups whose Gram / co-activation matrices are saved and logged; the cyclic ones are in
# their natural (calendar) order, which the ring analyses compare against.
GROUPS: dict[str, tuple[str, ...]] = {
    "months": MONTHS,
    "days": DAYS,
    "planets": PLANETS,
    "roman": ROMAN,
    "seasonal": SEASONAL,
}
CYCLIC_GROUPS = ("months", "days")

# Groups of the data diagnostics (``make stats``): words in natural order and the structure that
# order predicts ("ring": cyclic, "line": linear).
SEASONS = ("spring", "summer", "autumn", "winter")
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
DIAGNOSTIC_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "months": (MONTHS, "ring"),
    "days": (DAYS, "ring"),
    "seasons": (SEASONS, "ring"),
    "planets": (PLANETS, "line"),
    "roman": (ROMAN, "line"),
    "numbers": (NUMBERS, "line"),
}

# Northern-hemisphere season of each month, and the season each seasonal word belongs to.
MONTH_SEASON: dict[str, str] = dict(
    zip(
        MONTHS,
        (
            "winter",
            "winter",
            "spring",
            "spring",
            "spring",
            "summer",
            "summer",
            "summer",
            "autumn",
            "autumn",
            "autumn",
            "winter",
        ),
    )
)
SEASON_OF_WORD = {
    "snow": "winter",
    "freezing": "winter",
    "Christmas": "winter",
    "summer": "summer",
    "spring": "spring",
    "Easter": "spring",
    "leaves": "autumn",
    "Halloween": "autumn",
    "Thanksgiving": "autumn",
}

# Mechanism (SPEC 5.6): target words and the context words of their decomposition towers.
TARGETS = ("mbar", "Beatles", "Christmas")
CORRELATED_CONTEXT: dict[str, tuple[str, ...]] = {
    "mbar": ("pressure", "barometric", "inHg", "hPa"),
    "Beatles": ("Lennon", "McCartney", "Harrison", "Starr"),
    "Christmas": ("December", "holiday", "Santa", "Eve"),
}
UNCORRELATED_CONTEXT = ("orange", "milk", "rice", "fish")


@dataclass(frozen=True)
class Lookup:
    """Words of a group found in a vocabulary (in group order) and the ones that are missing."""

    words: tuple[str, ...]  # present words, group order
    indices: np.ndarray  # their vocabulary ids (int64)
    missing: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.words)


def lookup(words: Sequence[str], vocab: Sequence[str] | Mapping[str, int]) -> Lookup:
    """Find ``words`` in ``vocab`` (a word list in index order, or a word -> id mapping)."""
    index = vocab if isinstance(vocab, Mapping) else {w: i for i, w in enumerate(vocab)}
    present = [w for w in words if w in index]
    missing = tuple(w for w in words if w not in index)
    return Lookup(tuple(present), np.array([index[w] for w in present], dtype=np.int64), missing)


# A group metric (ring score, Gram norm, discovery evaluation) needs every word of the group in the
# vocabulary AND active: each occurring in at least this many training windows. Forced tokens are in
# every vocabulary even when the corpus never uses them; a vector trained on (almost) no windows is
# its initialisation shrunk by weight decay, and its "ring" or Gram norm would be a number about nothing.
MIN_GROUP_WORD_WINDOWS = 5


@dataclass(frozen=True)
class Usable:
    """Whether a word group can be measured (``reason`` None) or why not; ``found`` is its lookup."""

    found: Lookup
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def usable_group(
    words: Sequence[str],
    vocab: Sequence[str] | Mapping[str, int],
    counts: np.ndarray | None,
    min_windows: int = MIN_GROUP_WORD_WINDOWS,
    where: str = "training windows",
) -> Usable:
    """The one decision of whether a group's metrics exist: every word in ``vocab`` and each in at
    least ``min_windows`` of the windows ``counts`` (per vocabulary id) counts. ``counts`` None: the
    activity is unknown and only presence is checked (a caller without the data must say so)."""
    found = lookup(words, vocab)
    if found.missing:
        return Usable(found, f"missing from the vocabulary: {list(found.missing)}")
    if counts is not None:
        seen = np.asarray(counts)[found.indices] if len(found) else np.zeros(0)
        rare = {w: int(c) for w, c in zip(found.words, seen) if c < min_windows}
        if rare:
            return Usable(found, f"in fewer than {min_windows} {where}: {rare}")
    return Usable(found, None)


CATEGORIES_FILE = "categories.json"


@lru_cache(maxsize=1)
def _categories_payload() -> dict:
    text = resources.files("bows").joinpath("resources", CATEGORIES_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def categories_version() -> int:
    return int(_categories_payload()["version"])


def load_categories() -> dict[str, tuple[str, ...]]:
    """The hand-made semantic categories: name -> words (case-sensitive, disjoint)."""
    return {name: tuple(words) for name, words in _categories_payload()["categories"].items()}


def category_labels(
    vocab: Sequence[str], categories: Mapping[str, Sequence[str]] | None = None
) -> tuple[np.ndarray, list[str], dict[str, list[str]]]:
    """Per-word category id (-1 = uncategorised), the category names, and the missing words per category."""
    categories = load_categories() if categories is None else categories
    names = list(categories)
    labels = np.full(len(vocab), -1, dtype=np.int64)
    missing: dict[str, list[str]] = {}
    index = {w: i for i, w in enumerate(vocab)}
    for c, name in enumerate(names):
        found = lookup(categories[name], index)
        labels[found.indices] = c
        missing[name] = list(found.missing)
    return labels, names, missing
