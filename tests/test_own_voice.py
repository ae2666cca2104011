"""A take that stopped a reply and holds only that reply's words is its echo (`own_voice`).

The takes below are what talk's take transcriber (faster-whisper tiny.en) heard through
PulseAudio, with the speaker looped into the microphone, when the reply's own echo started a
take, and when a person (piper, a real recording) talked over the reply
(benchmarks/talk_over_pulse.py, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import pytest

from tests.support.tiny_phi3 import ANSWERS
from voicechat.own_voice import MAX_WORDS, is_own_words

STORY = ANSWERS["Tell me a long story."]


@pytest.mark.parametrize("heard", ["One day here.", "the robot", "One day.", "Together they"])
def test_a_few_of_the_replys_words_are_its_echo(heard: str) -> None:
    assert is_own_words(heard, STORY)


@pytest.mark.parametrize(
    "heard",
    [
        "What is the capital of France?",
        "We must find a new home in the stars.",
        "I find a new home in the stars.",  # a person's take that lost its first word
        "Tell me more about the robot.",  # shares "the robot" only
        "Stop.",
    ],
)
def test_a_person_talking_over_the_reply_is_not_its_echo(heard: str) -> None:
    assert not is_own_words(heard, STORY)


def test_a_long_take_is_a_person_even_in_the_replys_words() -> None:
    """The reply stops as soon as its echo starts a take: its echo cannot fill a long one."""
    said = " ".join(STORY.split()[: MAX_WORDS + 1])
    assert not is_own_words(said, STORY)
    assert is_own_words(" ".join(STORY.split()[:MAX_WORDS]), STORY)


def test_nothing_heard_or_no_reply_is_never_its_echo() -> None:
    assert not is_own_words("", STORY)
    assert not is_own_words("...", STORY)
    assert not is_own_words("One day.", "")
