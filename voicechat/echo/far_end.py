"""What the speaker played, for the echo cancellers (`echo.canceller`): the speaker's clips as
10 ms frames at 16 kHz, each stamped with when it played (`FarEnd`), and those frames laid
out in time to be read back over any microphone frame's span (`PlayedTimeline`)."""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING

from voicechat.audio.signal import ECHO_FRAME_S, ECHO_FRAME_SAMPLES, to_pcm16
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

STOP_TAIL_S = 0.02
"""Seconds of what was handed to the speaker that still comes out after it is stopped: what
the mixer had already mixed (one buffer, 512 samples at 24 kHz). The device's and the sound
server's buffers are not added: a clip is stamped when it is handed over, so they are part of
the echo's delay. Measured through PulseAudio, the echo ended 10-20 ms before the stop plus
that delay. With 0.3 s here the linear canceller went on subtracting the echo of 0.3 s of
reply that never played, and put it into the take at -15 to -24 dBFS, over the first words
of the person who had stopped the reply ("capital of the grant" for "capital of France")."""
CONTIGUOUS_S = 0.002
"""A clip that starts within this many seconds of where the one before it ends continues
its stream. Padding each clip to whole frames instead put up to 10 ms of silence at every
join, and the canceller, finding the delay moved each time, removed 15-32 dB of echo
offline instead of 43-45 (benchmarks/echo.py)."""
KEEP_S = 2.0
"""Far-end audio older than this (s) when the microphone reads is dropped unread."""
MAX_FRAMES = 6000
"""Far-end frames held at most (60 s): the oldest go first while nobody reads."""
MAX_GAP_SAMPLES = WHISPER_SAMPLE_RATE
"""A frame that plays within this many samples (1 s) after the timeline's end continues it,
silence between; a later one starts it anew."""


class FarEnd:
    """What the speaker played, as 10 ms frames at 16 kHz stamped with when each played.

    Clips played one straight after another are one stream: a clip's last partial frame waits
    for the next clip's first samples (CONTIGUOUS_S), so the frames keep the spacing the sound
    had. Safe to feed from the playing thread while the microphone's thread reads.
    """

    def __init__(self) -> None:
        self._frames: collections.deque[tuple[float, npt.NDArray[np.int16]]] = collections.deque()
        self._rest: tuple[float, npt.NDArray[np.int16]] | None = None
        """The stream's last partial frame: when its first sample plays, and its samples."""
        self._lock = threading.Lock()
        self.started_at = float("-inf")
        """time.monotonic() when the speaker last started from silence."""

    def played(self, clip: AudioClip, at: float) -> None:
        """`clip` began to play at `at` (time.monotonic())."""
        import numpy as np
        import soxr

        samples = clip.samples
        if clip.sample_rate != WHISPER_SAMPLE_RATE:
            samples = soxr.resample(samples, clip.sample_rate, WHISPER_SAMPLE_RATE)
        pcm = to_pcm16(samples)
        with self._lock:
            rest, self._rest = self._rest, None
            continues = False
            if rest is not None:
                continues = abs(at - (rest[0] + len(rest[1]) / WHISPER_SAMPLE_RATE)) <= (
                    CONTIGUOUS_S
                )
                if continues:
                    at, pcm = rest[0], np.concatenate([rest[1], pcm])
                else:
                    self._add(rest[0], _whole_frames(rest[1]))
            if not continues and (
                not self._frames or self._frames[-1][0] + ECHO_FRAME_S < at - ECHO_FRAME_S
            ):
                self.started_at = at  # from silence: the delay is found anew
            whole = len(pcm) // ECHO_FRAME_SAMPLES * ECHO_FRAME_SAMPLES
            self._add(at, pcm[:whole])
            if whole < len(pcm):
                self._rest = (at + whole / WHISPER_SAMPLE_RATE, pcm[whole:])

    def _add(self, at: float, pcm: npt.NDArray[np.int16]) -> None:
        """Queue `pcm` (whole frames) as playing from `at`; the oldest go past MAX_FRAMES."""
        frames = pcm.reshape(-1, ECHO_FRAME_SAMPLES)
        while self._frames and len(self._frames) + len(frames) > MAX_FRAMES:
            self._frames.popleft()
        self._frames.extend((at + i * ECHO_FRAME_S, frame) for i, frame in enumerate(frames))

    @property
    def idle(self) -> bool:
        """Nothing is queued to play (all that was handed out, or cut off by `stopped`)."""
        with self._lock:
            return not self._frames and self._rest is None

    def stopped(self, at: float) -> None:
        """Playback was cut off at `at`: what was due after it (and its buffered tail,
        STOP_TAIL_S) never played."""
        with self._lock:
            while self._frames and self._frames[-1][0] >= at + STOP_TAIL_S:
                self._frames.pop()
            if self._rest is not None and self._rest[0] >= at + STOP_TAIL_S:
                self._rest = None

    def due(self, by: float) -> list[tuple[float, npt.NDArray[np.int16]]]:
        """The frames that had played by `by` (time.monotonic()), oldest first, each with
        when it played, taken out; frames over KEEP_S older than `by` are dropped. Nothing is
        handed out while nothing plays: measured through PulseAudio, filling those gaps with
        silent frames made the canceller remove 20-40 dB less."""
        taken = []
        with self._lock:
            if self._rest is not None and self._rest[0] <= by:  # nothing followed it in time
                self._add(self._rest[0], _whole_frames(self._rest[1]))
                self._rest = None
            while self._frames and self._frames[0][0] <= by:
                at, frame = self._frames.popleft()
                if at >= by - KEEP_S:
                    taken.append((at, frame))
        return taken


