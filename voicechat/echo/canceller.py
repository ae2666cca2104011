"""Cleaning the microphone: WebRTC's echo canceller (AEC3), noise suppression and high-pass
filter, through livekit's AudioProcessingModule (`voicechat[duplex]`), and a linear echo
canceller (`echo.linear`).

    speaker ──played(clip, at)──> FarEnd (echo.far_end): 10 ms frames at 16 kHz, stamped
    microphone block (captured at) ──> MicFilter.process, for each 10 ms frame:
        every far-end frame that had played by the frame's end ──> AEC3 (process_reverse_stream)
                                                              └──> PlayedTimeline
        the frame ──> AEC3 (process_stream) ──> voice activity (`MicBlock.judged`) while the
                                                 speaker may be heard
        the frame, less the echo of what played over it (the linear canceller)
            ──> noise suppression (a second module) ──> the take (`MicBlock.kept`), and
                                                        voice activity once the speaker is not heard

While both talk, AEC3's suppressor removes the person with the echo (measured through
PulseAudio with the echo as loud as the voice: the person's first half second came out at
-73 dB, the suppressor's floor), so a take keeps the linear canceller's output, which keeps
the person and is what speech-to-text hears best (`echo.linear`). Voice activity
judges AEC3's output while the speaker may be heard (`MicFilter.echo_s` after what last
played, and while more is queued to play): it removes about 45 dB of echo, so the reply is
not taken for a person. After that it judges what the take keeps: AEC3's suppressor, once it
has taken a person for echo, can go on removing them for most of a second after the echo is
gone, and the silence rule then ended a take stopped mid-request (benchmarks/echo.py, 30
requests a gain in one run: the takes' word error rate 0.066-0.615 before, 0.048-0.541
after, the echo 0.3-1.5 times as loud as the person). While both talk, the linear canceller
also tells voice activity that someone is talking over the speaker (`echo.talk_over`).

AEC3 learns the echo path from what was played and when, so the speaker's own frames reach it
in the order they reached the room, interleaved with the microphone's; the delay the devices
add on top is found by AEC3 itself (DELAY_HINT_MS is its starting point). The linear
canceller is handed what played just before its echo reaches the microphone: the devices'
delay, which moves from one reply to the next, is found by correlating the two
(`echo.delay`). Until it is found, what played is handed over at its own time; then the
canceller is told it is handed over later, the echo it learned being the same, and, when the
delay moves after that, that the echo moved with it (`LinearEchoCanceller.handed_later`).
"""

from __future__ import annotations

import collections
import importlib.util
import logging
from typing import TYPE_CHECKING, Any

from voicechat.audio.signal import (
    ECHO_FRAME_S,
    ECHO_FRAME_SAMPLES,
    QUIET_MEAN_SQUARE,
    from_pcm16,
    mean_square,
    ratio_db,
    to_pcm16,
)
from voicechat.echo.delay import HISTORY_S, EchoDelay
from voicechat.echo.far_end import FarEnd, PlayedTimeline
from voicechat.echo.linear import LinearEchoCanceller
from voicechat.echo.talk_over import TalkOverDetector
from voicechat.types import WHISPER_SAMPLE_RATE, MicBlock

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

DELAY_HINT_MS = 40
"""Output plus input latency the canceller starts from, ms (it estimates the rest)."""
SETTLE_S = 1.2
"""Seconds after the speaker starts from silence in which the canceller is still finding the
delay (it moves by tens of ms from one start to the next: 65-107 ms measured through
PulseAudio), so what it lets through then is not taken for a person (`MicFilter.settling`)."""
ECHO_S = 0.15
"""Seconds after a far-end frame plays in which its echo may still reach the microphone (the
device's latency, 65-107 ms measured through PulseAudio, and the room's reflections): a take
keeps the echo-cancelled audio until then, the noise-suppressed microphone after. Where the
devices' delay found (`echo.delay`) is longer, it is that delay and REFLECTIONS_S."""
REFLECTIONS_S = 0.05
"""Seconds a room's reflections go on after the echo's direct path."""


def available() -> bool:
    """Whether livekit (the `duplex` extra) is installed."""
    return importlib.util.find_spec("livekit") is not None


