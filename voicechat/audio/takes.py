"""Recording one take: from the start of listening to a key, a pause after speech, or the limit.

A take counts as speech only when the voice-activity model heard some, so a take of silence or
noise is dropped instead of being sent to the model as an invented turn. Where a take ends is
decided by `audio.endpoint`, the one end-of-take rule.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from voicechat.audio.endpoint import SpeechTracker
from voicechat.audio.vad import StreamingVad
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, MicBlock

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

UNFINISHED_WAIT = 2.5
"""With the smart end of turn, a pause judged unfinished ends the take only after this many
times audio.silence_ms of silence: the person is waited for, not cut off."""
START_FRAMES = 3
"""Voice-activity frames of speech in a row (32 ms each) that start a hands-free take."""
OVER_REPLY_START_FRAMES = 8
"""The same while a reply plays, counted among the latest RECENT_FRAMES (about 250 ms of
380): what survives the echo canceller must last as long as a word before it counts as
someone talking over the reply, and the canceller, while both talk, lets a person through
in pieces."""
TALKED_OVER_START_FRAMES = 3
"""The same where the echo canceller finds someone talking over the reply (`audio.talk_over`):
AEC3, which voice activity judges, removes much of a person with the echo while both talk,
and lets through as few as 3 frames of a whole question (traced through the terminal, piper
over piper: with 4 it was never taken). The frames traced in 73 such runs replayed: 3 started
that take, started 36 others 32 ms sooner and 3 others 0.5-1.3 s sooner (heard as before, or
better), and started none on the 26 replies alone in which the canceller had at times found
someone."""
PRE_ROLL_S = 0.5
"""Seconds kept from before the speech that starts a hands-free take, so the first syllable
survives."""
SPEECH_GAP_S = 0.4
"""Silence (s) that separates the speech that started a hands-free take from what came
before it: the take keeps from PRE_ROLL_S before the first speech after such a gap. Over a
reply, a block counts as speech where voice activity heard some or the echo canceller finds
someone talking over the reply (`audio.talk_over`): AEC3 hid more than this of a question's
middle from voice activity, and a take that began after it kept only "of France" (traced
through the terminal, tests/test_talk_over.py)."""
LOOK_BACK_S = 2.5
"""Seconds of audio a hands-free take waiting for speech keeps: over a reply the canceller
lets a person through in pieces, and taking that for speech has taken up to 2.5 s (p90,
benchmarks/echo.py), so the words said in that time must still be there."""


@dataclass(frozen=True)
class Take:
    """One recording at 16 kHz. ended_by: "key", "silence", "smart" (a pause judged the end
    of the turn), "limit" or "discarded".

    paused_at: samples offered to `on_pause` when no speech followed them (so a transcript
    of those samples is a transcript of the whole take), else None.
    ended_at: time.monotonic() when the take ended.
    """

    clip: AudioClip
    had_speech: bool
    ended_by: str
    paused_at: int | None = None
    ended_at: float = 0.0


class AudioSource(Protocol):
    """Where takes are recorded from: the microphone, or a recording replayed as one."""

    level_db: float

    @property
    def settling(self) -> bool:
        """What it hears now may be the speaker's echo, not yet cancelled."""
        ...

    @property
    def talked_over(self) -> bool:
        """Someone seems to be talking over the speaker (`audio.talk_over`)."""
        ...

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
        self._verdict: tuple[int, bool | None] | None = None

    def judged(self, paused_at: int, finished: bool | None) -> None:
        """Any thread: the smart end of turn's verdict on the pause `paused_at` samples into
        the take. Finished (True) ends the take there (unless the speaker has gone on since);
        unfinished (False) makes the silence that ends it UNFINISHED_WAIT times as long; not
        sure (None) leaves it to the silence rule."""
        self._verdict = (paused_at, finished)

    def _speech_starts(self, speech: SpeechTracker, start_frames: int) -> bool:
        """Whether a take waiting for speech starts now: `start_frames` speech frames in a row,
        or over a reply that many of the latest (TALKED_OVER_START_FRAMES where the canceller
        finds someone talking over it), none of them heard while the echo canceller settles
        over a reply just begun."""
        if start_frames <= START_FRAMES:
            return speech.run >= start_frames
        if self.mic.settling:
            speech.recent.clear()
        voiced = sum(speech.recent)
        return voiced >= start_frames or (
            voiced >= TALKED_OVER_START_FRAMES and self.mic.talked_over
        )

    def _verdict_at(self, paused_at: int | None) -> bool | None:
        verdict = self._verdict
        return verdict[1] if verdict is not None and verdict[0] == paused_at else None

    def _ends_by(self, speech: SpeechTracker, paused_at: int | None, samples: int) -> str | None:
        """What ends a started take of `samples` now ("smart", "silence", "limit"), if
        anything: the smart end of turn's verdict is judged from the first silent frames and
        acted on once the pause is one."""
        verdict = self._verdict_at(paused_at) if speech.paused else None
        if verdict is True:
            return "smart"
        if speech.ended(self.silence_ms * (UNFINISHED_WAIT if verdict is False else 1)):
            return "silence"
        if samples >= self.max_record_s * WHISPER_SAMPLE_RATE:
            return "limit"
        return None

    def record(
        self,
        stop: threading.Event,
        discard: threading.Event,
        wait_for_speech: bool = False,
        on_speech_start: Callable[[], None] | None = None,
        on_pause: Callable[[AudioClip], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        start_frames: int = START_FRAMES,
    ) -> Take:
        """Record until `stop` (send), `discard`, silence after speech, or the limit.

        wait_for_speech: hands-free; the take begins only when speech does, and then
        `on_speech_start` is called.
        on_pause: called with the take so far after SPECULATE_MS of silence following speech
            (its verdict counts from PAUSE_MS on).
        on_resume: called when speech follows such a pause (what `on_pause` got is stale).
        start_frames: speech frames in a row that start a take that waits for speech (the take
        keeps from PRE_ROLL_S before the speech that started it: `since_speech_began`).
        """
        import numpy as np

        self.mic.start()
        self.mic.drain()
        self.vad.reset()
        self._verdict = None
        self.started_at = time.monotonic()
        heard_before: collections.deque[tuple[np.ndarray, bool]] = collections.deque(
            maxlen=int(LOOK_BACK_S / 0.032) + 1
        )
        blocks: list[np.ndarray] = []
        speech = SpeechTracker()
        paused_at: int | None = None
        started = not wait_for_speech
        ended_by = "key"
        while not stop.is_set():
            if discard.is_set():
                ended_by = "discarded"
                break
            heard = self.mic.read(timeout=0.1)
            if heard is None:
                continue
            voiced = speech.update(self.vad.feed(heard.judged))
            if voiced and paused_at is not None:
                paused_at = None  # the speaker went on: an early transcript is stale
                if on_resume is not None:
                    on_resume()
            if not started:
                # Over a reply AEC3 hides much of a person from voice activity, the linear
                # canceller not: where it finds someone talking, the take's start is looked
                # for there too.
                heard_before.append((heard.kept, voiced or self.mic.talked_over))
                if self._speech_starts(speech, start_frames):
                    started = True
                    blocks.extend(since_speech_began(list(heard_before)))
                    self.started_at = time.monotonic()
                    if on_speech_start is not None:
                        on_speech_start()
                continue
            blocks.append(heard.kept)
            if speech.pausing and paused_at is None and on_pause:
                samples_so_far = np.concatenate(blocks)
                paused_at = len(samples_so_far)
                on_pause(AudioClip(samples_so_far, WHISPER_SAMPLE_RATE))
            ends = self._ends_by(speech, paused_at, sum(len(b) for b in blocks))
            if ends is not None:
                ended_by = ends
                break
        samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        return Take(
            clip=AudioClip(samples.astype(np.float32), WHISPER_SAMPLE_RATE),
            had_speech=started and speech.heard,
            ended_by=ended_by,
            paused_at=paused_at,
            ended_at=time.monotonic(),
        )
