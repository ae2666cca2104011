"""Cutting streamed text into speakable sentences, on a table of tricky cases."""

from __future__ import annotations

import pytest

from voicechat.llm.sentences import SentenceSplitter, speakable

CASES = [
    ("Hello there. How are you? I am fine!", ["Hello there.", "How are you?", "I am fine!"]),
    (
        "Dr. Smith paid $3.50 for it. Then he left.",
        ["Dr. Smith paid $3.50 for it.", "Then he left."],
    ),
    (
        "Pi is about 3.14159. That is close enough.",
        ["Pi is about 3.14159.", "That is close enough."],
    ),
    (
        "Mr. and Mrs. Jones met at 5 p.m. yesterday.",
        ["Mr. and Mrs. Jones met at 5 p.m. yesterday."],
    ),
    (
        "J. K. Rowling wrote it, e.g. the first book. Nice.",
        ["J. K. Rowling wrote it, e.g. the first book.", "Nice."],
    ),
    (
        "Wait... what happened? Well... It broke.",
        ["Wait... what happened?", "Well...", "It broke."],
    ),
    (
        "Steps:\n1. Preheat the oven.\n2. Bake for 20 min.\nDone.",
        ["Steps:", "1. Preheat the oven.", "2. Bake for 20 min.", "Done."],
    ),
    ("- First item\n- Second item\n", ["First item", "Second item"]),
    ("## Summary\nAll **good** and *fine*.", ["Summary", "All good and fine."]),
    (
        "Run `ls` first.\n```bash\nls -la\necho done.\n```\nThen check.",
        ["Run ls first.", "Then check."],
    ),
    (
        "See [the docs](https://example.com/docs). Or https://example.com too.",
        ["See the docs.", "Or too."],
    ),
    ("Great job! 🎉👍 Keep going.", ["Great job!", "Keep going."]),
    ("| a | b |\n|---|---|\n| 1 | 2 |\n", ["a, b", "1, 2"]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("No full stop at the end", ["No full stop at the end"]),
    ("🎉", []),
    ("", []),
]


@pytest.mark.parametrize("chunk", [1, 2, 5, 1000])
@pytest.mark.parametrize(("text", "expected"), CASES)
def test_streamed_text_is_cut_into_speakable_sentences(
    text: str, expected: list[str], chunk: int
) -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    for i in range(0, len(text), chunk):
        out += splitter.feed(text[i : i + chunk])
    out += splitter.flush()
    assert out == expected


def test_a_sentence_is_released_as_soon_as_the_next_one_starts() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("The capital of France is Paris.") == []
    assert splitter.feed(" It") == ["The capital of France is Paris."]


def test_a_very_long_run_is_cut_at_a_comma() -> None:
    splitter = SentenceSplitter(max_chars=60)
    text = "one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen"
    first = splitter.feed(text)
    assert first
    assert all(len(s) <= 60 for s in first)
    words = " ".join(first + splitter.flush()).replace(",", "").split()
    assert words == text.replace(",", "").split()


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [("**Note:** read `this`", "Note: read this"), ("---", ""), ("> quoted words", "quoted words")],
)
def test_speakable(raw: str, spoken: str) -> None:
    assert speakable(raw) == spoken


@pytest.mark.parametrize("chunk", [1, 3, 1000])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The capital of France is Paris, a city known for its art. It is lovely, and big.",
            [
                "The capital of France is Paris,",
                "a city known for its art.",
                "It is lovely, and big.",
            ],
        ),
        ("Sure, the capital is Paris. Yes, it is.", ["Sure, the capital is Paris.", "Yes, it is."]),
        (
            "Paris is the capital — and the largest city.",
            ["Paris is the capital —", "and the largest city."],
        ),
        ("**Paris** is the capital; I am sure.", ["Paris is the capital;", "I am sure."]),
        ("It costs 3,500 euros in total, roughly.", ["It costs 3,500 euros in total,", "roughly."]),
    ],
)  # fmt: skip
def test_the_first_clause_is_spoken_before_its_sentence_ends(
    text: str, expected: list[str], chunk: int
) -> None:
    """Only the reply's first piece may end at a clause; later ones end at sentences."""
    splitter = SentenceSplitter(first_clause_words=4)
    out: list[str] = []
    for i in range(0, len(text), chunk):
        out += splitter.feed(text[i : i + chunk])
    assert out + splitter.flush() == expected


def test_the_first_clause_is_released_when_its_mark_is_followed_by_a_space() -> None:
    splitter = SentenceSplitter(first_clause_words=4)
    assert splitter.feed("The capital of France is Paris,") == []
    assert splitter.feed(" a") == ["The capital of France is Paris,"]
