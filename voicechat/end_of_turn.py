"""Deciding that a person has finished speaking from what they said and how it sounded.

With `audio.end_of_turn = "smart"`, at each short pause in a take (PAUSE_MS of silence) the
early transcript and the take's audio are judged:

- the words: a transcript that ends on a word that cannot end an English sentence (an
  article, a preposition, a conjunction, an auxiliary: "the", "of", "and", "does") is not
  finished; otherwise the language model already loaded scores how likely it is a whole
  message, against two thresholds calibrated to that model (`turn_calibration`): below the
  lower the words say unfinished, from the upper on finished, between them they say
  neither (a score few whole requests get is no evidence either way);
- the sound: Smart Turn v3 scores whether the voice sounds finished, where its model is found.

One verdict per pause, never slower than the silence rule when the signals disagree:

- finished (every signal says so): the take ends at this pause;
- unfinished with confidence (a dangling last word, or both signals say so): the person is
  waited for, UNFINISHED_WAIT times `audio.silence_ms`;
- otherwise (the signals disagree, the only signal says unfinished, or speech-to-text is
  too unsure of the words to judge them): the plain silence rule, `audio.silence_ms`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from voicechat.config import AudioConfig
from voicechat.types import AudioClip
from voicechat.words import words

log = logging.getLogger(__name__)

WORDS_THRESHOLD = 0.3
"""The words say finished at or above this probability of the message ending there, for a
judge made without a calibration (one is made for every loaded model; see make_judge)."""
SOUND_THRESHOLD = 0.5
"""The sound says finished at or above this Smart Turn probability."""
SOUND_SURE = 0.9
"""From this Smart Turn probability on the sound has no doubt that the turn is finished
(finished requests of real people score 0.91-0.99)."""
UNSURE_LOGPROB = -0.75
"""A transcript whose least sure segment averages below this log probability per token is
too unsure for its words to say the turn is finished (the silence rule decides): about 3 %
of 352 complete requests from voicechat/data/requests.txt fell below it (piper, piper slow,
in noise, espeak-ng, real recordings; faster-whisper tiny.en in a take's window), and 28 %
of those it heard badly (word error rate above 0.3), as it hears a synthetic voice cut off
mid-sentence ("Tell me a," heard as "FLEA")."""
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
    """Whether `text` ends on a word from DANGLING_WORDS (punctuation ignored), or on a
    number with no mark after it.

    Whisper ends what it hears as finished with a mark ("Set a timer for 10 minutes.", "What
    is 7 times 8?"); a bare number at the end is most often one read out in groups, a phone
    number or a code, with a pause between groups ("1 0 0 1"): of 696 complete requests
    heard by tiny.en (voicechat/data/requests.txt in four synthetic voices, and real
    recordings) none ended that way.
    """
    if re.search(r"\d$", text.strip()):
        return True
    said = words(text)
    return bool(said) and said[-1] in DANGLING_WORDS


@runtime_checkable
class ScoresMessageEnds(Protocol):
    """A chat model that can score a partial message (the transformers engine)."""

    def end_probability(self, text: str) -> float:
        """How likely `text` is a whole message (0-1)."""
        ...

    def end_probabilities(self, texts: Sequence[str]) -> list[float]:
        """`end_probability` of many texts at once."""
        ...


@dataclass(frozen=True)
class Verdict:
    """One judgement at a pause.

    complete: True, finished (end the take here); False, unfinished with confidence (wait
    longer than the silence rule); None, not sure (the silence rule decides).
    words, sound: each signal's probability (None where that signal is not available);
    words_ms, sound_ms: what each cost. dangling: the last word cannot end a request.
    unsure: speech-to-text was too unsure of the words for them to count (UNSURE_LOGPROB).
    doubt: for a finished verdict, how far from sure it is, 0 (at or above the sure level) to
    1 (at the threshold), by the voice where it is heard, else by the words: the take's end
    waits the longer for it (`audio.takes.TakeRecorder.judged`).
    """

    complete: bool | None
    words: float | None
    sound: float | None
    words_ms: float
    sound_ms: float
    dangling: bool = False
    unsure: bool = False
    doubt: float = 1.0


def _now(
    score: Callable[[AudioClip], tuple[float, float]], clip: AudioClip
) -> concurrent.futures.Future[tuple[float, float]]:
    """`score(clip)`, done here, as a finished future."""
    done: concurrent.futures.Future[tuple[float, float]] = concurrent.futures.Future()
    done.set_result(score(clip))
    return done


def _doubt(score: float, finished: float, sure: float) -> float:
    """0 at or above `sure`, 1 at or below `finished`, linear between."""
    if sure <= finished:
        return 0.0 if score >= sure else 1.0
    return min(1.0, max(0.0, (sure - score) / (sure - finished)))


class TurnJudge:
    """Judges a take at a pause from the signals it has (at least one)."""

    def __init__(
        self,
        words: Callable[[str], float] | None,
        sound: Callable[[AudioClip], float] | None,
        words_threshold: float = WORDS_THRESHOLD,
        words_finished: float | None = None,
        words_sure: float | None = None,
    ) -> None:
        """words_threshold: the words say unfinished below it; words_finished: they say
        finished at or above it (by default the same), and neither between the two;
        words_sure: finished with no doubt from it on (by default words_finished)."""
        if words is None and sound is None:
            raise ValueError("a judge needs the words, the sound, or both")
        self._words = words
        self._sound = sound
        self._words_ready = threading.Event()
        self._words_ready.set()
        self.calibrated(words_threshold, words_finished, words_sure)

    def calibrated(
        self,
        words_threshold: float,
        words_finished: float | None = None,
        words_sure: float | None = None,
    ) -> None:
        """Set the words' thresholds (and let the words count again after `calibrate_later`)."""
        self.words_threshold = words_threshold
        self.words_finished = max(
            words_threshold, words_threshold if words_finished is None else words_finished
        )
        self.words_sure = max(self.words_finished, words_sure or 0.0)
        self._words_ready.set()

    def calibrate_later(
        self, calibrate: Callable[[], tuple[float, float, float]], on_done: Callable[[], None]
    ) -> threading.Thread:
        """Run `calibrate` (returning the three thresholds) on a thread of its own; until it
        has, the words say neither finished nor unfinished (a last word that dangles still
        waits), so the take ends by the silence rule unless that wait applies."""
        self._words_ready.clear()

        def run() -> None:
            try:
                self.calibrated(*calibrate())
            except Exception:  # the words never count; the silence rule and the voice do
                log.warning("calibrating the end of turn failed", exc_info=True)
                return
            on_done()

        thread = threading.Thread(target=run, name="voicechat-calibrate", daemon=True)
        thread.start()
        return thread

    @property
    def signals(self) -> str:
        """What it listens to: "words + sound", "words" or "sound"."""
        names = [n for n, s in (("words", self._words), ("sound", self._sound)) if s]
        return " + ".join(names)

    @property
    def hears_voice(self) -> bool:
        """It listens to the voice (which needs no transcript: `voice_of`)."""
        return self._sound is not None

    def voice_of(self, clip: AudioClip) -> tuple[float, float]:
        """The voice's probability that `clip` ends a finished turn (with `hears_voice`), and
        what scoring it cost in ms."""
        assert self._sound is not None
        start = time.perf_counter()
        return self._sound(clip), (time.perf_counter() - start) * 1000

    def __call__(
        self,
        text: str,
        clip: AudioClip,
        logprob: float | None = None,
        voice: concurrent.futures.Future[tuple[float, float]] | None = None,
    ) -> Verdict:
        """Whether `text` (the transcript of `clip`, the take so far) is a finished turn.

        logprob: how sure speech-to-text was of `text` (`asr.longform.Heard.logprob`); below
        UNSURE_LOGPROB a judge that listens to the words is not sure (unless the last word
        dangles), and neither signal is scored.
        voice: `voice_of(clip)` already under way (begun with the transcription, which it
        does not need), instead of scoring the voice after the words.
        """
        start = time.perf_counter()
        words = sound = None
        ends_dangling = dangling(text)
        unsure = self._words is not None and logprob is not None and logprob < UNSURE_LOGPROB
        pending = self._words is not None and not self._words_ready.is_set()
        if self._words is not None and not unsure and not pending:
            words = 0.0 if ends_dangling else self._words(text)
        scored = time.perf_counter()
        sound_ms = 0.0
        if self._sound is not None and not unsure:
            sound, sound_ms = (voice if voice is not None else _now(self.voice_of, clip)).result()
        said = [
            self._says(words) if words is not None else None,
            sound >= SOUND_THRESHOLD if sound is not None else None,
        ]
        heard = [s for s in said if s is not None]
        scored_signals = sum(s is not None for s in (words, sound))
        complete: bool | None = None
        if ends_dangling:
            complete = False
        elif unsure:
            complete = None
        elif len(heard) == scored_signals and all(heard) and not pending:
            complete = True
        elif len(heard) == 2 and not any(heard):
            complete = False
        # The voice is the sureness that counts where it is heard: real people's finished
        # requests score 0.91-0.99 on it, where a small model's words for a whole request
        # spread over two orders of magnitude (a read sentence scores below most requests).
        if sound is not None:
            doubt = _doubt(sound, SOUND_THRESHOLD, SOUND_SURE)
        elif words is not None:
            doubt = _doubt(words, self.words_finished, self.words_sure)
        else:
            doubt = 1.0
        return Verdict(
            complete,
            words,
            sound,
            (scored - start) * 1000,
            sound_ms,
            ends_dangling,
            unsure,
            doubt,
        )

    def _says(self, words: float) -> bool | None:
        """What a words score says: finished (True), unfinished (False) or neither (None)."""
        if words >= self.words_finished:
            return True
        return False if words < self.words_threshold else None


def check_turn_model(audio: AudioConfig) -> None:
    """Fail at once on an `audio.turn_model` that does not exist, before models load."""
    if audio.end_of_turn == "smart" and audio.turn_model:
        from voicechat.audio.smart_turn import find_model

        find_model(audio.turn_model)


def make_judge(
    audio: AudioConfig, chat: object, on_notice: Callable[[str], None], background: bool = False
) -> TurnJudge | None:
    """The judge `audio.end_of_turn` asks for, from the loaded chat model and Smart Turn's
    model where found; None for the silence rule (or, with a notice, when no signal is
    available).

    A model met for the first time is calibrated first (`turn_calibration`: a few hundred
    short texts scored, seconds on a GPU, minutes for a 4 B model on a CPU); `background`
    does that on a thread of its own, the words not counting until it is done.
    """
    if audio.end_of_turn != "smart":
        return None
    from voicechat.audio.smart_turn import SmartTurn, find_model
    from voicechat.turn_calibration import cached, calibration_for

    words = None
    threshold = finished = sure = WORDS_THRESHOLD
    later: Callable[[], tuple[float, float, float]] | None = None
    if isinstance(chat, ScoresMessageEnds):
        words = chat.end_probability
        name = str(getattr(chat, "model_name", ""))
        kept = cached(name)
        if kept is None and background:
            scorer = chat.end_probabilities

            def calibrate() -> tuple[float, float, float]:
                made = calibration_for(name, scorer, on_notice)
                return made.threshold, made.finished_from, made.sure_from

            later = calibrate
        else:
            calibration = kept or calibration_for(name, chat.end_probabilities, on_notice)
            threshold, finished = calibration.threshold, calibration.finished_from
            sure = calibration.sure_from
    path = find_model(audio.turn_model)
    sound = SmartTurn(path) if path is not None else None
    if sound is None:
        on_notice(
            "the smart end of turn listens to the words alone: Smart Turn v3 is not here "
            "and could not be fetched from the Hugging Face Hub; for the voice too, connect "
            "once or set audio.turn_model to its ONNX file"
        )
    if words is None and sound is None:
        on_notice(
            "the smart end of turn has no signal here (the language model cannot score "
            "words); takes end after audio.silence_ms of silence"
        )
        return None
    judge = TurnJudge(words, sound, threshold, finished, sure)
    if later is not None:
        judge.calibrate_later(later, lambda: on_notice("the end of turn now hears the words too"))
    return judge
