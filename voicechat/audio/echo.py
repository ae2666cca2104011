"""Cleaning the microphone: WebRTC's echo canceller (AEC3), noise suppression and high-pass
filter, through livekit's AudioProcessingModule (`voicechat[duplex]`).

    speaker ──played(clip, at)──> FarEnd: 10 ms frames at 16 kHz, each with when it played
    microphone block (captured at) ──> MicFilter.process: for each 10 ms frame, first every
        far-end frame that had played by the time it was captured (process_reverse_stream),
        then the frame itself (process_stream) ──> echo cancelled ──> voice activity
                                                                     └──> the take, while
                                                                the speaker may be heard
        the frame through a second module (noise suppression only) ──> the take, after

While both talk, AEC3's suppressor removes the person with the echo (measured through
PulseAudio with the echo as loud as the voice: the person's first half second came out at
-73 dB, the suppressor's floor). Speech-to-text still does better with the cancelled audio
while the reply plays (from the reply's own level up, the raw microphone makes it write the
reply's words for the person's), and with the noise-suppressed microphone once the reply has
stopped (benchmarks/echo.py); so a take keeps the one, then the other (`MicBlock.kept`), and
voice activity always judges the cancelled audio.

The canceller learns the echo path from what was played and when, so the speaker's own
frames reach it in the order they reached the room, interleaved with the microphone's; the
delay the devices add on top is found by AEC3 itself (DELAY_HINT_MS is its starting point).
"""

from __future__ import annotations

import collections
import importlib.util
import threading
from typing import TYPE_CHECKING, Any

from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, MicBlock

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FRAME_SAMPLES = WHISPER_SAMPLE_RATE // 100
"""Samples in one 10 ms frame at 16 kHz, the only frame length the module takes."""
FRAME_S = FRAME_SAMPLES / WHISPER_SAMPLE_RATE
DELAY_HINT_MS = 40
"""Output plus input latency the canceller starts from, ms (it estimates the rest)."""
STOP_TAIL_S = 0.3
"""Seconds of what was handed to the speaker that still comes out after it is stopped (the
device's and the sound server's buffers): that tail still reaches the microphone."""
SETTLE_S = 1.2
"""Seconds after the speaker starts from silence in which the canceller is still finding the
delay (it moves by tens of ms from one start to the next: 65-107 ms measured through
PulseAudio), so what it lets through then is not taken for a person (`MicFilter.settling`)."""
ECHO_S = 0.15
"""Seconds after a far-end frame plays in which its echo may still reach the microphone (the
device's latency, 65-107 ms measured through PulseAudio, and the room's reflections): a take
keeps the echo-cancelled audio until then, the noise-suppressed microphone after."""
CONTIGUOUS_S = 0.002
"""A clip that starts within this many seconds of where the one before it ends continues
its stream. Padding each clip to whole frames instead put up to 10 ms of silence at every
join, and the canceller, finding the delay moved each time, removed 15-32 dB of echo
offline instead of 43-45 (benchmarks/echo.py)."""
KEEP_S = 2.0
"""Far-end audio older than this (s) when the microphone reads is dropped unread."""
MAX_FRAMES = 6000
"""Far-end frames held at most (60 s): the oldest go first while nobody reads."""


def available() -> bool:
    """Whether livekit (the `duplex` extra) is installed."""
    return importlib.util.find_spec("livekit") is not None


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
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
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
            if not continues and (not self._frames or self._frames[-1][0] + FRAME_S < at - FRAME_S):
                self.started_at = at  # from silence: the delay is found anew
            whole = len(pcm) // FRAME_SAMPLES * FRAME_SAMPLES
            self._add(at, pcm[:whole])
            if whole < len(pcm):
                self._rest = (at + whole / WHISPER_SAMPLE_RATE, pcm[whole:])

    def _add(self, at: float, pcm: npt.NDArray[np.int16]) -> None:
        """Queue `pcm` (whole frames) as playing from `at`; the oldest go past MAX_FRAMES."""
        frames = pcm.reshape(-1, FRAME_SAMPLES)
        while self._frames and len(self._frames) + len(frames) > MAX_FRAMES:
            self._frames.popleft()
        self._frames.extend((at + i * FRAME_S, frame) for i, frame in enumerate(frames))

    def stopped(self, at: float) -> None:
        """Playback was cut off at `at`: what was due after it (and its buffered tail,
        STOP_TAIL_S) never played."""
        with self._lock:
            while self._frames and self._frames[-1][0] >= at + STOP_TAIL_S:
                self._frames.pop()
            if self._rest is not None and self._rest[0] >= at + STOP_TAIL_S:
                self._rest = None

    def due(self, by: float) -> list[npt.NDArray[np.int16]]:
        """The frames that had played by `by` (time.monotonic()), oldest first, taken out;
        frames over KEEP_S older than `by` are dropped. Nothing is handed out while nothing
        plays: measured through PulseAudio, filling those gaps with silent frames made the
        canceller remove 20-40 dB less."""
        taken = []
        with self._lock:
            if self._rest is not None and self._rest[0] <= by:  # nothing followed it in time
                self._add(self._rest[0], _whole_frames(self._rest[1]))
                self._rest = None
            while self._frames and self._frames[0][0] <= by:
                at, frame = self._frames.popleft()
                if at >= by - KEEP_S:
                    taken.append(frame)
        return taken


