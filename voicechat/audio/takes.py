"""Recording one take: from the start of listening to a key, a pause after speech, or the limit.

A take counts as speech only when the voice-activity model heard some, so a take of silence or
noise is dropped instead of being sent to the model as an invented turn. Where a take ends is
decided by `audio.endpoint`, the one end-of-take rule.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from voicechat.audio.endpoint import PAUSE_MS, SpeechTracker
from voicechat.audio.signal import VAD_FRAME_MS
from voicechat.audio.vad import StreamingVad
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Continuation, Ended, MicBlock, Take

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

UNFINISHED_WAIT = 2.5
"""With the smart end of turn, a pause judged unfinished ends the take only after this many
times audio.silence_ms of silence: the person is waited for, not cut off."""
DOUBT_WAIT_MS = 600.0
"""A take judged finished at a pause ends once the pause has lasted PAUSE_MS and up to this
much more (never past audio.silence_ms), in proportion to the verdict's doubt."""
START_FRAMES = 3
"""Voice-activity frames of speech in a row (32 ms each) that start a hands-free take."""
OVER_REPLY_START_FRAMES = 8
"""The same while a reply plays, counted among the latest RECENT_FRAMES (about 250 ms of
380): what survives the echo canceller must last as long as a word before it counts as
someone talking over the reply, and the canceller, while both talk, lets a person through
in pieces."""
TALKED_OVER_START_FRAMES = 3
"""The same where the echo canceller finds someone talking over the reply (`echo.talk_over`):
AEC3, which voice activity judges, removes much of a person with the echo while both talk,
and lets through as few as 3 frames of a whole question (traced through the terminal, piper
over piper: with 4 it was never taken). The frames traced in 73 such runs replayed: 3 started
that take, started 36 others 32 ms sooner and 3 others 0.5-1.3 s sooner (heard as before, or
better), and started none on the 26 replies alone in which the canceller had at times found
someone."""


class Start(Enum):
    """What starts a hands-free take that waits for speech."""

    SPEECH = "speech"
    """START_FRAMES of speech in a row."""
    OVER_REPLY = "over reply"
    """OVER_REPLY_START_FRAMES of the latest RECENT_FRAMES, or TALKED_OVER_START_FRAMES where
    the echo canceller finds someone talking over the reply; none heard while it settles."""


PRE_ROLL_S = 0.5
"""Seconds kept from before the speech that starts a hands-free take, so the first syllable
survives."""
SPEECH_GAP_S = 0.4
"""Silence (s) that separates the speech that started a hands-free take from what came
before it: the take keeps from PRE_ROLL_S before the first speech after such a gap. Over a
reply, a block counts as speech where voice activity heard some or the echo canceller finds
someone talking over the reply (`echo.talk_over`): AEC3 hid more than this of a question's
middle from voice activity, and a take that began after it kept only "of France" (traced
through the terminal, tests/test_talk_over.py)."""
LOOK_BACK_S = 2.5
"""Seconds of audio a hands-free take waiting for speech keeps: over a reply the canceller
lets a person through in pieces, and taking that for speech has taken up to 2.5 s (p90,
benchmarks/echo.py), so the words said in that time must still be there."""


class AudioSource(Protocol):
    """Where takes are recorded from: the microphone, or a recording replayed as one."""

    level_db: float

    def start(self) -> None:
        """Open the stream (once)."""
        ...

    def drain(self) -> None:
        """Drop what was heard while not listening."""
        ...

    def read(self, timeout: float = 0.2) -> MicBlock | None:
        """The next 16 kHz block, or None if none arrived in `timeout` seconds."""
        ...

    def close(self) -> None:
        """Close the stream."""
        ...


def since_speech_began(
    heard: list[tuple[npt.NDArray[np.float32], bool]],
) -> list[npt.NDArray[np.float32]]:
    """The blocks of `heard` (each with whether someone spoke in it, oldest first) from
    PRE_ROLL_S before the first speech that no SPEECH_GAP_S of silence separates from the
    latest."""
    first, gap = len(heard), 0.0
    for i in range(len(heard) - 1, -1, -1):
        block, voiced = heard[i]
        if voiced:
            first, gap = i, 0.0
        else:
            gap += len(block) / WHISPER_SAMPLE_RATE
            if gap >= SPEECH_GAP_S:
                break
    kept = 0.0
    while first > 0 and kept < PRE_ROLL_S:
        first -= 1
        kept += len(heard[first][0]) / WHISPER_SAMPLE_RATE
    return [block for block, _ in heard[first:]]


