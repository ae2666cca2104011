"""How much later than `PlayedTimeline` says the speaker's sound reaches the microphone, found
by correlating the two (GCC-PHAT), so the linear canceller (`echo.linear`) is handed
the speaker's samples just before their echo arrives, whatever the devices' latency.

    microphone frames (the last WINDOW_S) ──┐
    what played, WINDOW_S + MAX_DELAY_S ────┴─> phase-weighted cross-correlation every
                                                EVERY_FRAMES frames ──> the peak's delay,
                                                taken once two estimates in a row agree

Measured through PulseAudio (pygame into a virtual speaker looped back into a virtual
microphone), the echo came 74-190 ms after the time its clip was handed to the mixer, and
that delay moved by 7-30 ms at some joins between a reply's clips and by up to 100 ms from one
reply to the next: past the canceller's reach, or a new echo path it must learn again each
time. The canceller needs most of a second of the speaker's sound to learn a path; this
finds the delay in 0.6 s of it.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from voicechat.audio.signal import ECHO_FRAME_S, QUIET_MEAN_SQUARE, mean_square
from voicechat.types import WHISPER_SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from voicechat.echo.far_end import PlayedTimeline

WINDOW_S = 0.5
"""Seconds of the microphone correlated at a time."""
MAX_DELAY_S = 1.0
"""The latest an echo is looked for after its sound played, s (Bluetooth speakers: 0.2-0.3;
a mixer's first sound came 0.85 s late before it was primed)."""
HISTORY_S = WINDOW_S + MAX_DELAY_S + 0.1
"""Seconds of what played that the timeline must keep behind the microphone's latest frame."""
EVERY_FRAMES = 10
"""Frames (10 ms) between estimates."""
LEAD_S = 0.01
"""The canceller is handed the speaker's samples this long before the strongest echo path,
for the parts of a room's response (and a resampler's) that come before it, s."""
AGREE_SAMPLES = 2
"""Two estimates in a row within this many samples are taken as the delay."""
MOVE_SAMPLES = 8
"""Once a delay is found, it moves only to an estimate further than this from it (0.5 ms).
Through PulseAudio the estimate stepped between neighbouring samples 1-17 times in a 14 s
reply (10 runs of benchmarks/talk_over_pulse.py), as the loopback's latency drifted by
fractions of a sample. Each step handed the linear canceller its sound a sample off from
what its fit had learned, until it fitted anew; its own fits follow so small a drift
(`echo.linear`: they reach LEAD_S before the echo's direct path)."""
MIN_COEFFICIENT = 0.3
"""Least correlation between the microphone and what played, at the delay found, for an
estimate to count (a person talking over the echo lowers it; so does silence)."""
PEAK_SHARE = 0.5
"""A path arriving before the strongest is taken as the echo's delay when its correlation is
at least this share of the strongest's (offline, with a reflection 50 ms after the direct
sound at half its level, 12 estimates in 359 picked the reflection)."""
PEAK_SPAN = 16
"""Samples either side of such a path searched for its peak (1 ms)."""


class EchoDelay:
    """The speaker's delay to the microphone beyond what the timeline says.

    What played is handed to the canceller LEAD_S before the echo, once a delay is found
    (`found`; before, at its own time), and moved with the echo from then on, so the
    canceller's model of the echo path still fits after the delay moves.

    played: the speaker's timeline; it must keep HISTORY_S behind the latest frame read.
    """

    def __init__(self, played: PlayedTimeline) -> None:
        self._played = played
        self.found = False
        """A delay has been found (the canceller, which learned the path at another, has to
        learn it again)."""
        self._frames: collections.deque[npt.NDArray[np.int16]] = collections.deque(
            maxlen=round(WINDOW_S / ECHO_FRAME_S)
        )
        self._next_at = float("-inf")
        """When the frame after the latest one heard starts (time.monotonic())."""
        self._count = 0
        self._candidate: int | None = None
        self.samples = 0
        """The delay found, in samples at 16 kHz (0 until one is found)."""

    @property
    def delay_s(self) -> float:
        """The delay found, s (0 until one is found)."""
        return self.samples / WHISPER_SAMPLE_RATE if self.found else 0.0

    @property
    def shift_s(self) -> float:
        """How much earlier than a microphone frame's own time to read what played over it,
        for the linear canceller, s."""
        return max(0.0, self.delay_s - LEAD_S)

    def heard(self, frame: npt.NDArray[np.int16], at: float) -> None:
        """The microphone's frame from `at` (time.monotonic()), heard while the speaker may
        be heard; every EVERY_FRAMES frames the delay is estimated again."""
        if abs(at - self._next_at) > ECHO_FRAME_S / 10:  # not the frame after the last: start over
            self._frames.clear()
        self._frames.append(frame)
        self._next_at = at + ECHO_FRAME_S
        self._count += 1
        if self._count % EVERY_FRAMES or len(self._frames) < (self._frames.maxlen or 0):
            return
        found = self._estimate(self._next_at - WINDOW_S)
        if found is None:
            return
        if self._candidate is not None and abs(found - self._candidate) <= AGREE_SAMPLES:
            if not self.found or abs(found - self.samples) > MOVE_SAMPLES:
                self.samples = found
            self.found = True
        self._candidate = found

    def _estimate(self, start: float) -> int | None:
        """The delay in samples at which the window of frames from `start` best matches what
        played, or None where either is too quiet or they do not match."""
        import numpy as np

        heard = np.concatenate(self._frames).astype(np.float64)
        max_delay = round(MAX_DELAY_S * WHISPER_SAMPLE_RATE)
        played = self._played.over(start - MAX_DELAY_S, len(heard) + max_delay).astype(np.float64)
        if mean_square(heard) < QUIET_MEAN_SQUARE or mean_square(played) < QUIET_MEAN_SQUARE:
            return None
        size = 1 << int(np.ceil(np.log2(len(heard) + len(played))))
        cross = np.conj(np.fft.rfft(heard, size)) * np.fft.rfft(played, size)
        weighted = np.fft.irfft(cross / (np.abs(cross) + 1e-9), size)[: max_delay + 1]
        # heard[n] ~ played[n + at]: the earliest path (the largest `at`) about as strong as
        # the strongest, as a room's reflection can outdo the direct sound
        strong = np.flatnonzero(weighted >= PEAK_SHARE * weighted.max())
        near = int(strong.max())
        around = weighted[max(0, near - PEAK_SPAN) : near + PEAK_SPAN + 1]
        at = max(0, near - PEAK_SPAN) + int(np.argmax(around))
        match = played[at : at + len(heard)]
        scale = float(np.sqrt(np.dot(heard, heard) * np.dot(match, match)))
        if scale <= 0 or float(np.dot(heard, match)) / scale < MIN_COEFFICIENT:
            return None
        return max_delay - at
