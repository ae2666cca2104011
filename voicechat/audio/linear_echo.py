"""The linear echo canceller: Speex's multidelay adaptive filter (speexdsp's MDF, through the
`pyaec` package of the `duplex` extra), for what speech-to-text hears while both talk.

    the speaker's samples, played over the microphone frame's 10 ms ──┐
    the microphone frame ── minus the echo the filter predicts from them ──> what a take keeps

WebRTC's AEC3 (`audio.echo`) removes more echo, but its suppressor cannot tell a person from
the echo while both talk and removes both. This filter only subtracts the echo it predicts, so
it keeps the person: requests spoken over the reply, in the take, were heard by faster-whisper
tiny.en at a mean word error rate of 0.24 through it against 0.55 through AEC3 (8 runs of
`python benchmarks/echo.py`, the echo at 0.3-1.5 times the reply's level; 0.05-0.08 said with
no reply), though it removes less echo (about 23 dB after its first second, AEC3 about 45),
which Whisper hears past. It learns the echo path by itself, and needs the speaker's samples of the
same moment no later than their echo reaches the microphone (earlier is fine, up to its length;
`audio.echo_delay` hands them over just before). Voice activity keeps judging AEC3's output: what
this filter lets through of the reply while it learns was taken for a person (benchmarks/echo.py,
tried).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from voicechat.types import WHISPER_SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FILTER_MS = 128
"""How long after the sound it is handed the filter models the echo, ms: the room's
reflections after the direct sound, the devices' delay being taken out first
(`audio.echo_delay`). A shorter filter learns faster: through PulseAudio (three replies a
run), the median 0.5 s window of a run lost 21-24 dB of echo at 128 ms against 19 at 256;
offline (benchmarks/echo.py), 20.5 dB against 18.9. Speex's filter costs about 0.1 ms per
10 ms frame at this length on one 2-core x86 CPU."""


def available() -> bool:
    """Whether the linear canceller's package (pyaec, the `duplex` extra) is installed."""
    return importlib.util.find_spec("pyaec") is not None


class LinearEchoCanceller:
    """Removes from each microphone frame the echo of what the speaker played over it.

    frame_samples: samples per frame at 16 kHz (every call takes exactly this many).
    """

    def __init__(self, frame_samples: int, filter_ms: int = FILTER_MS) -> None:
        import pyaec

        self.frame_samples = frame_samples
        self._taps = filter_ms * WHISPER_SAMPLE_RATE // 1000
        self._aec = pyaec.Aec(frame_samples, self._taps, WHISPER_SAMPLE_RATE, False)

    def reset(self) -> None:
        """Forget the echo path learned (it moved)."""
        import pyaec

        self._aec = pyaec.Aec(self.frame_samples, self._taps, WHISPER_SAMPLE_RATE, False)

    def cancel(
        self, microphone: npt.NDArray[np.int16], played: npt.NDArray[np.int16]
    ) -> npt.NDArray[np.int16]:
        """`microphone` less the echo of `played` (the speaker's samples over the same span,
        silence where nothing played); both 16-bit, `frame_samples` long."""
        import numpy as np

        if len(microphone) != self.frame_samples or len(played) != self.frame_samples:
            raise ValueError(f"frames of {self.frame_samples} samples only")
        out = self._aec.cancel_echo(microphone.tolist(), played.tolist())
        return np.asarray(out, dtype=np.int16)
