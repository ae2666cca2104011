"""Whether a take that stopped a reply holds only that reply's own words: its echo.

    heard over the reply ──> words ──> the longest run of them, in order, in the reply
                                       ──> at least OWN_SHARE of them, MAX_WORDS at most:
                                           the reply's own voice, not a person

The echo canceller now and then lets a moment of the reply through loudly enough for voice
activity to take it for someone talking over it (at a sentence's first word, while the
cancellers learn the echo again). The reply stops at once, as it must for a person, so what
the take holds is a few of its words, heard a little wrong ("One day here." for "One day a
fisherman"); answered, voicechat would answer itself. A person talking over a reply says
their own words ("What is the capital of France?" shares only "is the" with a story), so a
short take that is mostly one unbroken stretch of the reply is dropped instead. The price:
a person who cuts in with nothing but words the reply is saying ("Coffee." over "Tea or
coffee?") must say it again.
"""

from __future__ import annotations

import difflib

from voicechat.words import words

OWN_SHARE = 0.6
"""Share of the take's words that one unbroken stretch of the reply must hold: "One day
here." against "One day a fisherman" is 2 of 3."""
MAX_WORDS = 8
"""A take of more words than this is a person: the reply stops as its echo starts a take, so
an echo take holds a word or a few."""


def is_own_words(heard: str, reply: str) -> bool:
    """Whether `heard` (a take's transcript) is short and mostly one unbroken stretch of
    `reply`'s words, in order: the reply's own voice, not a person."""
    said, spoken = words(heard), words(reply)
    if not said or len(said) > MAX_WORDS or not spoken:
        return False
    match = difflib.SequenceMatcher(None, spoken, said, autojunk=False).find_longest_match(
        0, len(spoken), 0, len(said)
    )
    return match.size >= OWN_SHARE * len(said)