def _offer_pause(
    blocks: list[npt.NDArray[np.float32]], on_pause: Callable[[AudioClip], None]
) -> int:
    """Hand the take so far (`blocks`) to `on_pause`; its length in samples."""
    import numpy as np

    samples = np.concatenate(blocks)
    on_pause(AudioClip(samples, WHISPER_SAMPLE_RATE))
    return len(samples)


class _SpeechWait:
    """What a take waiting for speech keeps until speech starts it: the latest LOOK_BACK_S,
    and while a continuation is open (`Continuation`), all heard since that take ended."""

    def __init__(self, continues: Continuation | None) -> None:

        self.continues = continues
        self._recent: collections.deque[tuple[np.ndarray, bool]] = collections.deque(
            maxlen=int(LOOK_BACK_S * 1000 / VAD_FRAME_MS) + 1
        )
        self._since_end: list[np.ndarray] = []
        self._deaf_s = 0.0

    def closes(self, speech: SpeechTracker, heard: MicBlock | None) -> bool:
        """Whether the continuation closed just now (speech starting from here on no longer
        continues the take). A block `heard` while the echo canceller settles could not be
        told from the speaker's echo (`MicBlock.settling`): the window stays open that much
        longer."""
        if self.continues is None:
            return False
        if heard is not None and heard.settling:
            self._deaf_s += len(heard.kept) / WHISPER_SAMPLE_RATE
        began = time.monotonic() - speech.run * VAD_FRAME_MS / 1000 - self._deaf_s
        if self.continues.open(began):
            return False
        log.debug("the take that ended can no longer be continued")
        self.continues, self._since_end = None, []
        return True

    def keep(self, block: npt.NDArray[np.float32], speech: bool) -> None:
        """A block heard (`speech`: someone spoke in it)."""
        self._recent.append((block, speech))
        if self.continues is not None:
            self._since_end.append(block)

    def take_blocks(self) -> list[npt.NDArray[np.float32]]:
        """Speech has started: the take's blocks so far (the continued take's, then all heard
        since it ended; else from PRE_ROLL_S before the speech: `since_speech_began`)."""
        if self.continues is not None:
            log.debug("speech goes on with the take that ended")
            return [self.continues.take.clip.samples, *self._since_end]
        return since_speech_began(list(self._recent))