class EchoRemoval:
    """How much echo the linear canceller has removed lately, from the microphone's frames
    while the speaker may be heard: the best of the latest WINDOWS windows of WINDOW_FRAMES
    frames (a person talking over the echo lowers what a window shows, not what the canceller
    can do). It cancels only echo that is a steady filtering of what it is told was played,
    sample for sample: with the microphone's frames placed a block off (see
    `audio.capture.Microphone._resampled_until`) it removed 1-7 dB through PulseAudio, 7-30 dB with
    them in place, and 21-24 dB (the median 0.5 s window of three replies) with the devices' delay
    taken out (`echo.delay`). Where it does not reach ENOUGH_DB (devices whose timing it
    cannot follow) the take keeps AEC3's output, which finds and follows a moving delay itself, as
    it does without the canceller."""

    WINDOW_FRAMES = 20
    """Frames (10 ms) per window."""
    WINDOWS = 25
    """Windows remembered (5 s of echo)."""
    ENOUGH_DB = 10.0
    """dB the canceller must have removed in one of them for a take to keep its output."""

    def __init__(self) -> None:
        self._window = [0.0, 0.0, 0]
        """Energy in, energy out, frames so far."""
        self._removed_db: collections.deque[float] = collections.deque(maxlen=self.WINDOWS)

    def add(self, heard: npt.NDArray[np.int16], cancelled: npt.NDArray[np.int16]) -> None:
        """A frame the microphone heard while the speaker may be heard, and the canceller's
        output for it."""

        window = self._window
        window[0] += mean_square(heard)
        window[1] += mean_square(cancelled)
        window[2] += 1
        if window[2] < self.WINDOW_FRAMES:
            return
        energy_in, energy_out, frames = window
        self._window = [0.0, 0.0, 0]
        if energy_in / frames >= QUIET_MEAN_SQUARE:  # quieter: too quiet to judge
            self._removed_db.append(ratio_db(energy_in, max(energy_out, 1e-9)))

    @property
    def best_db(self) -> float:
        """The most the canceller has removed in one of the latest windows, dB (0 before any)."""
        return max(self._removed_db, default=0.0)

    @property
    def enough(self) -> bool:
        """Whether the canceller has lately removed ENOUGH_DB in some window."""
        return self.best_db >= self.ENOUGH_DB


