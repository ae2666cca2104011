"""Deciding that a person has finished speaking from what they said and how it sounded.

With `audio.end_of_turn = "smart"`, at each short pause in a take (PAUSE_MS of silence) the
early transcript and the take's audio are judged:

- the words: a transcript that ends on a word that cannot end an English sentence (an
  article, a preposition, a conjunction, an auxiliary: "the", "of", "and", "does") is not
  finished; otherwise the language model already loaded scores how likely it is a whole
  message ("What is the capital of" is not, "What is the capital of France" is);
- the sound: Smart Turn v3 scores whether the voice sounds finished, where its model is found.

The take ends at that pause only when every signal there is says finished; otherwise the
person is waited for: that pause must last UNFINISHED_WAIT times `audio.silence_ms` before
the silence rule ends the take. Requiring every signal trades a little speed for not ending
a turn mid-sentence.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from voicechat.config import AudioConfig
from voicechat.types import AudioClip

WORDS_THRESHOLD = 0.3
"""The words say finished at or above this probability of the message ending there."""
SOUND_THRESHOLD = 0.5
"""The sound says finished at or above this Smart Turn probability."""
DANGLING_WORDS = frozenset(
    {
        *("a", "an", "the", "my", "your", "our", "their", "every", "some", "any"),
        *("of", "to", "for", "from", "with", "at", "by", "into", "onto", "between", "than"),
        *("and", "or", "but", "nor", "because", "if", "when", "while", "although", "whether"),
        *("does", "is", "are", "was", "were", "can", "could", "will", "would", "should"),
    }
)
"""English words a spoken request rarely ends on ("Where are you from?" does, and then waits
for the silence rule: a word wrongly listed costs a little time, a word missing can cut a
person off). A language model would learn this; the list holds even when speech-to-text has
garbled the words before it."""


def dangling(text: str) -> bool:
    """Whether `text` ends on a word from DANGLING_WORDS (punctuation ignored)."""
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and words[-1] in DANGLING_WORDS


@runtime_checkable
class ScoresMessageEnds(Protocol):
    """A chat model that can score a partial message (the transformers engine)."""

    def end_probability(self, text: str) -> float:
        """How likely `text` is a whole message (0-1)."""
        ...


@dataclass(frozen=True)
class Verdict:
    """One judgement at a pause. words, sound: each signal's probability (None where that
    signal is not available); words_ms, sound_ms: what each cost."""

    complete: bool
    words: float | None
    sound: float | None
    words_ms: float
    sound_ms: float


class TurnJudge:
    """Judges a take at a pause from the signals it has (at least one)."""

    def __init__(
        self,
        words: Callable[[str], float] | None,
        sound: Callable[[AudioClip], float] | None,
    ) -> None:
        if words is None and sound is None:
            raise ValueError("a judge needs the words, the sound, or both")
        self._words = words
        self._sound = sound

    @property
    def signals(self) -> str:
        """What it listens to: "words + sound", "words" or "sound"."""
        names = [n for n, s in (("words", self._words), ("sound", self._sound)) if s]
        return " + ".join(names)

    def __call__(self, text: str, clip: AudioClip) -> Verdict:
        """Whether `text` (the transcript of `clip`, the take so far) is a finished turn."""
        start = time.perf_counter()
        words = None
        if self._words is not None:
            words = 0.0 if dangling(text) else self._words(text)
        scored = time.perf_counter()
        sound = self._sound(clip) if self._sound is not None else None
        done = time.perf_counter()
        complete = (words is None or words >= WORDS_THRESHOLD) and (
            sound is None or sound >= SOUND_THRESHOLD
        )
        return Verdict(complete, words, sound, (scored - start) * 1000, (done - scored) * 1000)


def check_turn_model(audio: AudioConfig) -> None:
    """Fail at once on an `audio.turn_model` that does not exist, before models load."""
    if audio.end_of_turn == "smart" and audio.turn_model:
        from voicechat.audio.smart_turn import find_model

        find_model(audio.turn_model)


def make_judge(
    audio: AudioConfig, chat: object, on_notice: Callable[[str], None]
) -> TurnJudge | None:
    """The judge `audio.end_of_turn` asks for, from the loaded chat model and Smart Turn's
    model where found; None for the silence rule (or, with a notice, when no signal is
    available)."""
    if audio.end_of_turn != "smart":
        return None
    from voicechat.audio.smart_turn import SmartTurn, find_model

    words = chat.end_probability if isinstance(chat, ScoresMessageEnds) else None
    path = find_model(audio.turn_model)
    sound = SmartTurn(path) if path is not None else None
    if sound is None:
        on_notice(
            "the smart end of turn listens to the words alone: for the voice too, set "
            "audio.turn_model to Smart Turn v3's ONNX file (the pipecat-ai package has it)"
        )
    if words is None and sound is None:
        on_notice(
            "the smart end of turn has no signal here (the language model cannot score "
            "words); takes end after audio.silence_ms of silence"
        )
        return None
    return TurnJudge(words, sound)
