"""Recording one take: from the start of listening to a key, a pause after speech, or the limit.

A take counts as speech only when the voice-activity model heard some, so a take of silence or
noise is dropped instead of being sent to the model as an invented turn.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicechat.audio.capture import Microphone
from voicechat.audio.vad import StreamingVad
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

SPEECH_THRESHOLD = 0.5
"""Frame probability above which a frame is speech."""
MIN_SPEECH_FRAMES = 4
"""Speech frames (32 ms each) a take needs before it counts as speech: a click is not a word."""
PAUSE_MS = 250
"""Silence after speech (ms) at which the take so far is offered for transcription early:
if the speaker does not go on, the transcript is ready when the take ends."""
PRE_ROLL_S = 0.5
"""Seconds kept from before speech starts in hands-free mode, so the first syllable survives."""


@dataclass(frozen=True)
class Take:
    """One recording at 16 kHz. ended_by: "key", "silence", "limit" or "discarded".

    paused_at: samples offered to `on_pause` when no speech followed them (so a transcript
    of those samples is a transcript of the whole take), else None.
    """

    clip: AudioClip
    had_speech: bool
    ended_by: str
    paused_at: int | None = None


class _SpeechTracker:
    """Counts of speech and silence frames in a take, from voice-activity probabilities."""

    def __init__(self) -> None:
        self.frames = 0
        self.run = 0
        self.silent_frames = 0

    def update(self, probabilities: list[float]) -> bool:
        """Count new frames; True if any of them was speech."""
        any_speech = False
        for p in probabilities:
            if p >= SPEECH_THRESHOLD:
                self.frames += 1
                self.run += 1
                self.silent_frames = 0
                any_speech = True
            else:
                self.run = 0
                self.silent_frames += 1
        return any_speech

    @property
    def heard(self) -> bool:
        """Enough speech for the take to count."""
        return self.frames >= MIN_SPEECH_FRAMES

    @property
    def silence_ms(self) -> float:
        """Milliseconds of silence since the last speech frame."""
        return self.silent_frames * 1000 * StreamingVad.frame / WHISPER_SAMPLE_RATE


class TakeRecorder:
    """Records takes from `mic`, ending them by voice activity too.

    silence_ms: silence after speech that ends a take. max_record_s: the longest take.
    """

    def __init__(self, mic: Microphone, vad: StreamingVad, silence_ms: int, max_record_s: float):
        self.mic = mic
        self.vad = vad
        self.silence_ms = silence_ms
        self.max_record_s = max_record_s
        self.started_at = 0.0
        """time.monotonic() when the current take started listening."""

    def record(
        self,
        stop: threading.Event,
        discard: threading.Event,
        wait_for_speech: bool = False,
        on_speech_start: Callable[[], None] | None = None,
        on_pause: Callable[[AudioClip], None] | None = None,
        on_resume: Callable[[], None] | None = None,
    ) -> Take:
        """Record until `stop` (send), `discard`, silence after speech, or the limit.

        wait_for_speech: hands-free; the take begins only when speech does, and then
        `on_speech_start` is called.
        on_pause: called with the take so far after PAUSE_MS of silence following speech.
        on_resume: called when speech follows such a pause (what `on_pause` got is stale).
        """
        import numpy as np

        self.mic.start()
        self.mic.drain()
        self.vad.reset()
        self.started_at = time.monotonic()
        pre_roll: collections.deque[np.ndarray] = collections.deque(
            maxlen=int(PRE_ROLL_S / 0.032) + 1
        )
        blocks: list[np.ndarray] = []
        speech = _SpeechTracker()
        paused_at: int | None = None
        started = not wait_for_speech
        ended_by = "key"
        while not stop.is_set():
            if discard.is_set():
                ended_by = "discarded"
                break
            block = self.mic.read(timeout=0.1)
            if block is None:
                continue
            if speech.update(self.vad.feed(block)) and paused_at is not None:
                paused_at = None  # the speaker went on: an early transcript is stale
                if on_resume is not None:
                    on_resume()
            if not started:
                pre_roll.append(block)
                if speech.run >= 3:
                    started = True
                    blocks.extend(pre_roll)
                    self.started_at = time.monotonic()
                    if on_speech_start is not None:
                        on_speech_start()
                continue
            blocks.append(block)
            if speech.heard and paused_at is None and speech.silence_ms >= PAUSE_MS and on_pause:
                samples_so_far = np.concatenate(blocks)
                paused_at = len(samples_so_far)
                on_pause(AudioClip(samples_so_far, WHISPER_SAMPLE_RATE))
            if speech.heard and speech.silence_ms >= self.silence_ms:
                ended_by = "silence"
                break
            if sum(len(b) for b in blocks) >= self.max_record_s * WHISPER_SAMPLE_RATE:
                ended_by = "limit"
                break
        samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        return Take(
            clip=AudioClip(samples.astype(np.float32), WHISPER_SAMPLE_RATE),
            had_speech=started and speech.heard,
            ended_by=ended_by,
            paused_at=paused_at,
        )