class PlayedTimeline:
    """The speaker's samples laid out in time, from the frames `FarEnd` hands out, to be read
    back over any microphone frame's span (the linear canceller needs what played over the
    very samples it cleans; AEC3 finds the alignment itself)."""

    def __init__(self, keep_s: float = 0.0) -> None:
        import numpy as np

        self.keep_s = keep_s
        """Seconds of what played before a span read that are kept to be read again."""
        self._pcm = np.zeros(0, dtype=np.int16)
        self._start = 0.0
        """time.monotonic() of `_pcm`'s first sample."""

    def add(self, at: float, frame: npt.NDArray[np.int16]) -> None:
        """`frame` played from `at` (time.monotonic())."""
        import numpy as np

        offset = round((at - self._start) * WHISPER_SAMPLE_RATE)
        if not len(self._pcm) or not 0 <= offset <= len(self._pcm) + MAX_GAP_SAMPLES:
            self._pcm, self._start = frame.copy(), at
            return
        gap = np.zeros(max(0, offset - len(self._pcm)), dtype=np.int16)
        self._pcm = np.concatenate([self._pcm[:offset], gap, frame])

    def over(self, at: float, samples: int) -> npt.NDArray[np.int16]:
        """What played over `samples` samples from `at` (silence where nothing did); what
        played over keep_s before `at` is forgotten."""
        import numpy as np

        out = np.zeros(samples, dtype=np.int16)
        offset = round((at - self._start) * WHISPER_SAMPLE_RATE)
        first, last = max(0, offset), min(len(self._pcm), offset + samples)
        if first < last:
            out[first - offset : last - offset] = self._pcm[first:last]
        forget = offset - round(self.keep_s * WHISPER_SAMPLE_RATE)
        if forget > 0:
            self._pcm = self._pcm[forget:]
            self._start += forget / WHISPER_SAMPLE_RATE
        return out


def _whole_frames(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """`pcm` with silence after it up to a whole number of frames."""
    import numpy as np

    padded = np.zeros(-(-len(pcm) // ECHO_FRAME_SAMPLES) * ECHO_FRAME_SAMPLES, dtype=np.int16)
    padded[: len(pcm)] = pcm
    return padded