class MicFilter:
    """Cleans 16 kHz microphone audio in 10 ms frames.

    echo_cancel: remove what `far_end` played (no effect while nothing plays) from what
        voice activity judges (`MicBlock.judged`, AEC3's output while that sound may be in
        it, what a take keeps after), and from what a take keeps while that sound may be in it.
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
        self._linear = LinearEchoCanceller(ECHO_FRAME_SAMPLES) if self.echo_cancel else None
        self._played = PlayedTimeline(HISTORY_S)
        self._delay = EchoDelay(self._played)
        self._delay_told = 0
        self._removal = EchoRemoval()
        self._talk_over = TalkOverDetector()
        self._kept_linear = False
        self.settling = False
        """The latest block was captured within SETTLE_S of the speaker starting from silence:
        the canceller may still let its echo through."""
        self._rest = np.zeros(0, dtype=np.int16)
        self._echo_until = float("-inf")
        """time.monotonic() until which the speaker's sound may be in what the microphone
        hears (`echo_s` after the latest far-end frame)."""

    def _frame(self, pcm: npt.NDArray[np.int16]) -> Any:
        return self._rtc.AudioFrame(pcm.tobytes(), WHISPER_SAMPLE_RATE, 1, ECHO_FRAME_SAMPLES)

    def process(self, block: npt.NDArray[np.float32], captured_at: float) -> MicBlock:
        """The cleaned audio of `block` (16 kHz), whose last sample was captured at
        `captured_at` (time.monotonic()). Audio comes out in whole 10 ms frames, so a block
        may come out up to 10 ms later than it went in."""
        import numpy as np

        pcm = np.concatenate([self._rest, to_pcm16(block)])
        count = len(pcm) // ECHO_FRAME_SAMPLES
        self._rest = pcm[count * ECHO_FRAME_SAMPLES :]
        judged = np.empty(count * ECHO_FRAME_SAMPLES, dtype=np.int16)
        kept = judged.copy() if self.echo_cancel else judged
        first_at = captured_at - len(pcm) / WHISPER_SAMPLE_RATE
        if self.echo_cancel and self._far_end is not None:
            self.settling = captured_at - self._far_end.started_at < SETTLE_S
        for i in range(count):
            at = first_at + i * ECHO_FRAME_S
            part = slice(i * ECHO_FRAME_SAMPLES, (i + 1) * ECHO_FRAME_SAMPLES)
            if self.echo_cancel and self._far_end is not None:
                for played_at, far in self._far_end.due(at + ECHO_FRAME_S):
                    self._apm.process_reverse_stream(self._frame(far))
                    self._played.add(played_at, far)
                    self._echo_until = at + self.echo_s
                self._apm.set_stream_delay_ms(DELAY_HINT_MS)
            judged[part] = self._through(self._apm, pcm[part])
            if kept is not judged:
                kept[part] = self._kept(pcm[part], judged[part], at)
                if self._speaker_silent(at):  # AEC3 may go on removing a person for a while
                    judged[part] = kept[part]
        if self.linear != self._kept_linear:
            self._kept_linear = self.linear
            log.debug("takes keep %s", "the linear canceller's output" if self.linear else "AEC3's")
        cleaned = from_pcm16(judged)
        kept_block = cleaned if kept is judged else from_pcm16(kept)
        return MicBlock(kept_block, cleaned, self.settling, self.talked_over)

    def _kept(
        self, heard: npt.NDArray[np.int16], judged: npt.NDArray[np.int16], at: float
    ) -> npt.NDArray[np.int16]:
        """What a take keeps of the frame `heard` from `at`, AEC3 having made `judged` of it:
        the linear canceller's output once it removes enough echo, else AEC3's while the
        speaker may be heard, else the microphone; noise-suppressed but for AEC3's."""
        echo = at < self._echo_until
        linear = None
        if self._linear is not None:
            if echo:
                found = self._delay.found
                self._delay.heard(heard, at)
                shift = round(self._delay.shift_s * WHISPER_SAMPLE_RATE)
                self._linear.handed_later(shift, echo_moved=found)
                if self._delay.samples != self._delay_told:
                    self._delay_told = self._delay.samples
                    delay_ms = self._delay.samples * 1000 / WHISPER_SAMPLE_RATE
                    log.debug("the echo comes %.1f ms after its sound played", delay_ms)
            played = self._played.over(at - self._delay.shift_s, ECHO_FRAME_SAMPLES)
            linear = self._linear.cancel(heard, played)
            if echo:
                self._removal.add(heard, linear)
        kept = linear if linear is not None and self._removal.enough else heard
        suppressed = kept if self._keep_apm is None else self._through(self._keep_apm, kept)
        if echo:
            self._talk_over.add(
                heard, suppressed if kept is linear else None, self._removal.best_db
            )
        else:
            self._talk_over.clear()
        return judged if echo and kept is not linear else suppressed

    @property
    def echo_s(self) -> float:
        """Seconds after a far-end frame plays in which its echo may reach the microphone:
        ECHO_S, or the devices' delay found and REFLECTIONS_S where that is longer."""
        return max(ECHO_S, self._delay.delay_s + REFLECTIONS_S)

    def _speaker_silent(self, at: float) -> bool:
        """Whether the speaker cannot be heard in the frame from `at`: `echo_s` has passed
        since what last played, and nothing more is queued to play."""
        return at >= self._echo_until and (self._far_end is None or self._far_end.idle)

    @property
    def talked_over(self) -> bool:
        """Someone seems to be talking over the speaker: the linear canceller has lately
        removed little of a loud echo (`echo.talk_over`), and is not settling."""
        return not self.settling and self._talk_over.talked_over

    @property
    def linear_canceller(self) -> LinearEchoCanceller | None:
        """The linear canceller (None without echo cancelling)."""
        return self._linear

    @property
    def linear(self) -> bool:
        """Whether what a take keeps goes through the linear canceller now (else, while the
        speaker may be heard, AEC3's output, as voice activity judges it)."""
        return self._linear is not None and self._removal.enough

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