def _whole_frames(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """`pcm` with silence after it up to a whole number of frames."""
    import numpy as np

    padded = np.zeros(-(-len(pcm) // FRAME_SAMPLES) * FRAME_SAMPLES, dtype=np.int16)
    padded[: len(pcm)] = pcm
    return padded


class MicFilter:
    """Cleans 16 kHz microphone audio in 10 ms frames.

    echo_cancel: remove what `far_end` played (no effect while nothing plays) from what
        voice activity judges (`MicBlock.judged`), and from what a take keeps while that
        sound may be in it.
    noise_suppression: suppress steady noise and filter out rumble below ~80 Hz, in both
        views of the block.
    """

    def __init__(
        self, echo_cancel: bool, noise_suppression: bool, far_end: FarEnd | None = None
    ) -> None:
        import numpy as np
        from livekit import rtc

        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=echo_cancel,
            noise_suppression=noise_suppression,
            high_pass_filter=noise_suppression,
        )
        self.echo_cancel = echo_cancel and far_end is not None
        self._keep_apm = (
            rtc.AudioProcessingModule(
                noise_suppression=noise_suppression, high_pass_filter=noise_suppression
            )
            if self.echo_cancel and noise_suppression
            else None
        )
        self._far_end = far_end
        self.settling = False
        """The latest block was captured within SETTLE_S of the speaker starting from silence:
        the canceller may still let its echo through."""
        self._rest = np.zeros(0, dtype=np.int16)
        self._echo_until = float("-inf")
        """time.monotonic() until which the speaker's sound may be in what the microphone
        hears (ECHO_S after the latest far-end frame)."""

    def _frame(self, pcm: npt.NDArray[np.int16]) -> Any:
        return self._rtc.AudioFrame(pcm.tobytes(), WHISPER_SAMPLE_RATE, 1, FRAME_SAMPLES)

    def process(self, block: npt.NDArray[np.float32], captured_at: float) -> MicBlock:
        """The cleaned audio of `block` (16 kHz), whose last sample was captured at
        `captured_at` (time.monotonic()). Audio comes out in whole 10 ms frames, so a block
        may come out up to 10 ms later than it went in."""
        import numpy as np

        pcm = np.concatenate([self._rest, (np.clip(block, -1.0, 1.0) * 32767).astype(np.int16)])
        count = len(pcm) // FRAME_SAMPLES
        self._rest = pcm[count * FRAME_SAMPLES :]
        judged = np.empty(count * FRAME_SAMPLES, dtype=np.int16)
        kept = judged.copy() if self.echo_cancel else judged
        first_at = captured_at - len(pcm) / WHISPER_SAMPLE_RATE
        if self.echo_cancel and self._far_end is not None:
            self.settling = captured_at - self._far_end.started_at < SETTLE_S
        for i in range(count):
            at = first_at + i * FRAME_S
            if self.echo_cancel and self._far_end is not None:
                for far in self._far_end.due(at):
                    self._apm.process_reverse_stream(self._frame(far))
                    self._echo_until = at + ECHO_S
                self._apm.set_stream_delay_ms(DELAY_HINT_MS)
            part = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
            judged[part] = self._through(self._apm, pcm[part])
            if kept is not judged:
                echo = at < self._echo_until
                suppressed = self._keep_apm is not None and not echo
                kept[part] = (
                    judged[part] if echo
                    else self._through(self._keep_apm, pcm[part]) if suppressed
                    else pcm[part]
                )  # fmt: skip
                if echo and self._keep_apm is not None:
                    self._through(self._keep_apm, pcm[part])  # its noise estimate goes on
        cleaned = (judged / np.float32(32767)).astype(np.float32)
        if kept is judged:
            return MicBlock.alone(cleaned)
        return MicBlock((kept / np.float32(32767)).astype(np.float32), cleaned)

    def _through(self, apm: Any, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """One 10 ms frame through `apm`."""
        import numpy as np

        frame = self._frame(pcm)
        apm.process_stream(frame)
        return np.frombuffer(frame.data, dtype=np.int16)

    def reset(self) -> None:
        """Forget a partial frame (the audio before it was dropped)."""
        import numpy as np

        self._rest = np.zeros(0, dtype=np.int16)
