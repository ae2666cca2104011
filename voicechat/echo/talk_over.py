"""Someone talking over the speaker, told from the linear echo canceller's output.

    per 10 ms frame while the speaker may be heard, the canceller lately removing TRUSTED_DB:
        the microphone's frame, loud ──┐
        what the take keeps of it ─────┴─> less than ERLE_DB removed? ──> the latest WINDOW_FRAMES
                                                                          ──> MIN_FRAMES or more:
                                                                              talked over

Voice activity judges AEC3's output over a reply, and AEC3's suppressor removes much of a
person who talks over it along with the echo. The linear canceller keeps the person, so where
it usually removes 15-30 dB of the echo it removes 0-8 while someone talks: with voice
activity, this lets a take start on fewer of AEC3's speech frames, and its start be looked
for where it found someone (`audio.takes`). Alone it is not enough (a residual can rise by
itself for a moment), and a canceller still learning the echo path removes little of every
frame, so frames are judged only once it removes TRUSTED_DB. The runs behind these numbers
are in benchmarks/RESULTS.md ("Talking over the reply").
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from voicechat.audio.signal import LOUD_MEAN_SQUARE, mean_square, ratio_db

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ERLE_DB = 8.0
"""A frame the canceller removed less than this much of, dB, may hold someone talking."""
WINDOW_FRAMES = 38
"""Frames (10 ms) judged together: as long as voice activity's RECENT_FRAMES (12 x 32 ms)."""
MIN_FRAMES = 16
"""Frames of the window with little removed that make it talked over."""
TRUSTED_DB = 13.0
"""dB of the echo alone the canceller must lately have removed (`echo.canceller.EchoRemoval`: the
best 0.2 s window of the last 5 s) for its frames to be judged at all: one still learning the
echo path removes little of every frame, a person or not, and below this the reply alone was
taken for someone talking over it."""


class TalkOverDetector:
    """Counts the latest frames in which the linear canceller removed little of a loud echo."""

    def __init__(self) -> None:
        self._frames: collections.deque[bool] = collections.deque(maxlen=WINDOW_FRAMES)

    def add(
        self,
        heard: npt.NDArray[np.int16],
        kept: npt.NDArray[np.int16] | None,
        canceller_db: float,
    ) -> None:
        """A frame the microphone heard while the speaker may be heard, what the take keeps of
        it through the linear canceller (None where the take does not keep that canceller's
        output), and the most that canceller has lately removed of the echo alone, dB. The
        frame says nothing without `kept`, or below TRUSTED_DB."""

        if kept is None or canceller_db < TRUSTED_DB:
            self._frames.append(False)
            return
        energy_in, energy_out = mean_square(heard), mean_square(kept)
        removed_db = ratio_db(energy_in + 1, energy_out + 1)
        self._frames.append(energy_in >= LOUD_MEAN_SQUARE and removed_db < ERLE_DB)

    def clear(self) -> None:
        """Forget the frames judged (the speaker is silent)."""
        self._frames.clear()

    @property
    def talked_over(self) -> bool:
        """Whether MIN_FRAMES of the latest WINDOW_FRAMES had little echo removed."""
        return bool(sum(self._frames) >= MIN_FRAMES)