class TakeRecorder:
    """Records takes from `mic`, ending them by voice activity too (`audio.endpoint`'s rule).

    silence_ms: silence after speech that ends a take. max_record_s: the longest take.
    """

    def __init__(
        self, mic: AudioSource, vad: StreamingVad, silence_ms: int, max_record_s: float
    ) -> None:
        self.mic = mic
        self.vad = vad
        self.silence_ms = silence_ms
        self.max_record_s = max_record_s
        self.started_at = 0.0
        """time.monotonic() when the current take started listening."""
        self.resumed = False
        """The take under way continues the one before (`Continuation`): set before
        `on_speech_start` is called."""
        self._verdict: tuple[int, bool | None, float] | None = None

    def judged(self, paused_at: int, finished: bool | None, doubt: float = 0.0) -> None:
        """Any thread: the smart end of turn's verdict on the pause `paused_at` samples into
        the take. Finished (True) ends the take once the pause has lasted PAUSE_MS and
        `doubt` (0-1) times DOUBT_WAIT_MS more (unless the speaker has gone on since): the less
        sure the verdict, the longer the wait, never longer than the silence rule.
        Unfinished (False) makes the silence that ends it UNFINISHED_WAIT times
        as long; not sure (None) leaves it to the silence rule."""
        self._verdict = (paused_at, finished, min(1.0, max(0.0, doubt)))

    @staticmethod
    def _speech_starts(speech: SpeechTracker, start: Start, heard: MicBlock) -> bool:
        """Whether a take waiting for speech starts now, by the rule `start` (`heard`: the
        latest block, with what the echo canceller found in it)."""
        if start is Start.SPEECH:
            return speech.run >= START_FRAMES
        if heard.settling:
            speech.recent.clear()
        voiced = sum(speech.recent)
        return voiced >= OVER_REPLY_START_FRAMES or (
            voiced >= TALKED_OVER_START_FRAMES and heard.talked_over
        )

    def _verdict_at(self, paused_at: int | None) -> tuple[bool | None, float]:
        """The verdict on the pause at `paused_at` and its doubt; (None, 0) where none."""
        verdict = self._verdict
        if verdict is None or verdict[0] != paused_at:
            return None, 0.0
        return verdict[1], verdict[2]

    def _ends_by(self, speech: SpeechTracker, paused_at: int | None, samples: int) -> Ended | None:
        """What ends a started take of `samples` now (smart, silence, the limit), if
        anything: the smart end of turn's verdict is judged from the first silent frames and
        acted on once the pause is one, after a wait that grows with its doubt."""
        finished, doubt = self._verdict_at(paused_at) if speech.paused else (None, 0.0)
        longest = max(0.0, min(DOUBT_WAIT_MS, self.silence_ms - PAUSE_MS))
        if finished is True and speech.silence_ms >= PAUSE_MS + doubt * longest:
            return Ended.SMART
        if speech.ended(self.silence_ms * (UNFINISHED_WAIT if finished is False else 1)):
            return Ended.SILENCE
        if samples >= self.max_record_s * WHISPER_SAMPLE_RATE:
            return Ended.LIMIT
        return None

    def record(
        self,
        stop: threading.Event,
        discard: threading.Event,
        wait_for_speech: bool = False,
        on_speech_start: Callable[[], None] | None = None,
        on_pause: Callable[[AudioClip], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        start: Start = Start.SPEECH,
        continues: Continuation | None = None,
    ) -> Take:
        """Record until `stop` (send), `discard`, silence after speech, or the limit.

        wait_for_speech: hands-free; the take begins when speech does (`on_speech_start`).
        on_pause: called with the take so far after SPECULATE_MS of silence after speech
        (its verdict counts from PAUSE_MS on).
        on_resume: called when speech follows such a pause (what `on_pause` got is stale).
        start: what starts a take that waits for speech (it keeps from PRE_ROLL_S before the
        speech that started it: `since_speech_began`).
        continues: a take that ended at a pause just now. This one waits for speech, keeping
        what was heard since (no drain); speech while the continuation is open goes on with
        it (`on_speech_start` is called, the take holds both, `resumed` is set). Once it has
        closed, a hands-free take waits on as one of its own; any other ends "expired"."""
        import numpy as np

        self.mic.start()
        if continues is None:
            self.mic.drain()
        self.vad.reset()
        self._verdict = None
        self.started_at = time.monotonic()
        self.resumed = False
        waiting = _SpeechWait(continues) if wait_for_speech or continues is not None else None
        blocks: list[np.ndarray] = []
        speech = SpeechTracker()
        paused_at: int | None = None
        resumed = False
        ended_by = Ended.KEY
        while not stop.is_set():
            if discard.is_set():
                ended_by = Ended.DISCARDED
                break
            heard = self.mic.read(timeout=0.1)
            closes = waiting is not None and waiting.closes(speech, heard)
            if closes and not wait_for_speech:
                ended_by = Ended.EXPIRED
                break
            if heard is None:
                continue
            voiced = speech.update(self.vad.feed(heard.judged))
            if voiced and paused_at is not None:
                paused_at = None  # the speaker went on: an early transcript is stale
                if on_resume is not None:
                    on_resume()
            if waiting is not None:
                if self._starts(waiting, heard, voiced, speech, start):
                    resumed = self.resumed = waiting.continues is not None
                    blocks.extend(waiting.take_blocks())
                    waiting = None
                    self.started_at = time.monotonic()
                    if on_speech_start is not None:
                        on_speech_start()
                continue
            blocks.append(heard.kept)
            if speech.pausing and paused_at is None and on_pause:
                paused_at = _offer_pause(blocks, on_pause)
            ends = self._ends_by(speech, paused_at, sum(len(b) for b in blocks))
            if ends is not None:
                ended_by = ends
                break
        samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        return Take(
            AudioClip(samples.astype(np.float32), WHISPER_SAMPLE_RATE),
            had_speech=waiting is None and (speech.heard or resumed),
            ended_by=ended_by,
            paused_at=paused_at,
            ended_at=time.monotonic(),
            resumed=resumed,
        )

    def _starts(
        self,
        waiting: _SpeechWait,
        heard: MicBlock,
        voiced: bool,
        speech: SpeechTracker,
        start: Start,
    ) -> bool:
        """Keep a block heard while waiting for speech; whether the take starts now.

        Over a reply AEC3 hides much of a person from voice activity, the linear canceller
        not: where it finds someone talking, the take's start is looked for there too."""
        waiting.keep(heard.kept, voiced or heard.talked_over)
        return self._speech_starts(speech, start, heard)
