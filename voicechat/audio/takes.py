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
PRE_ROLL_S = 0.5
"""Seconds kept from before speech starts in hands-free mode, so the first syllable survives."""


@dataclass(frozen=True)
class Take:
    """One recording at 16 kHz. ended_by: "key", "silence", "limit" or "discarded"."""

    clip: AudioClip
    had_speech: bool
    ended_by: str


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
    ) -> Take:
        """Record until `stop` (send), `discard`, silence after speech, or the limit.

        wait_for_speech: hands-free; the take begins only when speech does, and then
        `on_speech_start` is called.
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
        speech_frames = run = silent_frames = 0
        started = not wait_for_speech
        frame_ms = 1000 * StreamingVad.frame / WHISPER_SAMPLE_RATE
        ended_by = "key"
        while True:
            if discard.is_set():
                ended_by = "discarded"
                break
            if stop.is_set():
                break
            block = self.mic.read(timeout=0.1)
            if block is None:
                continue
            probabilities = self.vad.feed(block)
            for p in probabilities:
                if p >= SPEECH_THRESHOLD:
                    speech_frames += 1
                    run += 1
                    silent_frames = 0
                else:
                    run = 0
                    silent_frames += 1
            if not started:
                pre_roll.append(block)
                if run >= 3:
                    started = True
                    blocks.extend(pre_roll)
                    self.started_at = time.monotonic()
                    if on_speech_start is not None:
                        on_speech_start()
                continue
            blocks.append(block)
            heard = speech_frames >= MIN_SPEECH_FRAMES
            if heard and silent_frames * frame_ms >= self.silence_ms:
                ended_by = "silence"
                break
            if sum(len(b) for b in blocks) >= self.max_record_s * WHISPER_SAMPLE_RATE:
                ended_by = "limit"
                break
        samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        return Take(
            clip=AudioClip(samples.astype(np.float32), WHISPER_SAMPLE_RATE),
            had_speech=started and speech_frames >= MIN_SPEECH_FRAMES,
            ended_by=ended_by,
        )
