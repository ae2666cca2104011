"""The one rule for where a take ends: speech heard, then enough silence after it.

Voice activity arrives as one probability per 32 ms frame. A take counts as speech only after
MIN_SPEECH_FRAMES speech frames (a click is not a word); after that, PAUSE_MS of silence is a
pause (the take so far may be transcribed early) and `silence_ms` of silence ends the take.
`TakeRecorder` applies it to the microphone, bench to a recorded question, and both get the
same answer from the same frames.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from voicechat.audio.signal import VAD_FRAME_MS

SPEECH_THRESHOLD = 0.5
"""Frame probability at or above which a frame is speech."""
MIN_SPEECH_FRAMES = 4
"""Speech frames a take needs before it counts as speech."""
PAUSE_MS = 200
"""Silence after speech (ms) that makes a pause: the smart end of turn's verdict on it takes
effect from here (the take may end at it)."""
SPECULATE_MS = 96
"""Silence after speech (ms) at which the take so far is offered for transcription early
(and, with the smart end of turn, judged), so that the verdict is ready when the pause is
(it acts only from PAUSE_MS on). A take that ends at that pause is answered with this
transcript: on 236 takes (piper, piper slow, piper in noise, espeak-ng, real recordings)
tiny.en heard the take cut at 96 ms of silence as well as at 224 ms (word error rate 0.072
and 0.071, the differences all in noise), so no word's tail is lost by it."""
RECENT_FRAMES = 12
"""Frames `SpeechTracker.recent` keeps (about 380 ms)."""


class SpeechTracker:
    """Counts speech and silence frames in one take, from voice-activity probabilities."""

    def __init__(self) -> None:
        self.frames = 0
        """Speech frames so far."""
        self.run = 0
        """Speech frames in a row, up to the latest frame."""
        self.silent_frames = 0
        """Silent frames since the last speech frame (or the start)."""
        self.seen = 0
        """Frames seen so far."""
        self.last_speech_frame: int | None = None
        """Index of the latest speech frame, None before any."""
        self.recent: collections.deque[bool] = collections.deque(maxlen=RECENT_FRAMES)
        """Whether each of the latest RECENT_FRAMES frames was speech."""

    def update(self, probabilities: Iterable[float]) -> bool:
        """Count new frames; True if any of them was speech."""
        any_speech = False
        for p in probabilities:
            self.recent.append(p >= SPEECH_THRESHOLD)
            if p >= SPEECH_THRESHOLD:
                self.frames += 1
                self.run += 1
                self.silent_frames = 0
                self.last_speech_frame = self.seen
                any_speech = True
            else:
                self.run = 0
                self.silent_frames += 1
            self.seen += 1
        return any_speech

    @property
    def heard(self) -> bool:
        """Enough speech for the take to count."""
        return self.frames >= MIN_SPEECH_FRAMES

    @property
    def silence_ms(self) -> float:
        """Milliseconds of silence since the last speech frame."""
        return self.silent_frames * VAD_FRAME_MS

    @property
    def paused(self) -> bool:
        """Speech was heard and PAUSE_MS of silence has followed it."""
        return self.heard and self.silence_ms >= PAUSE_MS

    @property
    def pausing(self) -> bool:
        """Speech was heard and SPECULATE_MS of silence has followed it (maybe a pause)."""
        return self.heard and self.silence_ms >= SPECULATE_MS

    def ended(self, silence_ms: float) -> bool:
        """Speech was heard and `silence_ms` of silence has followed it: the take is over."""
        return self.heard and self.silence_ms >= silence_ms


def end_of_take_frame(probabilities: Iterable[float], silence_ms: float) -> tuple[int, int] | None:
    """Where the rule ends a take over these frames: (the last speech frame, the frame at
    which the take ends), or None when it never ends (too little speech or silence)."""
    tracker = SpeechTracker()
    for i, p in enumerate(probabilities):
        tracker.update((p,))
        if tracker.ended(silence_ms) and tracker.last_speech_frame is not None:
            return tracker.last_speech_frame, i
    return None
