"""Tokenizer rules (SPEC 3.2) and the documented differences from NLTK's word_tokenize."""

from __future__ import annotations

import pyarrow as pa
from readers import tokenize_text

from bows.data.tokenize import NUMBERS, stopwords, tokenize, word_ids


def test_stopwords_are_the_179_lowercase_nltk_words_and_the_test_is_case_sensitive():
    assert len(stopwords()) == 179 and all(w == w.lower() for w in stopwords())
    assert tokenize_text("The cat and the hat") == ["The", "cat", "hat"]
    assert tokenize_text("IT is it") == ["IT"]


def test_numbers_zero_to_hundred_only():
    assert NUMBERS[0] == "0" and NUMBERS[-1] == "100" and len(NUMBERS) == 101
    assert tokenize_text("0 7 42 100 101 05 3.5 1990s 1,000 -3") == ["0", "7", "42", "100", "3"]


def test_differences_from_nltk_on_real_sentences():
    # NLTK: ['Washington', "'s", 'army', 'did', "n't", 'retreat', ',', 'and', 'they', 'ca', "n't", ...]
    assert tokenize_text("Washington's army didn't retreat, and they can't and won't.") == [
        "Washington",
        "army",
        "retreat",
        "ca",
        "wo",
    ]
    # NLTK keeps 'well-known' whole (then not alphabetic): dropped by both
    assert tokenize_text("A well-known author wrote it.") == ["A", "author", "wrote"]
    # WikiText's ' @-@ ' and ' @,@ ' are separators, as NLTK's punctuation split makes them
    assert tokenize_text("a well @-@ known author sold 1 @,@ 000 copies") == [
        "well",
        "known",
        "author",
        "sold",
        "1",
        "copies",
    ]
    # NLTK keeps 'U.S.' whole and 'Mr.' whole; we drop 'U.S' (not alphabetic) but keep 'Mr'
    assert tokenize_text("Mr. Smith visited the U.S. in May.") == ["Mr", "Smith", "visited", "May"]
    # Unicode letters, also when written with combining marks (NFC-normalised first)
    assert tokenize_text("Zürich is naïve and nai\u0308ve, São Paulo too") == [
        "Zürich",
        "naïve",
        "naïve",
        "São",
        "Paulo",
    ]
    # quotes and curly apostrophes
    assert tokenize_text("\u201cHello\u201d, she said; it\u2019s Rock\u2019s 'song'") == [
        "Hello",
        "said",
        "Rock",
        "song",
    ]


def test_short_rows_keep_their_slot_but_give_no_words():
    texts = pa.array(["Rome was not built in a day but it was built", "tiny Rome", None, "Rome " * 12])
    tokens = tokenize(texts, min_len=20)
    assert tokens.n_rows == 4
    assert tokens.per_row() == [["Rome", "built", "day", "built"], [], [], ["Rome"] * 12]
    assert tokens.rows.tolist() == sorted(tokens.rows.tolist())


def test_word_ids_drop_unknown_words_and_use_uint16():
    tokens = tokenize(["apple banana cherry", "banana durian"], min_len=0)
    rows, ids = word_ids(tokens, pa.array(["banana", "apple", "cherry"]))
    assert rows.tolist() == [0, 0, 0, 1] and ids.tolist() == [1, 0, 2, 0] and ids.dtype.name == "uint16"


def test_em_en_and_double_dashes_separate_words():
    text = "peace\u2014war, day\u2013night and rock--roll"
    assert tokenize_text(text) == ["peace", "war", "day", "night", "rock", "roll"]
