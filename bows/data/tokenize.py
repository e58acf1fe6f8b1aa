"""Vectorised word tokenizer (SPEC 3.2): Arrow string columns in, flat (row, token) arrays out.

A token is kept if it is alphabetic (Unicode letters) and not a stopword, or is exactly one of
"0".."100". Case-sensitive: the stopword test is against the lowercase NLTK English list
(``bows/resources/nltk_english_stopwords.txt``), so "The" survives and "the" does not. Rows
shorter than ``min_len`` characters contribute no tokens (they still occupy a row slot in the
windows). Everything runs as ``pyarrow.compute`` kernels over whole columns; no Python loop
over rows.

The paper used NLTK's ``word_tokenize`` (Punkt + Treebank rules), which needs a downloaded model.
This regex tokenizer reproduces it on what matters for a bag of words and differs as follows
(each case is pinned in ``tests/test_tokenize.py``):

- Contractions: NLTK splits "don't" into "do" + "n't" and "can't" into "ca" + "n't"; we drop the
  ``n't`` part the same way (so "can't" -> "ca", "won't" -> "wo", like NLTK), and drop the clitics
  's 'm 'd 'll 're 've ("Washington's" -> "Washington"; NLTK: "Washington" + "'s", dropped later).
- Hyphens: "well-known" stays one token and, not being alphabetic, is dropped (as with NLTK).
  WikiText's " @-@ " is a separator, so "well @-@ known" gives "well", "known" (as with NLTK).
- Periods: kept inside a token and stripped at its ends. "U.S." -> "U.S" (dropped, NLTK drops
  "U.S." too); "Mr." -> "Mr" (kept; NLTK keeps "Mr." whole when Punkt knows the abbreviation,
  so drops it). Sentence-final "end." -> "end" (as NLTK).
- Unicode: text is NFC-normalised first, so "Zürich" and "naïve" are alphabetic even when written
  with combining marks (NLTK keeps the decomposed form, which ``str.isalpha`` rejects).
- Numbers: "100" is kept, "101", "05", "3.5", "1990s" are not (as NLTK). Thousands separators
  are joined ("1,000" -> "1000", dropped; NLTK keeps "1,000" whole, also dropped).
- Underscores and other symbols split tokens or make them non-alphabetic ("rock_n" is dropped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

NUMBERS: tuple[str, ...] = tuple(str(n) for n in range(101))
_CLITIC = r"(?i)(?:n['\x{2019}]t|['\x{2019}](?:s|m|d|ll|re|ve))\b"  # don't -> do, can't -> ca, Rome's -> Rome
_DASHES = ("\u2014", "\u2013", "--")  # em dash, en dash and "--" separate words like spaces
_TRIM = "\"'\u2018\u2019\u201c\u201d\u00ab\u00bb.,;:!?()[]{}<>*-\u2013\u2014\u2026"  # stripped from token ends


def tokenizer_settings(min_len: int) -> dict:
    """What determines the tokens: recorded in vocab and windows metadata (and their keys; the code of
    this module enters them too, ``bows.stages``)."""
    return {
        "min_len": min_len,
        "split": "unicode whitespace and dashes",
        "trim": _TRIM,
        "clitics": _CLITIC,
        "case_sensitive": True,
        "numbers": "0..100",
        "stopwords": "nltk_english (179, lowercase, case-sensitive test)",
    }


@lru_cache(maxsize=1)
def stopwords() -> tuple[str, ...]:
    """The 179 lowercase NLTK English stopwords shipped in ``bows/resources``."""
    text = resources.files("bows").joinpath("resources/nltk_english_stopwords.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class Tokens:
    """Kept tokens of a column of rows, flattened and dictionary-encoded: token i is the word
    ``dictionary[codes[i]]`` in row ``rows[i]``. The dictionary may hold a word more than once."""

    rows: np.ndarray  # int64, non-decreasing (reading order)
    codes: np.ndarray  # int32 positions in ``dictionary``
    dictionary: pa.Array  # string
    n_rows: int

    @property
    def words(self) -> pa.Array:
        """The kept tokens as strings (materialised; for counting use ``counts``)."""
        return self.dictionary.take(pa.array(self.codes))

    def counts(self) -> pa.Table:
        """``word``, ``count`` of every distinct kept word (unordered)."""
        per_code = np.bincount(self.codes, minlength=len(self.dictionary)).astype(np.int64)
        table = pa.table({"word": self.dictionary, "count": per_code}).filter(pa.array(per_code > 0))
        summed = table.group_by("word").aggregate([("count", "sum")])
        return pa.table({"word": summed["word"], "count": summed["count_sum"]})

    def per_row(self) -> list[list[str]]:
        """The tokens as one Python list per row (for tests and inspection; not for hot paths)."""
        out: list[list[str]] = [[] for _ in range(self.n_rows)]
        for row, word in zip(self.rows.tolist(), self.words.to_pylist()):
            out[row].append(word)
        return out


def tokenize(texts: pa.Array | pa.ChunkedArray | Iterable[str], *, min_len: int = 50) -> Tokens:
    """Kept tokens of every row of ``texts`` (nulls count as empty rows), in reading order."""
    column: Any = texts  # pyarrow's classes are untyped: pyright cannot narrow the union
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    elif not isinstance(column, pa.Array):
        column = pa.array(list(column), pa.string())
    n_rows = len(column)
    long_enough = pc.fill_null(pc.greater_equal(pc.utf8_length(column), min_len), False)
    text = pc.if_else(long_enough, column, pa.scalar("", column.type))
    text = pc.replace_substring_regex(pc.utf8_normalize(text, form="NFC"), _CLITIC, " ")
    for dash in _DASHES:
        text = pc.replace_substring(text, dash, " ")
    pieces = pc.utf8_split_whitespace(text)
    parents = pc.list_parent_indices(pieces).to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(pc.list_flatten(pieces))
    # every rule below runs once per distinct raw token, not once per token
    words = pc.utf8_trim(encoded.dictionary, _TRIM)
    keep_word = pc.or_(
        pc.and_(pc.utf8_is_alpha(words), pc.invert(pc.is_in(words, value_set=pa.array(stopwords())))),
        pc.is_in(words, value_set=pa.array(NUMBERS)),
    ).to_numpy(zero_copy_only=False)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    keep = keep_word[codes]
    return Tokens(
        rows=parents[keep].astype(np.int64, copy=False),
        codes=codes[keep].astype(np.int32, copy=False),
        dictionary=words.cast(pa.string()),
        n_rows=n_rows,
    )


def word_ids(tokens: Tokens, vocab: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, ids)`` of the tokens that are in ``vocab`` (ids = positions in ``vocab``).

    ids are uint16 when the vocabulary has at most 65,536 words, else int32."""
    position = pc.fill_null(pc.index_in(tokens.dictionary, value_set=vocab), -1).to_numpy(zero_copy_only=False)
    ids = position[tokens.codes]
    known = ids >= 0
    return tokens.rows[known], ids[known].astype(np.uint16 if len(vocab) <= 2**16 else np.int32)
